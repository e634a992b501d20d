//! Worlds: generators (or replays) of hourly batches with hidden ground truth.

pub mod intent;
pub mod ont;
pub mod recommend;
pub mod replay;

use serde::{Deserialize, Serialize};

use crate::data::{Batch, TaskShape};
use crate::error::Result;

/// A source of hourly batches for a classification task.
pub trait World: Send {
    /// Classes, columns and slices of the rows this world produces.
    fn shape(&self) -> &TaskShape;

    /// An empty batch of the right input kind.
    fn empty_batch(&self) -> Batch;

    /// Fills `batch` (already cleared) with the rows of simulated hour `hour`. Hours are
    /// asked for in increasing order, starting at 0 (the first warm-up hour).
    fn generate(&mut self, hour: u64, batch: &mut Batch) -> Result<()>;

    /// Rows that could not be used (replay only), in the order they were met.
    fn quarantined(&self) -> &[QuarantinedRow] {
        &[]
    }
}

/// A source row that was reported and set aside instead of replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedRow {
    /// File it came from.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// What was wrong.
    pub reason: String,
}

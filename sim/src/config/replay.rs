//! `[replay]`: a stream replayed from CSV or JSONL files instead of generated. The file
//! schema is documented in `sim/README.md` and `scenarios/replay-example.toml`.

use serde::{Deserialize, Serialize};

use super::Check;
use crate::error::Result;

/// Most rows one replay may load (all files together); keeps memory bounded.
pub const MAX_REPLAY_ROWS: i64 = 20_000_000;

/// What the rows hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayKind {
    /// `time, <numeric features>..., label`.
    Tabular,
    /// `time, text, intent`.
    Text,
}

/// File format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayFormat {
    /// Comma-separated with a header line; fields may be double-quoted.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// The replay world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// Kind of rows.
    pub kind: ReplayKind,
    /// Format of every file.
    pub format: ReplayFormat,
    /// Files, relative to the scenario file's folder; rows of all files are merged in
    /// time order (ties keep file order, then line order).
    pub files: Vec<String>,
    /// Column holding the time (RFC 3339, or whole seconds since 1970 UTC).
    pub time_column: String,
    /// Column holding the label (class name).
    pub label_column: String,
    /// Column holding the text (`kind = "text"` only).
    pub text_column: String,
    /// Column holding the routing key (device, customer); empty: the line number is used.
    pub key_column: String,
    /// Class names in label order; empty: the sorted distinct labels found in the files.
    pub classes: Vec<String>,
    /// Tabular columns read as `ln(1 + x)` by learners (heavy-tailed counters).
    pub log_scale_columns: Vec<String>,
    /// Most rows loaded; rows beyond it are quarantined with that reason.
    pub max_rows: i64,
}

impl ReplayConfig {
    /// Rejects impossible values.
    pub fn validate(&self, c: &Check<'_>) -> Result<()> {
        c.require(
            !self.files.is_empty(),
            "replay.files",
            "needs at least one file",
        )?;
        c.require(
            !self.time_column.is_empty(),
            "replay.time_column",
            "must not be empty",
        )?;
        c.require(
            !self.label_column.is_empty(),
            "replay.label_column",
            "must not be empty",
        )?;
        c.require(
            self.kind != ReplayKind::Text || !self.text_column.is_empty(),
            "replay.text_column",
            "must name a column when kind = \"text\"",
        )?;
        c.range_i("replay.max_rows", self.max_rows, 1, MAX_REPLAY_ROWS)
    }
}

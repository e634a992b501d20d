//! Training reports: loss per epoch, validation metrics, wall time and every automatic
//! adjustment the trainer made, as (epoch, what, from, to, because).

use serde::{Deserialize, Serialize};

use crate::metrics::ClassificationMetrics;

/// One epoch of training as the report records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (weighted by batch rows).
    pub train_loss: f64,
    /// Validation loss (plain cross-entropy), when a validation set exists.
    pub valid_loss: Option<f64>,
    pub valid_accuracy: Option<f64>,
    pub learning_rate: f64,
    pub batch_size: usize,
    /// Coefficient of variation of batch losses: the noise signal for batch growth.
    pub batch_loss_cv: f64,
}

/// An automatic change the trainer made to its own settings, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adjustment {
    pub epoch: usize,
    /// `learning_rate`, `batch_size`, `early_stop`, ...
    pub what: String,
    pub from: f64,
    pub to: f64,
    pub because: String,
}

/// How a replay buffer was mixed into a fine-tune's training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayRecord {
    /// Rows of new data.
    pub new_rows: usize,
    /// Past rows drawn from the buffer and added to the new rows.
    pub replayed_rows: usize,
    /// Requested replayed rows per new row.
    pub replay_fraction: f32,
    /// Rows the buffer held when the mix was drawn, and its capacity.
    pub buffer_rows: usize,
    pub buffer_capacity: usize,
}

/// What a `fit` (or fine-tune, distillation, federated round) did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// `tabular`, `text` or `recommender`.
    pub family: String,
    /// `fit`, `fine_tune:head_only`, `fine_tune:lora`, `distill`, `fedavg`, ...
    pub mode: String,
    pub epochs: Vec<EpochRecord>,
    /// Epoch whose weights were kept (the best validation loss when validating).
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub adjustments: Vec<Adjustment>,
    /// Full metrics of the returned model on the validation set, when there is one.
    pub valid_metrics: Option<ClassificationMetrics>,
    pub n_train: usize,
    pub n_valid: usize,
    pub seed: u64,
    /// Threads candle used for matmuls (determinism holds per thread count).
    pub threads: usize,
    /// The options as given, so the run can be repeated.
    pub options: serde_json::Value,
    /// Warm start: the model id training started from (`None` for a fresh fit).
    #[serde(default)]
    pub parent_model_id: Option<String>,
    /// The replay mix, when past rows were replayed against forgetting.
    #[serde(default)]
    pub replay: Option<ReplayRecord>,
    /// Wall time; the only field that differs between two identical runs.
    pub wall_time_ms: f64,
    pub train_samples_per_s: f64,
}

impl TrainReport {
    /// An empty report for `family` / `mode`; trainers fill it as they go.
    pub fn new(family: &str, mode: &str, seed: u64, options: serde_json::Value) -> Self {
        Self {
            family: family.into(),
            mode: mode.into(),
            epochs: Vec::new(),
            best_epoch: 0,
            stopped_early: false,
            adjustments: Vec::new(),
            valid_metrics: None,
            n_train: 0,
            n_valid: 0,
            seed,
            threads: candle_core::utils::get_num_threads(),
            options,
            parent_model_id: None,
            replay: None,
            wall_time_ms: 0.0,
            train_samples_per_s: 0.0,
        }
    }

    /// Records an automatic adjustment.
    pub fn adjust(&mut self, epoch: usize, what: &str, from: f64, to: f64, because: String) {
        self.adjustments.push(Adjustment {
            epoch,
            what: what.into(),
            from,
            to,
            because,
        });
    }

    /// Last recorded validation accuracy, if any.
    pub fn final_valid_accuracy(&self) -> Option<f64> {
        self.epochs.iter().rev().find_map(|e| e.valid_accuracy)
    }
}

//! Events of the simulated world, written by the sim host (actor role `world`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A simulation run began.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioStarted {
    pub scenario: String,
    pub seed: u64,
    pub days: u32,
    /// SHA-256 (hex) of the resolved scenario configuration, so a replay can prove it
    /// ran the same world.
    pub config_sha256: String,
    #[serde(default)]
    pub overrides: Vec<String>,
}

/// A baseline arm (static, oracle) or the initial champion was trained.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineTrained {
    pub arm: String,
    pub model_id: String,
    pub day: u32,
    pub training_rows: u64,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// The model this one was fine-tuned from when the run started from another run's
    /// champion (`ledgerloop sim --warm-start-from`); absent for a model trained from
    /// scratch, so logs written without a warm start are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start: Option<WarmStart>,
}

/// Where a warm-started first model came from and how it was adapted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WarmStart {
    /// The source run folder as given on the command line (informational).
    pub source_run: String,
    /// Id of the source log's first event (`ScenarioStarted`), which names that log.
    pub source_log_id: String,
    /// The source run's scenario name.
    pub source_scenario: String,
    /// The source model (the source run's champion, or the model asked for).
    pub source_model_id: String,
    /// SHA-256 of the source weights, copied into this run's artifacts folder.
    pub source_artifact_sha256: String,
    /// How the source was adapted to this run's warm-up rows (a Trainer strategy name,
    /// e.g. `fine_tune`: every layer trained).
    pub adaptation: String,
    /// Epochs of the adaptation (the host's `fine_tune_epochs`).
    pub epochs: u64,
    /// Learning rate of the adaptation (the host's `fine_tune_learning_rate`).
    pub learning_rate: f64,
}

/// A simulated day ended; the metrics of every arm on that day's ground truth.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayClosed {
    pub day: u32,
    /// Arm name (`served`, `static`, `oracle`) -> metric name -> value.
    pub arms: BTreeMap<String, BTreeMap<String, f64>>,
    pub readings: u64,
    pub labels_spent: u64,
}

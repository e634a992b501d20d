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

//! The `costs` section of `summary.json`: what a governed run spent, in total and per
//! loop iteration. The sim host fills it from the event log after the run (the world
//! does not know what its policy spent); runs without it (static policy, summaries
//! written before costs existed) simply have no `costs` key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a run spent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostSummary {
    /// Sums over the whole run.
    pub totals: CostTotals,
    /// One entry per training job, in start order.
    pub iterations: Vec<IterationCost>,
    /// Retrain requests the Trainer held back, by reason (`not_worth_it`,
    /// `budget_exhausted`, `cooldown`, ...).
    #[serde(default)]
    pub deferred_by_reason: BTreeMap<String, u64>,
    /// Cost per accuracy point the governed loop gained over the static model in the
    /// last week; absent when it gained nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_accuracy_point: Option<PerAccuracyPoint>,
}

/// Sums over a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostTotals {
    /// Modelled CPU seconds of every worker (training + distillation + evaluation).
    pub cpu_seconds: f64,
    /// Of which training jobs (failed ones included).
    pub cpu_seconds_training: f64,
    /// Of which distillations.
    pub cpu_seconds_distillation: f64,
    /// Of which evaluations.
    pub cpu_seconds_evaluation: f64,
    /// Labels delivered by the oracle (bought), whether or not a job used them.
    pub labels_bought: u64,
    /// Bytes of the artifacts produced (teachers and students).
    pub artifact_bytes: u64,
    /// Canary exposure: fleet share x hours each candidate served as a canary.
    pub exposure_fleet_hours: f64,
    /// The same in device-hours, when the fleet size is known (0 otherwise).
    pub exposure_device_hours: f64,
    /// Training jobs started.
    pub jobs_started: u64,
    /// Candidates promoted to champion.
    pub promotions: u64,
}

/// What one loop iteration (a retrain request, its job and everything downstream of
/// the model the job produced) spent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IterationCost {
    /// Id of the `RetrainRequested` the job answered, when the chain reaches one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The training job.
    pub job_id: String,
    /// Id of its `TrainingStarted`.
    pub started_id: String,
    /// Hour it started.
    pub started_hour: u64,
    /// The model it produced, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// How the iteration ended: `failed`, `trained` (not judged yet), `rejected`,
    /// `canary`, `promoted` or `rolled_back`.
    pub outcome: String,
    /// The gain the Trainer expected, when it weighed the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_gain_points: Option<f64>,
    /// The CPU seconds it expected, when it weighed the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_cpu_seconds: Option<f64>,
    /// Of those, the distillation and evaluation it expected to cause, when its budget
    /// covered the whole iteration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_cpu_seconds_distil_eval: Option<f64>,
    /// Modelled CPU seconds of its training, distillation and evaluation.
    pub cpu_seconds: f64,
    /// Of which training.
    pub cpu_seconds_training: f64,
    /// Of which distillation.
    pub cpu_seconds_distillation: f64,
    /// Of which evaluation.
    pub cpu_seconds_evaluation: f64,
    /// Fresh labels its job trained on.
    pub labels: u64,
    /// Bytes of its artifacts.
    pub artifact_bytes: u64,
    /// Its canary exposure in fleet share x hours.
    pub exposure_fleet_hours: f64,
    /// The same in device-hours, when the fleet size is known.
    pub exposure_device_hours: f64,
}

/// Cost per accuracy point gained.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerAccuracyPoint {
    /// Last-week mean accuracy of the served arm minus the static arm's, in points.
    pub points_gained: f64,
    /// Total CPU seconds per point.
    pub cpu_seconds_per_point: f64,
    /// Labels bought per point.
    pub labels_per_point: f64,
}

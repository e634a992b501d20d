//! Events of the Trainer and the Distiller.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Cost, Evidence, Rule};

/// A training job was started on a chosen data set with a chosen strategy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingStarted {
    pub job_id: String,
    #[serde(default)]
    pub parent_model_id: Option<String>,
    pub dataset_hash: String,
    pub strategy: String,
    /// Both sides of the retrain decision: the gain expected and the cost and budget
    /// left (absent in logs written before budgets existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighed: Option<CostBenefit>,
    pub evidence: Evidence,
    pub rule: Rule,
}

/// A training job produced a model artifact.
///
/// Version 2 renamed `sha256` to `artifact_sha256` and added `family` and
/// `parameter_count`; version 1 payloads are upcast on read (see `upcast.rs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelTrained {
    pub job_id: String,
    pub model_id: String,
    pub family: String,
    pub artifact_sha256: String,
    pub dataset_hash: String,
    #[serde(default)]
    pub parent_model_id: Option<String>,
    pub parameter_count: u64,
    /// Validation metrics (name -> value).
    pub metrics: BTreeMap<String, f64>,
    /// What the job cost (absent in logs written before costs were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent: Option<Cost>,
    /// The synthetic rows the job added to its data set (absent when it added none, and
    /// in logs written before augmentation existed, which therefore hash unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augmentation: Option<Augmentation>,
}

/// What a training job's augmentation did, so an auditor can re-derive it: the method,
/// how many synthetic rows it made (in total and per class) and the seed it drew them with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Augmentation {
    /// `smote`, `jitter` or `smote_jitter` (tabular jobs), `text_noise_lexicon` (text
    /// jobs: character noise and lexicon substitutions).
    pub method: String,
    /// Synthetic rows added to the training rows (validation rows are never synthetic).
    pub synthetic_rows: u64,
    /// Synthetic rows per class, indexed by class.
    pub synthetic_per_class: Vec<u64>,
    /// Seed of the synthetic draws (derived from the job's seed).
    pub seed: u64,
    /// How the loss weighed the classes: `augmented_counts` (balanced weights computed on
    /// the counts after augmentation, so a rare class is not counted twice) or `none`.
    pub class_weights: String,
    /// SHA-256 of the lexicon a text job substituted from (its canonical JSON, the pairs
    /// in policy order); absent for tabular jobs and in logs written before text
    /// augmentation existed, which therefore decode and hash unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lexicon_sha256: Option<String>,
}

/// A training job failed; the loop keeps the current champion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingFailed {
    pub job_id: String,
    pub reason: String,
    /// What the failed job cost before it stopped (absent in logs written before costs were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent: Option<Cost>,
}

/// A small student model was distilled from a teacher for edge devices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StudentDistilled {
    pub job_id: String,
    pub teacher_model_id: String,
    pub model_id: String,
    pub artifact_sha256: String,
    pub size_bytes: u64,
    pub teacher_size_bytes: u64,
    pub metrics: BTreeMap<String, f64>,
    /// What the distillation cost (absent in logs written before costs were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent: Option<Cost>,
}

/// The Trainer held a retrain request back instead of starting a job, and says why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetrainDeferred {
    /// `too_few_labels`, `cooldown`, `job_running`, `backoff` (a job failed; retry after
    /// `not_before_hour`), `gave_up` (the request is dropped after its last attempt),
    /// `not_worth_it` (the expected gain does not pay for the job: noticed, not acted
    /// on; the request is dropped) or `budget_exhausted` (the job would overrun the
    /// compute budget; it waits for the budget to refill).
    pub reason: String,
    /// The model the request asked to improve (the parent of the eventual job).
    pub model_id: String,
    /// Hour of the input that was judged.
    pub hour: u64,
    /// Earliest hour at which the reason can lift (the input's hour when only more data
    /// or a finished job can lift it).
    pub not_before_hour: u64,
    /// Both sides of the retrain decision: the gain expected and the cost and budget
    /// left (absent in logs written before budgets existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighed: Option<CostBenefit>,
    pub evidence: Evidence,
    pub rule: Rule,
}

/// A distillation job was started: a student for edge devices from a trained teacher.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DistillationStarted {
    pub job_id: String,
    pub teacher_model_id: String,
    /// Name of the student architecture (e.g. `student`).
    pub student_config: String,
    /// Softmax temperature of the soft targets.
    pub temperature: f64,
    /// Weight of the soft-target loss against the hard-label loss.
    pub alpha: f64,
    /// Quantize the student to int8 after distilling.
    pub quantize_int8: bool,
    /// Fraction of weights pruned to zero (0 = no pruning).
    pub prune_sparsity: f64,
    /// Seed of the distillation run.
    pub seed: u64,
    /// 1 for the first try, one more for each retry after a failure.
    pub attempt: u32,
    /// Hour of the input that started the job.
    pub hour: u64,
    pub evidence: Evidence,
    pub rule: Rule,
}

/// The two sides a cost-aware retrain decision weighs, written into the decision so an
/// operator sees why a drift was or was not acted on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostBenefit {
    /// Accuracy points the retrain is expected to recover: the larger of the online
    /// error increase and the drop of the label-free accuracy estimate against the
    /// champion's reference, in points.
    pub estimated_gain_points: f64,
    /// CPU seconds the job is expected to take (rows x the cost per row last observed).
    pub estimated_cpu_seconds: f64,
    /// Expected gain per expected CPU hour.
    pub gain_points_per_cpu_hour: f64,
    /// CPU seconds left in the day's compute budget; absent when there is no daily limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_budget_left_day: Option<f64>,
    /// CPU seconds left in the rolling week's compute budget; absent without a limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_budget_left_week: Option<f64>,
}

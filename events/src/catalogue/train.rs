//! Events of the Trainer and the Distiller.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Evidence, Rule};

/// A training job was started on a chosen data set with a chosen strategy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingStarted {
    pub job_id: String,
    #[serde(default)]
    pub parent_model_id: Option<String>,
    pub dataset_hash: String,
    pub strategy: String,
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
}

/// A training job failed; the loop keeps the current champion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingFailed {
    pub job_id: String,
    pub reason: String,
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
}

/// The Trainer held a retrain request back instead of starting a job, and says why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetrainDeferred {
    /// `too_few_labels`, `cooldown`, `job_running`, `backoff` (a job failed; retry after
    /// `not_before_hour`) or `gave_up` (the request is dropped after its last attempt).
    pub reason: String,
    /// The model the request asked to improve (the parent of the eventual job).
    pub model_id: String,
    /// Hour of the input that was judged.
    pub hour: u64,
    /// Earliest hour at which the reason can lift (the input's hour when only more data
    /// or a finished job can lift it).
    pub not_before_hour: u64,
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

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

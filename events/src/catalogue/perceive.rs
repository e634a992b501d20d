//! Events of the Perceiver: arrivals, cleaning, label requests, pseudo-labels, feedback.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Evidence, Rule};

/// A batch of readings arrived and was accepted for processing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchIngested {
    pub batch_id: String,
    pub source: String,
    pub rows: u64,
    pub features: u32,
    /// Hour of the batch (virtual hours since the scenario start).
    #[serde(default)]
    pub hour: u64,
    /// Rows that passed cleaning (after imputation and unit conversion).
    #[serde(default)]
    pub clean_rows: u64,
    /// Missing values filled with the reference median.
    #[serde(default)]
    pub imputed_values: u64,
    /// Sum of the serving model's top-class probability over clean rows with valid
    /// probabilities; with `confidence_rows` it gives the label-free accuracy estimate.
    #[serde(default)]
    pub confidence_sum: f64,
    /// Clean rows whose predicted probabilities were valid.
    #[serde(default)]
    pub confidence_rows: u64,
    /// Per-feature sum of the clean rows' values, by feature name (the mean's numerator).
    #[serde(default)]
    pub feature_sums: BTreeMap<String, f64>,
    /// Per-feature counts of the clean rows' values in equal-width bins over the
    /// feature's valid range (the bin count is the Perceiver's), by feature name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_bins: BTreeMap<String, Vec<u64>>,
    /// A bounded, systematic sample of the clean rows' values per feature (the same rows
    /// for every feature), for drift tests that need raw values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_samples: BTreeMap<String, Vec<f64>>,
}

/// Readings failing the cleaning rules were set aside, counted per reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadingsQuarantined {
    pub batch_id: String,
    pub counts_by_reason: BTreeMap<String, u64>,
    pub evidence: Evidence,
    pub rule: Rule,
}

/// Labels were asked for a chosen set of items, under the daily budget.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelsRequested {
    pub request_id: String,
    /// The batch the items belong to.
    #[serde(default)]
    pub batch_id: String,
    /// Day (hour / 24) whose label budget the request spends.
    #[serde(default)]
    pub day: u32,
    pub item_ids: Vec<String>,
    /// Selection strategy: `least_confidence`, `margin`, `entropy`, `random`.
    pub strategy: String,
    pub evidence: Evidence,
    pub rule: Rule,
}

/// Labels came back from the oracle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelsReceived {
    pub request_id: String,
    pub labels: u64,
    pub cost: f64,
}

/// Confident predictions were accepted as training labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PseudoLabelsAccepted {
    pub batch_id: String,
    pub count: u64,
    /// The accepted items; their label is the serving model's top class.
    #[serde(default)]
    pub item_ids: Vec<String>,
    pub evidence: Evidence,
    pub rule: Rule,
}

/// Online outcomes were tallied for one serving version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRecorded {
    pub model_id: String,
    pub outcomes: u64,
    pub errors: u64,
    /// Hour the outcomes were revealed.
    #[serde(default)]
    pub hour: u64,
    /// The outcomes in arrival order, `1` for an error and `0` for a correct prediction,
    /// so a concept-drift detector can be fed the stream exactly.
    #[serde(default)]
    pub error_stream: String,
}

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
    pub evidence: Evidence,
    pub rule: Rule,
}

/// Online outcomes were tallied for one serving version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRecorded {
    pub model_id: String,
    pub outcomes: u64,
    pub errors: u64,
}

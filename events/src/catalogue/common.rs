//! Parts shared by decision events: the evidence a decision was made on and the rule
//! that made it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Named numbers a decision was based on: statistics, thresholds, windows, sample counts.
///
/// A `BTreeMap` keeps the JSON key order stable, so the same evidence always hashes the
/// same. Non-finite numbers are refused when the event is encoded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Evidence(pub BTreeMap<String, f64>);

impl Evidence {
    /// An empty evidence set.
    pub fn new() -> Self {
        Evidence::default()
    }

    /// Adds one named number (builder style).
    pub fn with(mut self, name: impl Into<String>, value: f64) -> Self {
        self.0.insert(name.into(), value);
        self
    }

    /// Reads one named number.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }
}

/// The policy that turned evidence into a decision, and its parameters.
///
/// Parameters are JSON values so that a policy can name a test (`"ks"`) as well as a
/// threshold; an auditor re-runs the named policy with exactly these parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub policy: String,
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}

impl Rule {
    /// A rule with no parameters yet.
    pub fn new(policy: impl Into<String>) -> Self {
        Rule {
            policy: policy.into(),
            params: BTreeMap::new(),
        }
    }

    /// Adds one parameter (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }
}

/// What one piece of work cost: the resources a worker's result fact records.
///
/// Every field defaults to zero, and the facts carry it as an optional field that is left
/// out when absent, so logs written before costs were recorded decode unchanged. CPU
/// seconds come from a deterministic cost model in the sim (rows x epochs x parameters
/// times a constant from the policy file): wall-clock time would make two runs of the
/// same seed write different bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// CPU seconds the work took (modelled in the sim).
    #[serde(default)]
    pub cpu_seconds: f64,
    /// Labels bought for it.
    #[serde(default)]
    pub labels: u64,
    /// Bytes of the artifacts it produced.
    #[serde(default)]
    pub artifact_bytes: u64,
    /// Device-hours a candidate served while it was a canary.
    #[serde(default)]
    pub exposure_device_hours: f64,
}

impl Cost {
    /// Adds `other` to this cost, field by field.
    pub fn add(&mut self, other: &Cost) {
        self.cpu_seconds += other.cpu_seconds;
        self.labels = self.labels.saturating_add(other.labels);
        self.artifact_bytes = self.artifact_bytes.saturating_add(other.artifact_bytes);
        self.exposure_device_hours += other.exposure_device_hours;
    }
}

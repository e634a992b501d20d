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

//! Events of the Releaser: the serving route changes only through these.

use serde::{Deserialize, Serialize};

use super::{Evidence, Rule};

/// A blessed candidate started serving a fraction of traffic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CanaryStarted {
    pub model_id: String,
    pub champion_model_id: String,
    pub fraction: f64,
    pub evidence: Evidence,
    pub rule: Rule,
}

/// A canary's traffic share moved to the next step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CanaryStepAdvanced {
    pub model_id: String,
    pub from_fraction: f64,
    pub to_fraction: f64,
    pub evidence: Evidence,
    pub rule: Rule,
}

/// A canary became the champion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelPromoted {
    pub model_id: String,
    pub previous_model_id: String,
    pub evidence: Evidence,
    pub rule: Rule,
}

/// A canary (or a new champion) was withdrawn and the previous model restored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RolledBack {
    pub model_id: String,
    pub restored_model_id: String,
    pub evidence: Evidence,
    pub rule: Rule,
}

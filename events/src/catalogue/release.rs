//! Events of the Releaser: the serving route changes only through these.
//!
//! Canary steps carry the hour they began and the cumulative served/error counts of the
//! canary and the champion at that hour (`baseline_*`), so that the Releaser's state,
//! which is only ever the fold of these events, knows how much exposure each step has
//! had when later cumulative online statistics arrive.

use serde::{Deserialize, Serialize};

use super::{Evidence, Rule};

/// A blessed candidate started serving a fraction of traffic (step 0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CanaryStarted {
    pub model_id: String,
    pub champion_model_id: String,
    pub fraction: f64,
    /// Simulated (or wall) hour at which the first step began.
    pub hour: u64,
    pub baseline_canary_served: u64,
    pub baseline_canary_errors: u64,
    pub baseline_champion_served: u64,
    pub baseline_champion_errors: u64,
    pub evidence: Evidence,
    pub rule: Rule,
}

/// A canary's traffic share moved to the next step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CanaryStepAdvanced {
    pub model_id: String,
    pub from_fraction: f64,
    pub to_fraction: f64,
    /// Index of the step now running (0 is the step `CanaryStarted` began).
    pub step_index: u32,
    /// Hour at which the new step began.
    pub hour: u64,
    pub baseline_canary_served: u64,
    pub baseline_canary_errors: u64,
    pub baseline_champion_served: u64,
    pub baseline_champion_errors: u64,
    pub evidence: Evidence,
    pub rule: Rule,
}

/// A canary became the champion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelPromoted {
    pub model_id: String,
    pub previous_model_id: String,
    pub hour: u64,
    pub evidence: Evidence,
    pub rule: Rule,
}

/// A canary (or a new champion) was withdrawn and the previous model restored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RolledBack {
    pub model_id: String,
    pub restored_model_id: String,
    /// Why: `guard` (canary clearly worse online), `stalled` (a step never met its
    /// advance criteria in time) or `operator` (a rollback command).
    pub reason: String,
    pub hour: u64,
    pub evidence: Evidence,
    pub rule: Rule,
}

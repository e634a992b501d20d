//! Events of the DriftJudge.

use serde::{Deserialize, Serialize};

use super::{Evidence, Rule};

/// A shift in the data or in the champion's errors crossed its detector's threshold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DriftDetected {
    /// `data`, `concept` or `performance`.
    pub drift_kind: String,
    /// Detector or test (`ks`, `wasserstein`, `chi2`, `adwin`, `ddm`, `page_hinkley`, ...).
    pub detector: String,
    /// The feature concerned, for data drift.
    #[serde(default)]
    pub feature: Option<String>,
    pub model_id: String,
    pub evidence: Evidence,
    pub rule: Rule,
}

/// A shift was seen but not acted on (cool-down, too small to be worth a retrain).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DriftNoticed {
    pub detector: String,
    /// `cooldown`, `hysteresis`, `below_action_threshold`, or `watch_started` (the judge
    /// began watching a new champion under the rule recorded here).
    pub reason: String,
    /// `data`, `concept` or `performance` (empty for `watch_started`).
    #[serde(default)]
    pub drift_kind: String,
    /// The feature concerned, for data drift.
    #[serde(default)]
    pub feature: Option<String>,
    #[serde(default)]
    pub model_id: String,
    /// Hour of the input that was judged.
    #[serde(default)]
    pub hour: u64,
    pub evidence: Evidence,
    pub rule: Rule,
}

/// A retrain was asked for, with a severity and a suggested strategy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetrainRequested {
    /// `low`, `medium` or `high`.
    pub severity: String,
    /// `fine_tune`, `head_only`, `lora`, `full`.
    pub strategy: String,
    pub model_id: String,
    /// Hour of the input that raised the alarm; the judge's cool-down runs from it.
    #[serde(default)]
    pub hour: u64,
    pub evidence: Evidence,
    pub rule: Rule,
}

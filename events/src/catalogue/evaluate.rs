//! Events of the Evaluator.

use serde::{Deserialize, Serialize};

use super::{Evidence, Rule};

/// A candidate was judged against the serving champion: `blessed` or `rejected`.
///
/// `evidence` names every gate's observed value, threshold and outcome
/// (`gate.<name>.observed`, `gate.<name>.threshold`, `gate.<name>.passed` as 0/1), and
/// `failed_gates` lists the gates that failed, in gate order, so that a rejection can be
/// explained without re-reading the policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerdictIssued {
    pub candidate_model_id: String,
    #[serde(default)]
    pub champion_model_id: Option<String>,
    pub verdict: String,
    #[serde(default)]
    pub failed_gates: Vec<String>,
    pub evidence: Evidence,
    pub rule: Rule,
}

//! Events of the Evaluator.

use serde::{Deserialize, Serialize};

use super::{Evidence, Rule};

/// A candidate was judged against the serving champion: `blessed` or `rejected`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerdictIssued {
    pub candidate_model_id: String,
    #[serde(default)]
    pub champion_model_id: Option<String>,
    pub verdict: String,
    pub evidence: Evidence,
    pub rule: Rule,
}

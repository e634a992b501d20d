//! Events written by people operating the loop.

use serde::{Deserialize, Serialize};

/// An operator approved a pending action (a release that policy holds for approval).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApprovalGranted {
    pub subject_id: String,
    pub operator: String,
    #[serde(default)]
    pub note: String,
}

/// An operator wrote a note into the log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperatorNoted {
    pub operator: String,
    pub text: String,
}

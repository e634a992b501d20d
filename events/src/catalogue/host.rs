//! Events written by a host that runs the agents (the sim host, later the mesh).

use serde::{Deserialize, Serialize};

/// One input handed to an agent's `decide`, recorded in the agent's stream immediately
/// before the decisions it produced (same batch, which the decisions name as their
/// cause). An auditor folds the stream, re-runs `decide` on each recorded input and
/// compares the result with the decisions that follow it.
///
/// The input is carried in one of three ways: `source_event_id` names an event already
/// in the log (a worker's fact, another agent's decision); `body` holds a small input
/// inline (JSON, the host's tagged input form); `blob_sha256` names a large input (an
/// hour's readings) stored content-addressed next to the log, whose bytes must hash to
/// it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputRecorded {
    /// Role of the agent the input was given to (`perceiver`, `trainer`, ...).
    pub agent: String,
    /// Kind of input (the host's tag, e.g. `reading_batch`, `tick`, `event`).
    pub kind: String,
    /// Virtual hour the input arrived at.
    pub hour: u64,
    /// Id of the logged event that is the input, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_event_id: Option<String>,
    /// The input itself when it is small.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub body: serde_json::Value,
    /// SHA-256 (lowercase hex) of a large input stored outside the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_sha256: Option<String>,
    /// Size in bytes of that stored input (uncompressed).
    #[serde(default)]
    pub blob_bytes: u64,
}

/// The policies a host ran the agents with, recorded before any agent's first input, so
/// an auditor rebuilds the same deciders from the log alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoliciesLoaded {
    /// Where they were read from (informational).
    pub source: String,
    /// SHA-256 of the canonical JSON of `policies`.
    pub policies_sha256: String,
    /// The host's policy file as JSON (one table per agent plus `host`).
    pub policies: serde_json::Value,
}

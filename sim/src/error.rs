//! The crate's single error type. Every variant names what failed and where, so a CLI
//! can print it without further context.

use std::path::PathBuf;

/// Everything that can go wrong while loading a scenario or running a simulation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario file could not be read.
    #[error("cannot read scenario file {path}: {source}")]
    ReadScenario {
        /// File that was asked for.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The scenario file is not valid TOML or has an unknown / mistyped key.
    #[error("scenario file {path}: {message}")]
    ParseScenario {
        /// File being parsed.
        path: PathBuf,
        /// Parser message; names the offending key.
        message: String,
    },
    /// A value parses but is impossible (negative budget, fraction above 1, ...).
    #[error("scenario file {path}{}: `{key}` {reason}", line_suffix(*line))]
    InvalidValue {
        /// File holding the value (or `--set` when it came from an override).
        path: PathBuf,
        /// 1-based line of the key in the file, when it could be located.
        line: Option<usize>,
        /// Dotted key, e.g. `oracle.daily_budget`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `--set key=value` override could not be applied.
    #[error("--set {assignment}: {reason}")]
    BadOverride {
        /// The override as given.
        assignment: String,
        /// Why it was refused.
        reason: String,
    },
    /// The scenario's `world` does not match the sections it provides.
    #[error("scenario {name}: {reason}")]
    Scenario {
        /// Scenario name.
        name: String,
        /// What is inconsistent.
        reason: String,
    },
    /// A learner could not fit or predict.
    #[error("learner {learner}: {reason}")]
    Learner {
        /// Learner name.
        learner: String,
        /// What went wrong.
        reason: String,
    },
    /// A policy returned an error or asked for something impossible.
    #[error("policy {policy}: {reason}")]
    Policy {
        /// Policy name.
        policy: String,
        /// What went wrong.
        reason: String,
    },
    /// A replay file is unusable as a whole (missing, no header, wrong columns).
    #[error("replay file {path}: {reason}")]
    Replay {
        /// The replay file.
        path: PathBuf,
        /// Why it cannot be replayed.
        reason: String,
    },
    /// Writing an output file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// File being written.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The event log refused an append or could not be opened.
    #[error("event log: {0}")]
    Log(#[from] ledgerloop_events::Error),
    /// The output folder already holds an event log.
    #[error("{path} already holds an event log; choose another --out or remove it")]
    OutputExists {
        /// The log folder.
        path: PathBuf,
    },
    /// JSON encoding failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

/// Result with the crate's error.
pub type Result<T> = std::result::Result<T, Error>;

//! Errors raised by the hosts.

use std::path::PathBuf;

/// Everything that can go wrong while hosting the agents, auditing or explaining a log.
///
/// Rejections (a policy file that cannot be used, an input an agent refused, a log whose
/// decisions do not follow from their inputs) are kept apart from infrastructure
/// failures (the log, the blob store, the file system).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The agents' policy file could not be read.
    #[error("cannot read agents policy {path}: {source}")]
    ReadPolicy {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The agents' policy file is not valid TOML for the schema, or a value is impossible.
    #[error("agents policy {path}: {reason}")]
    InvalidPolicy {
        /// The file (or `<built-in>`).
        path: PathBuf,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// A decider refused an input or a policy.
    #[error("{agent}: {source}")]
    Agent {
        /// The agent's role.
        agent: &'static str,
        /// The decider's error.
        source: ledgerloop_agents::Error,
    },
    /// A model operation failed (training, loading, predicting).
    #[error("{what}: {source}")]
    Model {
        /// What was being done.
        what: String,
        /// The models crate's error.
        source: ledgerloop_models::Error,
    },
    /// The event log failed.
    #[error(transparent)]
    Log(#[from] ledgerloop_events::Error),
    /// The simulator failed.
    #[error(transparent)]
    Sim(#[from] ledgerloop_sim::Error),
    /// A stored input or artifact is missing, unreadable or does not hash to its name.
    #[error("blob {sha256} in {dir}: {reason}")]
    Blob {
        /// The blob store folder.
        dir: PathBuf,
        /// The blob's name.
        sha256: String,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A log does not hold what a host needs to re-run it (missing input, unknown source
    /// event, malformed recorded input).
    #[error("{stream} #{sequence}: {reason}")]
    Replay {
        /// The stream.
        stream: String,
        /// Sequence of the offending event.
        sequence: u64,
        /// What is wrong.
        reason: String,
    },
    /// A run folder lacks a file the report is built from.
    #[error("{path} not found; is {run_dir} a run folder written by `ledgerloop sim`?")]
    MissingRunFile {
        /// The folder given.
        run_dir: PathBuf,
        /// The missing file or folder.
        path: PathBuf,
    },
    /// JSON encoding or decoding failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A run cannot start from the model it was asked to warm-start from (missing run,
    /// no champion, weights that do not hash as recorded, a shape that does not fit).
    #[error("warm start from {source_run}: {reason}")]
    WarmStart {
        /// The source as given (`DIR` or `DIR#model-id`).
        source_run: String,
        /// What is wrong, naming both sides where two things differ.
        reason: String,
    },
    /// An output folder already holds a log; nothing was written.
    #[error("{path} already holds a log; choose an empty folder")]
    OutputExists {
        /// The folder.
        path: PathBuf,
    },
    /// NATS or JetStream failed or refused (connection, object store, key-value bucket,
    /// request).
    #[error("NATS: {what}: {reason}")]
    Nats {
        /// What was being done.
        what: String,
        /// The server's or client's message.
        reason: String,
    },
    /// The mesh was asked for something it cannot do (bad subject, unknown role, a server
    /// too weak for the requested durability).
    #[error("mesh: {reason}")]
    Mesh {
        /// What is wrong and how to fix it.
        reason: String,
    },
}

/// Wraps a NATS error with what was being done.
pub(crate) fn nats<E: std::fmt::Display>(what: impl Into<String>) -> impl FnOnce(E) -> Error {
    let what = what.into();
    move |e| Error::Nats {
        what,
        reason: e.to_string(),
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps a decider's error with the agent's role.
pub(crate) fn agent(agent: &'static str) -> impl FnOnce(ledgerloop_agents::Error) -> Error {
    move |source| Error::Agent { agent, source }
}

/// Wraps a models error with what was being done.
pub(crate) fn model(what: impl Into<String>) -> impl FnOnce(ledgerloop_models::Error) -> Error {
    let what = what.into();
    move |source| Error::Model { what, source }
}

/// Wraps an I/O error with its path.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

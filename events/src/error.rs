//! The crate's single error type.
//!
//! Rejections (the caller asked for something the log refuses: a version conflict, a
//! malformed event, an unknown type) are kept apart from infrastructure failures (the disk
//! said no) and from damage (bytes on disk that do not check out), because callers react
//! to each differently: retry with a fresh read, give up, or call an operator.

use std::path::PathBuf;

use uuid::Uuid;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of damage a check found; see [`Error::Damaged`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DamageKind {
    /// A record's CRC does not match its bytes.
    Checksum,
    /// A record's SHA-256 does not match its canonical bytes.
    Hash,
    /// A record's `prev_hash` is not the hash of the stream's previous record.
    Chain,
    /// Per-stream sequences or global positions are not contiguous.
    Sequence,
    /// A frame or segment header is malformed.
    Header,
    /// The final frame of the last segment is incomplete (a write torn by a crash).
    TornTail,
    /// A record's bytes do not decode as the canonical encoding.
    Encoding,
    /// The stream index file does not match the segments or its own checksum.
    Index,
}

/// Every failure the event crate reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An append's expected stream version did not match; nothing was written.
    #[error("version conflict on stream '{stream}': expected {expected}, stream is at {actual}")]
    Conflict {
        stream: String,
        expected: String,
        actual: u64,
    },

    /// Some ids of a batch are stored already and some are not, or a stored id belongs to
    /// another stream: the batch is neither new nor a retry.
    #[error("event {id} is already stored at position {position} ({detail}); batch rejected")]
    IdempotencyMismatch {
        id: Uuid,
        position: u64,
        detail: String,
    },

    /// An event or batch breaks a rule before anything is written.
    #[error("invalid event: {reason}")]
    InvalidEvent { reason: String },

    /// A stream name is empty, too long or has characters outside the allowed set.
    #[error("invalid stream name '{name}': {reason}")]
    InvalidStream { name: String, reason: String },

    /// The payload names an event type this build does not know.
    #[error(
        "unknown event type '{event_type}' (schema version {version}); this build knows: {known}"
    )]
    UnknownEventType {
        event_type: String,
        version: u16,
        known: String,
    },

    /// The payload was written by a newer schema than this build understands.
    #[error("event type '{event_type}' has schema version {version}, newer than this build's {supported}; upgrade ledgerloop to read it")]
    FutureSchemaVersion {
        event_type: String,
        version: u16,
        supported: u16,
    },

    /// A payload does not deserialize into its declared type and version.
    #[error("payload of '{event_type}' v{version} does not decode: {reason}")]
    PayloadDecode {
        event_type: String,
        version: u16,
        reason: String,
    },

    /// The directory is not a ledgerloop log.
    #[error("{path} is not a ledgerloop log: {reason}")]
    NotALog { path: PathBuf, reason: String },

    /// Another process holds the log's writer lock.
    #[error("log {path} is already open for writing by another process (lock file {lock}); stop it or open read-only")]
    Locked { path: PathBuf, lock: PathBuf },

    /// Bytes on disk fail a check.
    #[error("{kind:?} damage in {file} at byte offset {offset}{}: {detail}", event_at(*.position, .stream, *.sequence))]
    Damaged {
        kind: DamageKind,
        file: PathBuf,
        offset: u64,
        position: Option<u64>,
        stream: Option<String>,
        sequence: Option<u64>,
        detail: String,
    },

    /// A read-only handle was asked to write.
    #[error("log {path} is open read-only")]
    ReadOnly { path: PathBuf },

    /// The log was closed; open it again to write.
    #[error("log {path} is closed")]
    Closed { path: PathBuf },

    /// An earlier write failed half way and could not be undone; reopen the log to recover.
    #[error("log is poisoned by an earlier failed write ({reason}); reopen it to recover")]
    Poisoned { reason: String },

    /// Import or export input is malformed.
    #[error("{file}:{line}: {reason}")]
    BadInput {
        file: String,
        line: u64,
        reason: String,
    },

    /// A remote log backend (JetStream) failed or could not be reached; nothing is known
    /// to be written unless a later read shows it.
    #[error("{backend} log backend: {reason}")]
    Backend { backend: String, reason: String },

    /// The operating system refused an operation.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn event_at(position: Option<u64>, stream: &Option<String>, sequence: Option<u64>) -> String {
    let mut out = String::new();
    if let Some(p) = position {
        out.push_str(&format!(" (position {p}"));
        if let (Some(s), Some(q)) = (stream, sequence) {
            out.push_str(&format!(", stream '{s}' sequence {q}"));
        }
        out.push(')');
    }
    out
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True for errors caused by the caller's input rather than the disk or the host.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Error::Conflict { .. }
                | Error::IdempotencyMismatch { .. }
                | Error::InvalidEvent { .. }
                | Error::InvalidStream { .. }
                | Error::UnknownEventType { .. }
                | Error::FutureSchemaVersion { .. }
                | Error::PayloadDecode { .. }
                | Error::BadInput { .. }
        )
    }
}

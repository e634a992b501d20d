//! ledgerloop-events: the spine of ledgerloop — the event envelope, the typed catalogue,
//! the [`EventLog`] trait and the embedded file log with its hash chains.
//!
//! What lives where:
//! - [`ids`]: event ids (UUID v7, deterministic from virtual time in the sim), stream
//!   names, actors, SHA-256 hashes;
//! - [`envelope`]: [`NewEvent`] (what a writer hands in) and [`RecordedEvent`] (what the
//!   log stores: sequence, position, `prev_hash`, `hash`);
//! - [`codec`]: the canonical binary encoding the hash covers;
//! - [`catalogue`]: every event type with its schema version, decision or fact, and the
//!   payload structs (one file per emitting agent); [`upcast`]: old versions to current;
//! - [`log`]: the [`EventLog`] trait, [`ExpectedVersion`], [`AppendOutcome`];
//! - [`file_log`]: the embedded backend (segments, frames, CRCs, lock, fsync policies,
//!   torn-tail recovery, stream index);
//! - [`verify`]: full-scan verification of checksums, hashes, chains and sequences;
//! - [`projection`]: folding events into state, with snapshots;
//! - [`jsonl`]: export and import as JSON lines, preserving hashes;
//! - [`bench`]: the figures behind `ledgerloop bench log`.

#![forbid(unsafe_code)]

pub mod bench;
pub mod catalogue;
pub mod codec;
pub mod envelope;
pub mod error;
pub mod file_log;
pub mod ids;
pub mod jsonl;
pub mod log;
pub mod projection;
pub mod upcast;
pub mod verify;

pub use catalogue::{Event, EventKind, Evidence, Rule, EVENT_TYPES};
pub use envelope::{NewEvent, RecordedEvent};
pub use error::{DamageKind, Error, Result};
pub use file_log::{FileLog, FileLogOptions, FsyncPolicy, OpenReport};
pub use ids::{Actor, Hash, StreamId};
pub use log::{AppendOutcome, EventLog, ExpectedVersion, SharedLog, SyncAppend, MAX_BATCH_EVENTS};

//! The [`EventLog`] trait every backend implements (embedded files now, JetStream later).

use std::future::Future;

use futures::stream::BoxStream;

use crate::envelope::{NewEvent, RecordedEvent};
use crate::ids::StreamId;
use crate::Result;

/// Largest batch one append accepts. A batch is written as one frame, so it is all there
/// after a crash or not at all; the limit bounds the frame and the memory a retry holds.
pub const MAX_BATCH_EVENTS: usize = 10_000;

/// What the writer believes about a stream before appending: optimistic concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version is.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last sequence must be exactly this (0 = empty).
    Exact(u64),
}

impl ExpectedVersion {
    /// True when a stream at `actual` satisfies the expectation.
    pub fn admits(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exact(v) => v == actual,
        }
    }
}

impl std::fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "{v}"),
        }
    }
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Global position of the batch's first event.
    pub first_position: u64,
    /// Stream sequence of the batch's last event (the stream's version afterwards).
    pub last_sequence: u64,
    /// True when every id was stored already: nothing was written and the positions are
    /// those of the original append.
    pub already_stored: bool,
}

/// An append-only, hash-chained event log.
///
/// Appends are atomic per batch and idempotent by event id; reads return events in
/// global order; `follow` yields events as they become visible.
pub trait EventLog: Send + Sync {
    /// Appends `events` to `stream` if its version satisfies `expected`.
    fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<AppendOutcome>> + Send;

    /// Up to `max` events from global position `from`.
    fn read_all(
        &self,
        from: u64,
        max: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>>> + Send;

    /// Up to `max` events of one stream from sequence `from` (1-based).
    fn read_stream(
        &self,
        stream: &StreamId,
        from: u64,
        max: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>>> + Send;

    /// The stream's current version (0 when it does not exist).
    fn stream_version(&self, stream: &StreamId) -> impl Future<Output = Result<u64>> + Send;

    /// Every event from `from` on, then new ones as they are appended; never ends by itself.
    fn follow(&self, from: u64) -> BoxStream<'static, Result<RecordedEvent>>;
}

/// The synchronous append a deterministic host needs: the simulator's sink and the sim
/// host's journal write through it, so the same host can log to the embedded
/// [`crate::FileLog`] or to a remote backend (JetStream) driven from a blocking thread.
pub trait SyncAppend: Send + Sync + std::fmt::Debug {
    /// Appends `events` to `stream` if its version satisfies `expected` (see
    /// [`EventLog::append`]).
    fn append_sync(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome>;

    /// Makes everything appended so far durable and stops further appends.
    fn close_sync(&self) -> Result<()>;

    /// The embedded log behind this writer, when there is one: fault simulation reads
    /// and tears the local file; remote backends have none.
    fn as_file_log(&self) -> Option<&crate::FileLog> {
        None
    }
}

/// A log shared by the writers of one run.
pub type SharedLog = std::sync::Arc<dyn SyncAppend>;

impl SyncAppend for crate::FileLog {
    fn append_sync(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome> {
        self.append(stream, expected, events)
    }

    fn close_sync(&self) -> Result<()> {
        self.close()
    }

    fn as_file_log(&self) -> Option<&crate::FileLog> {
        Some(self)
    }
}

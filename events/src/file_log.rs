//! The embedded log: one directory of segment files, no server.
//!
//! Guarantees (see also README):
//! - an append is one frame written with one `write` call (a `writev` when a large batch
//!   was framed in two buffers, see `hash_helper.rs`); after a crash it is either all
//!   there or not at all (a torn final frame is truncated on the next writing open and
//!   reported in [`OpenReport::torn_tail`]);
//! - every record carries a CRC-32 and a SHA-256 chained per stream; any single damaged
//!   byte is found by [`crate::verify`];
//! - one writer per directory, enforced by an OS lock on `LOCK`; readers take no lock;
//! - durability follows [`FsyncPolicy`].
//!
//! The handle is cheap to clone and safe to share between threads; appends are
//! serialised by one mutex, and with [`FsyncPolicy::Batch`] the fsync happens outside it
//! so concurrent appenders share one fsync (group commit).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

mod append;
#[cfg(feature = "fault-injection")]
mod crash;
mod flush;
pub mod format;
mod hash_helper;
mod index;
mod open;
mod read;
pub mod scan;
pub mod state;

pub use read::EventIter;

/// When appended bytes are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// `fdatasync` before every append returns: an acknowledged append survives power loss.
    #[default]
    Always,
    /// Group commit: an append returns after an `fdatasync` that covers it, shared with
    /// the appends that arrived meanwhile. Same promise as `Always`, fewer syncs under
    /// concurrency.
    Batch,
    /// No fsync until the log is closed or a segment is full: an acknowledged append
    /// survives a process crash but may be lost on power loss. For simulations.
    ///
    /// To keep the fsync of a full segment short, a background thread starts an
    /// `fdatasync` of the current segment every 8 MiB appended (see `flush.rs`); appends
    /// never wait for it, and it only makes data durable sooner.
    Never,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "batch" => Ok(FsyncPolicy::Batch),
            "never" => Ok(FsyncPolicy::Never),
            other => Err(format!(
                "unknown fsync policy '{other}' (expected always, batch or never)"
            )),
        }
    }
}

/// Options for opening a log for writing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLogOptions {
    pub fsync: FsyncPolicy,
    /// A new segment is started when the current one would grow past this many bytes.
    pub max_segment_bytes: u64,
}

impl Default for FileLogOptions {
    fn default() -> Self {
        FileLogOptions {
            fsync: FsyncPolicy::Always,
            max_segment_bytes: format::MAX_SEGMENT_BYTES,
        }
    }
}

/// A final frame that was incomplete when the log was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TornTail {
    pub file: PathBuf,
    /// Offset at which the segment was (or, read-only, would be) truncated.
    pub offset: u64,
    pub bytes_dropped: u64,
    /// Records in the torn frame, when its header was readable.
    pub records_dropped: Option<u32>,
    pub detail: String,
}

/// How the stream index was obtained on open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum IndexStatus {
    /// No `index.bin`: every segment was scanned.
    Absent,
    /// `index.bin` covered this many events; only later frames were scanned.
    Loaded { covered_events: u64 },
    /// `index.bin` was damaged or stale and the index was rebuilt from the segments.
    Rebuilt { reason: String },
}

/// What opening a log found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenReport {
    pub events: u64,
    pub streams: usize,
    pub segments: usize,
    pub index: IndexStatus,
    pub torn_tail: Option<TornTail>,
    /// True when the directory was created or initialised by this open.
    pub created: bool,
}

/// The segment being appended to.
#[derive(Debug)]
struct Writer {
    file: Arc<File>,
    segment: u32,
    len: u64,
    /// Bytes appended since the flush thread was last asked to sync (`Never` only).
    unflushed: u64,
}

#[derive(Debug)]
struct Core {
    state: state::State,
    /// Reused between appends (see `append.rs`); empty between calls.
    frame_buffer: Vec<u8>,
    /// Reused for the part of a frame the hash helper encodes; empty between calls.
    tail_buffer: Vec<u8>,
    writer: Option<Writer>,
    /// Background fsync of the current segment, with [`FsyncPolicy::Never`] only.
    flusher: Option<flush::Flusher>,
    /// Second thread for hashing large batches, started by the first append.
    hash_helper: Option<hash_helper::HashHelper>,
    hash_helper_tried: bool,
    poisoned: Option<String>,
    closed: bool,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    options: FileLogOptions,
    read_only: bool,
    core: Mutex<Core>,
    /// Held by the appender that runs the group-commit fsync.
    sync_lock: Mutex<()>,
    /// Global position up to which appends are known durable.
    durable_position: AtomicU64,
    visible: tokio::sync::watch::Sender<u64>,
    report: OpenReport,
    _lock_file: Option<File>,
}

/// Largest frame buffer kept for reuse after an append; a rare huge batch does not pin
/// its memory for the life of the log.
const MAX_RETAINED_FRAME_BYTES: usize = 8 << 20;

/// An open embedded log (writer or read-only). Cloning shares the handle.
#[derive(Debug, Clone)]
pub struct FileLog {
    inner: Arc<Inner>,
}

impl FileLog {
    /// Opens (creating if needed) the log in `dir` for writing, recovering a torn tail.
    pub fn open(dir: impl AsRef<Path>, options: FileLogOptions) -> Result<FileLog> {
        open::open(dir.as_ref(), options, false)
    }

    /// Opens an existing log for reading only: nothing on disk is changed, a torn tail is
    /// reported but left in place, and a damaged index is an error.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<FileLog> {
        open::open(dir.as_ref(), FileLogOptions::default(), true)
    }

    /// What opening found: event counts, index status, torn tail.
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.report
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Number of events stored (the next global position).
    pub fn len(&self) -> Result<u64> {
        Ok(self.core()?.state.next_position)
    }

    /// True when no event is stored.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Current version of a stream (0 when absent).
    pub fn stream_version(&self, stream: &crate::StreamId) -> Result<u64> {
        Ok(self
            .core()?
            .state
            .streams
            .get(stream)
            .map_or(0, |h| h.version))
    }

    /// Names and versions of all streams, in name order.
    pub fn streams(&self) -> Result<Vec<(crate::StreamId, u64)>> {
        let core = self.core()?;
        Ok(core
            .state
            .streams
            .iter()
            .map(|(name, head)| (name.clone(), head.version))
            .collect())
    }

    /// Segment files in position order with their sizes in bytes.
    pub fn segments(&self) -> Result<Vec<(PathBuf, u64)>> {
        let core = self.core()?;
        Ok(core
            .state
            .segments
            .iter()
            .map(|s| (s.path.clone(), s.len))
            .collect())
    }

    /// Flushes, fsyncs and writes the index checkpoint. Later appends fail with `Closed`.
    pub fn close(&self) -> Result<()> {
        let mut core = self.core()?;
        if core.closed || self.inner.read_only {
            core.closed = true;
            return Ok(());
        }
        if let Some(reason) = &core.poisoned {
            return Err(Error::Poisoned {
                reason: reason.clone(),
            });
        }
        let gate = core.flusher.take().map(|mut flusher| {
            flusher.stop();
            flusher.gate().clone()
        });
        if let Some(writer) = &core.writer {
            let path = core.state.segments[writer.segment as usize].path.clone();
            let file = writer.file.clone();
            if let Err(e) = flush::sync(gate.as_deref(), &file) {
                return Err(sync_failure(&mut core.poisoned, &path, e));
            }
        }
        index::write(&self.inner.dir, &core.state)?;
        core.closed = true;
        core.writer = None;
        Ok(())
    }

    fn core(&self) -> Result<MutexGuard<'_, Core>> {
        self.inner.core.lock().map_err(|_| Error::Poisoned {
            reason: "a thread panicked while holding the log".into(),
        })
    }

    fn publish(&self, next_position: u64) {
        self.inner.visible.send_replace(next_position);
    }

    fn durable(&self) -> u64 {
        self.inner.durable_position.load(Ordering::Acquire)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Best effort: a log dropped without `close` still gets its data synced and its
        // index written; failures here are recovered by the next open's scan.
        if let Ok(core) = self.core.get_mut() {
            let gate = core.flusher.take().map(|mut flusher| {
                flusher.stop();
                flusher.gate().clone()
            });
            if !core.closed && !self.read_only && core.poisoned.is_none() {
                if let Some(writer) = &core.writer {
                    let _ = flush::sync(gate.as_deref(), &writer.file);
                }
                let _ = index::write(&self.dir, &core.state);
            }
        }
    }
}

/// The error for a failed segment fsync. A failure of an earlier background fsync
/// poisons the log: the data it covered may be gone.
fn sync_failure(poisoned: &mut Option<String>, path: &Path, e: flush::SyncError) -> Error {
    match e {
        flush::SyncError::Io(e) => Error::io(path, e),
        flush::SyncError::Background(reason) => {
            let reason = format!("{} ({})", reason, path.display());
            *poisoned = Some(reason.clone());
            Error::Poisoned { reason }
        }
    }
}

/// Checks that `dir` is a log (FORMAT file, segment names) without opening it; returns
/// the segment files in position order.
pub(crate) fn inspect_dir(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    open::prepare_dir(dir, true)?;
    open::list_segments(dir)
}

/// Reads `index.bin`: `None` when absent, `Some(Err(reason))` when damaged.
pub(crate) fn read_index(dir: &Path) -> Result<Option<std::result::Result<state::State, String>>> {
    index::read(dir)
}

pub use index::INDEX_FILE;

/// The bytes `index.bin` would hold for `state`.
pub(crate) fn encode_index(state: &state::State) -> Vec<u8> {
    index::encode(state)
}

/// Fsyncs a directory so that file creations and renames in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let handle = File::open(dir).map_err(|e| Error::io(dir, e))?;
    handle.sync_all().map_err(|e| Error::io(dir, e))
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::io(path, e))
}

//! Write-behind for [`FsyncPolicy::Never`](super::FsyncPolicy::Never).
//!
//! A full segment is fsynced before the next one is started, whatever the policy. With
//! `Never` that fsync used to find the whole segment (64 MiB) dirty and stall the append
//! that crossed the limit for tens of milliseconds. Instead, every
//! [`FLUSH_EVERY_BYTES`] appended, a background thread is asked to `fdatasync` the
//! segment, so the disk writes overlap with later appends and the final fsync finds
//! little left to do. This only makes data durable earlier; no promise changes.
//!
//! An fsync error is reported once per open file description, so a failure seen by the
//! background thread would be hidden from the next foreground fsync. Every fsync of a
//! segment therefore runs through one gate that remembers a background failure, and
//! the log is poisoned when one is found.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Unsynced bytes in the current segment after which the background fsync is asked for.
pub(super) const FLUSH_EVERY_BYTES: u64 = 8 << 20;

/// State shared by the appender and the flush thread.
#[derive(Debug, Default)]
pub(super) struct Gate {
    /// Held while any fsync of a segment runs; holds the first background failure.
    failure: Mutex<Option<String>>,
    failed: AtomicBool,
}

/// Why a gated fsync failed.
#[derive(Debug)]
pub(super) enum SyncError {
    /// This fsync failed.
    Io(std::io::Error),
    /// An earlier background fsync failed (and may have consumed the error report).
    Background(String),
}

impl Gate {
    /// A background fsync failure, if one happened (cheap: one atomic load when none).
    pub(super) fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        match self.failure.lock() {
            Ok(failure) => failure.clone(),
            Err(_) => Some("the background fsync thread panicked".into()),
        }
    }

    /// Fsyncs `file` after any running background fsync, reporting a background failure
    /// first.
    pub(super) fn sync(&self, file: &File) -> Result<(), SyncError> {
        let failure = self
            .failure
            .lock()
            .map_err(|_| SyncError::Background("the background fsync thread panicked".into()))?;
        if let Some(reason) = failure.as_ref() {
            return Err(SyncError::Background(reason.clone()));
        }
        file.sync_data().map_err(SyncError::Io)
    }
}

/// Fsyncs `file` through `gate` when there is one.
pub(super) fn sync(gate: Option<&Gate>, file: &File) -> Result<(), SyncError> {
    match gate {
        Some(gate) => gate.sync(file),
        None => file.sync_data().map_err(SyncError::Io),
    }
}

/// The background fsync thread of one writing log.
#[derive(Debug)]
pub(super) struct Flusher {
    kick: Option<SyncSender<Arc<File>>>,
    thread: Option<JoinHandle<()>>,
    gate: Arc<Gate>,
}

impl Flusher {
    /// Starts the thread; `None` when it cannot be started (appends then simply find
    /// more to sync when a segment is full).
    pub(super) fn start() -> Option<Flusher> {
        let gate = Arc::new(Gate::default());
        let (kick, requests) = mpsc::sync_channel(1);
        let shared = gate.clone();
        let thread = std::thread::Builder::new()
            .name("ledgerloop-log-flush".into())
            .spawn(move || run(&requests, &shared))
            .ok()?;
        Some(Flusher {
            kick: Some(kick),
            thread: Some(thread),
            gate,
        })
    }

    /// Asks for a background fsync of `file`; a no-op when one is already queued.
    pub(super) fn kick(&self, file: &Arc<File>) {
        if let Some(kick) = &self.kick {
            let _ = kick.try_send(file.clone());
        }
    }

    /// The gate every fsync of this log's segments goes through.
    pub(super) fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// Stops the thread after its current fsync.
    pub(super) fn stop(&mut self) {
        self.kick = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(requests: &Receiver<Arc<File>>, gate: &Gate) {
    while let Ok(mut file) = requests.recv() {
        while let Ok(newer) = requests.try_recv() {
            file = newer;
        }
        let Ok(mut failure) = gate.failure.lock() else {
            return;
        };
        if failure.is_some() {
            continue;
        }
        if let Err(e) = file.sync_data() {
            *failure = Some(format!("background fsync failed: {e}"));
            gate.failed.store(true, Ordering::Release);
        }
    }
}

//! A simulated crash of the writing process, for deterministic fault simulation.
//!
//! [`FileLog::crash_and_reopen`] cuts the tail off the last frame written (as if the
//! process died in the middle of that frame's `write`), throws the in-memory view away
//! and rebuilds it from the files exactly as a writing open does, which finds the torn
//! frame, truncates it and reports it. Every clone of the handle sees the reopened log,
//! so a simulation whose components share one handle keeps running on the recovered
//! log without being rewired. Nothing here is used by a normal run.

use std::fs::OpenOptions;

use crate::{Error, Result};

use super::{open, FileLog, TornTail};

impl FileLog {
    /// Simulates a crash during the last append: cuts up to `tear_bytes` (at least 1,
    /// never the whole frame) off the end of the last frame, then reopens the log in
    /// place as a writing open would. Returns the torn tail the recovery dropped (`None`
    /// when the log holds no frame, so there was nothing to tear).
    ///
    /// The torn frame's events were never acknowledged in the simulated history: the
    /// caller must treat its append as failed.
    pub fn crash_and_reopen(&self, tear_bytes: u64) -> Result<Option<TornTail>> {
        if self.inner.read_only {
            return Err(Error::ReadOnly {
                path: self.inner.dir.clone(),
            });
        }
        let mut core = self.core()?;
        if core.closed {
            return Err(Error::Closed {
                path: self.inner.dir.clone(),
            });
        }
        if let Some(reason) = &core.poisoned {
            return Err(Error::Poisoned {
                reason: reason.clone(),
            });
        }
        // The flush thread belongs to the process that "died"; a new one starts below.
        if let Some(mut flusher) = core.flusher.take() {
            flusher.stop();
        }
        core.writer = None;
        if let Some(frame) = core.state.frames.last().copied() {
            let segment = &core.state.segments[frame.segment as usize];
            let frame_len = u64::from(frame.len);
            let tear = tear_bytes.clamp(1, frame_len.saturating_sub(1).max(1));
            let path = segment.path.clone();
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            file.set_len(frame.offset + frame_len - tear)
                .map_err(|e| Error::io(&path, e))?;
        } else {
            return Ok(None);
        }
        let paths = open::list_segments(&self.inner.dir)?;
        let (mut state, _) = open::load_index(&self.inner.dir, &paths, false)?;
        let torn = open::scan_remaining(&mut state, &paths, false)?;
        let writer = open::open_writer(&self.inner.dir, &mut state, self.inner.options.fsync)?;
        let next = state.next_position;
        core.state = state;
        core.writer = Some(writer);
        if self.inner.options.fsync == super::FsyncPolicy::Never {
            core.flusher = super::flush::Flusher::start();
        }
        drop(core);
        self.inner
            .durable_position
            .store(next, std::sync::atomic::Ordering::Release);
        self.publish(next);
        Ok(torn)
    }
}

//! The append path: validation, idempotency, optimistic concurrency, framing, write,
//! fsync and the in-memory update.

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::Ordering;

use crate::codec;
use crate::envelope::NewEvent;
use crate::ids::{Hash, StreamId};
use crate::log::{AppendOutcome, ExpectedVersion, MAX_BATCH_EVENTS};
use crate::{Error, Result};

use super::format::{FrameHeader, FRAME_HEADER_BYTES, MAX_FRAME_BODY_BYTES, SEGMENT_HEADER_BYTES};
use super::state::{FrameLoc, IdEntry, IdHashBuilder, StreamHead};
use super::{open, Core, FileLog, FsyncPolicy, MAX_RETAINED_FRAME_BYTES};

impl FileLog {
    /// Appends `events` to `stream` as one atomic batch.
    ///
    /// Rejections (nothing written): a version conflict, an invalid batch, ids of which
    /// only some are stored. A batch whose ids are all stored already, in this stream and
    /// in this order, is a retry: it returns the original positions and writes nothing.
    pub fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome> {
        validate_batch(&events)?;
        let mut core = self.core()?;
        self.check_writable(&core)?;
        if let Some(outcome) = retry_outcome(&core, stream, &events)? {
            return Ok(outcome);
        }
        let (version, last_hash) = core
            .state
            .streams
            .get(stream)
            .map_or((0, Hash::GENESIS), |h| (h.version, h.last_hash));
        if !expected.admits(version) {
            return Err(Error::Conflict {
                stream: stream.to_string(),
                expected: expected.to_string(),
                actual: version,
            });
        }
        let first_position = core.state.next_position;
        // The frame buffer is reused between appends: a fresh multi-hundred-kilobyte
        // allocation per batch costs page faults and zeroing on every append.
        let mut frame = std::mem::take(&mut core.frame_buffer);
        let (hashes, ids) = build_frame(
            &mut frame,
            stream,
            first_position,
            version,
            last_hash,
            &events,
        )?;
        self.ensure_room(&mut core, frame.len() as u64)?;
        let (segment, offset) = self.write_frame(&mut core, &frame)?;
        let count = hashes.len() as u64;
        record_frame(
            &mut core,
            stream,
            first_position,
            version,
            &hashes,
            &ids,
            segment,
            offset,
            frame.len(),
        );
        let next = core.state.next_position;
        frame.clear();
        if frame.capacity() <= MAX_RETAINED_FRAME_BYTES {
            core.frame_buffer = frame;
        }
        if self.inner.options.fsync != FsyncPolicy::Batch {
            self.inner
                .durable_position
                .fetch_max(next, Ordering::AcqRel);
        }
        drop(core);
        // Freeing the batch's strings happens outside the lock.
        drop(events);
        if self.inner.options.fsync == FsyncPolicy::Batch {
            self.group_commit(next)?;
        }
        self.publish(next);
        Ok(AppendOutcome {
            first_position,
            last_sequence: version + count,
            already_stored: false,
        })
    }

    fn check_writable(&self, core: &Core) -> Result<()> {
        if self.inner.read_only {
            return Err(Error::ReadOnly {
                path: self.inner.dir.clone(),
            });
        }
        if core.closed {
            return Err(Error::Closed {
                path: self.inner.dir.clone(),
            });
        }
        match &core.poisoned {
            Some(reason) => Err(Error::Poisoned {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Starts a new segment when the frame would push the current one past its limit.
    fn ensure_room(&self, core: &mut Core, frame_bytes: u64) -> Result<()> {
        let Some(writer) = &core.writer else {
            return Err(Error::Closed {
                path: self.inner.dir.clone(),
            });
        };
        if writer.len <= SEGMENT_HEADER_BYTES
            || writer.len + frame_bytes <= self.inner.options.max_segment_bytes
        {
            return Ok(());
        }
        // The finished segment is synced whatever the policy, so only the newest segment
        // can ever hold unsynced bytes.
        let path = core.state.segments[writer.segment as usize].path.clone();
        writer.file.sync_data().map_err(|e| Error::io(&path, e))?;
        let fresh =
            open::create_segment(&self.inner.dir, &mut core.state, self.inner.options.fsync)?;
        core.writer = Some(fresh);
        Ok(())
    }

    /// Writes the frame with one call; on failure undoes the partial write or poisons.
    fn write_frame(&self, core: &mut Core, frame: &[u8]) -> Result<(u32, u64)> {
        let Some(writer) = core.writer.as_mut() else {
            return Err(Error::Closed {
                path: self.inner.dir.clone(),
            });
        };
        let path = core.state.segments[writer.segment as usize].path.clone();
        let offset = writer.len;
        let written = (&*writer.file).write_all(frame);
        let synced = match (&written, self.inner.options.fsync) {
            (Ok(()), FsyncPolicy::Always) => writer.file.sync_data(),
            _ => Ok(()),
        };
        if let Err(e) = written {
            if writer.file.set_len(offset).is_err() {
                core.poisoned = Some(format!(
                    "write to {} failed and could not be undone",
                    path.display()
                ));
            }
            return Err(Error::io(path, e));
        }
        if let Err(e) = synced {
            // After a failed fsync the kernel may have dropped the dirty pages: nothing
            // about the file's content can be trusted until it is re-read on open.
            core.poisoned = Some(format!("fsync of {} failed: {e}", path.display()));
            return Err(Error::io(path, e));
        }
        writer.len += frame.len() as u64;
        Ok((writer.segment, offset))
    }

    /// Waits until an fsync covers position `target`, running it if nobody else is.
    fn group_commit(&self, target: u64) -> Result<()> {
        let _turn = self.inner.sync_lock.lock().map_err(|_| Error::Poisoned {
            reason: "a thread panicked during fsync".into(),
        })?;
        if self.durable() >= target {
            return Ok(());
        }
        let (file, path, covered) = {
            let core = self.core()?;
            let writer = core.writer.as_ref().ok_or_else(|| Error::Closed {
                path: self.inner.dir.clone(),
            })?;
            let path = core.state.segments[writer.segment as usize].path.clone();
            (writer.file.clone(), path, core.state.next_position)
        };
        if let Err(e) = file.sync_data() {
            if let Ok(mut core) = self.core() {
                core.poisoned = Some(format!("fsync of {} failed: {e}", path.display()));
            }
            return Err(Error::io(path, e));
        }
        self.inner
            .durable_position
            .fetch_max(covered, Ordering::AcqRel);
        Ok(())
    }

    /// Fsyncs everything appended so far, whatever the policy.
    pub fn sync(&self) -> Result<()> {
        let next = self.len()?;
        self.group_commit(next)
    }
}

fn validate_batch(events: &[NewEvent]) -> Result<()> {
    if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
        return Err(Error::InvalidEvent {
            reason: format!(
                "a batch holds 1..={MAX_BATCH_EVENTS} events, got {}",
                events.len()
            ),
        });
    }
    let mut seen: HashSet<uuid::Uuid, IdHashBuilder> =
        HashSet::with_capacity_and_hasher(events.len(), Default::default());
    for ev in events {
        if !seen.insert(ev.id) {
            return Err(Error::InvalidEvent {
                reason: format!("event id {} appears twice in one batch", ev.id),
            });
        }
    }
    Ok(())
}

/// `Some` when every id is stored already as this stream's consecutive events (a retry).
fn retry_outcome(
    core: &Core,
    stream: &StreamId,
    events: &[NewEvent],
) -> Result<Option<AppendOutcome>> {
    let stored: Vec<Option<IdEntry>> = events
        .iter()
        .map(|e| core.state.ids.get(&e.id).copied())
        .collect();
    let Some(first) = stored.iter().flatten().next().copied() else {
        return Ok(None);
    };
    let mismatch = |id, entry: IdEntry, detail: String| Error::IdempotencyMismatch {
        id,
        position: entry.position,
        detail,
    };
    let positions = core.state.streams.get(stream).map(|h| &h.positions);
    for (i, (ev, entry)) in events.iter().zip(&stored).enumerate() {
        let Some(entry) = entry else {
            return Err(mismatch(
                events[0].id,
                first,
                format!("but event {} of the same batch is not", ev.id),
            ));
        };
        let expected_seq = first.sequence + i as u64;
        let here =
            positions.and_then(|p| p.get(expected_seq as usize - 1)) == Some(&entry.position);
        if entry.sequence != expected_seq || !here {
            let owner = core
                .state
                .stream_of(*entry)
                .map_or("?".to_string(), |s| s.to_string());
            let detail = format!(
                "as sequence {} of stream '{owner}', not as a retry of this batch to '{stream}'",
                entry.sequence
            );
            return Err(mismatch(ev.id, *entry, detail));
        }
    }
    let last_sequence = first.sequence + events.len() as u64 - 1;
    Ok(Some(AppendOutcome {
        first_position: first.position,
        last_sequence,
        already_stored: true,
    }))
}

/// Encodes the batch as one frame into `frame` (cleared first); returns each record's
/// hash and id.
fn build_frame(
    frame: &mut Vec<u8>,
    stream: &StreamId,
    first_position: u64,
    version: u64,
    mut prev_hash: Hash,
    events: &[NewEvent],
) -> Result<(Vec<Hash>, Vec<uuid::Uuid>)> {
    let payload_bytes: usize = events.iter().map(|e| e.payload.len() + 200).sum();
    if payload_bytes > MAX_FRAME_BODY_BYTES {
        return Err(Error::InvalidEvent {
            reason: format!("batch of about {payload_bytes} bytes exceeds the frame limit of {MAX_FRAME_BODY_BYTES}; split it"),
        });
    }
    frame.clear();
    frame.reserve(FRAME_HEADER_BYTES + payload_bytes);
    frame.resize(FRAME_HEADER_BYTES, 0);
    let mut hashes = Vec::with_capacity(events.len());
    let mut ids = Vec::with_capacity(events.len());
    let count = events.len() as u32;
    for (i, ev) in events.iter().enumerate() {
        ids.push(ev.id);
        // Encode straight into the frame: reserve length and CRC, write the canonical
        // bytes, hash them in place, then fill the reserved words.
        let start = frame.len();
        frame.extend_from_slice(&[0u8; 8]);
        codec::encode_new_into(frame, ev, stream, version + 1 + i as u64, &prev_hash);
        let hash = Hash::of(&frame[start + 8..]);
        frame.extend_from_slice(&hash.0);
        let canonical_len = (frame.len() - start - 8 - 32) as u32;
        let crc = crc32fast::hash(&frame[start + 8..]);
        frame[start..start + 4].copy_from_slice(&canonical_len.to_le_bytes());
        frame[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        hashes.push(hash);
        prev_hash = hash;
    }
    let body_len = (frame.len() - FRAME_HEADER_BYTES) as u32;
    let header = FrameHeader {
        body_len,
        first_position,
        count,
    };
    frame[..FRAME_HEADER_BYTES].copy_from_slice(&header.encode());
    Ok((hashes, ids))
}

#[allow(clippy::too_many_arguments)]
fn record_frame(
    core: &mut Core,
    stream: &StreamId,
    first_position: u64,
    version: u64,
    hashes: &[Hash],
    ids: &[uuid::Uuid],
    segment: u32,
    offset: u64,
    frame_len: usize,
) {
    let state = &mut core.state;
    let head = state
        .streams
        .entry(stream.clone())
        .or_insert_with(|| StreamHead {
            version: 0,
            last_hash: Hash::GENESIS,
            positions: Vec::new(),
        });
    for (i, (hash, id)) in hashes.iter().zip(ids).enumerate() {
        let position = first_position + i as u64;
        let sequence = version + 1 + i as u64;
        head.positions.push(position);
        head.version = sequence;
        head.last_hash = *hash;
        state.ids.insert(*id, IdEntry { position, sequence });
    }
    let count = hashes.len() as u32;
    state.frames.push(FrameLoc {
        first_position,
        count,
        segment,
        offset,
        len: frame_len as u32,
    });
    state.next_position = first_position + u64::from(count);
    state.segments[segment as usize].len = offset + frame_len as u64;
}

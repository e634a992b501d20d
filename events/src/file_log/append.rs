//! The append path: validation, idempotency, optimistic concurrency, framing, write,
//! fsync and the in-memory update.

use std::collections::HashSet;
use std::io::{IoSlice, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::envelope::NewEvent;
use crate::ids::{Hash, StreamId};
use crate::log::{AppendOutcome, ExpectedVersion, MAX_BATCH_EVENTS};
use crate::{Error, Result};

use super::format::{FrameHeader, FRAME_HEADER_BYTES, MAX_FRAME_BODY_BYTES, SEGMENT_HEADER_BYTES};
use super::hash_helper::{
    encode_records, finish, midstate, HashHelper, Pending, PARALLEL_MIN_BYTES,
};
use super::state::{FrameLoc, IdEntry, IdHashBuilder, StreamHead};
use super::{flush, open, Core, FileLog, FsyncPolicy, MAX_RETAINED_FRAME_BYTES};

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
        validate_batch_size(&events)?;
        // Duplicate ids within the batch are found below by the id index; when the log
        // cannot take the batch anyway, they are still reported first, as before.
        let mut core = match self.core() {
            Ok(core) => core,
            Err(e) => {
                validate_batch(&events)?;
                return Err(e);
            }
        };
        if let Err(e) = self.check_writable(&core) {
            validate_batch(&events)?;
            return Err(e);
        }
        let (version, last_hash) = core
            .state
            .streams
            .get(stream)
            .map_or((0, Hash::GENESIS), |h| (h.version, h.last_hash));
        let first_position = core.state.next_position;
        let events = Arc::new(events);
        // A large batch's later part goes to the hash helper right away, so the helper
        // works while this thread claims the ids and frames the first part.
        if core.hash_helper.is_none() && !core.hash_helper_tried && worth_handing_over(&events) {
            core.hash_helper_tried = true;
            core.hash_helper = HashHelper::start();
        }
        let core_fields = &mut *core;
        let mut part = hand_over(
            core_fields.hash_helper.as_ref(),
            &events,
            stream,
            version,
            &mut core_fields.tail_buffer,
        );
        // Claim every id in the index up front (one probe per id); the claims are undone
        // unless the batch is written.
        let mark = core.state.ids.len();
        if !claim_ids(&mut core, &events, first_position, version) {
            core.state.ids.truncate(mark);
            if let Some(part) = part.take() {
                part.pending.cancel();
            }
            validate_batch(&events)?;
            if let Some(outcome) = retry_outcome(&core, stream, &events)? {
                return Ok(outcome);
            }
            claim_ids(&mut core, &events, first_position, version);
        }
        let written = self.write_batch(
            &mut core, stream, expected, version, last_hash, &events, part,
        );
        if let Err(e) = written {
            core.state.ids.truncate(mark);
            return Err(e);
        }
        let next = core.state.next_position;
        if self.inner.options.fsync != FsyncPolicy::Batch {
            self.inner
                .durable_position
                .fetch_max(next, Ordering::AcqRel);
        }
        drop(core);
        // Freeing the batch's strings happens outside the lock (or on the hash helper,
        // which holds on to the batches it worked on).
        drop(events);
        if self.inner.options.fsync == FsyncPolicy::Batch {
            self.group_commit(next)?;
        }
        self.publish(next);
        Ok(AppendOutcome {
            first_position,
            last_sequence: version + (next - first_position),
            already_stored: false,
        })
    }

    /// Checks the expected version, then frames, writes and records the batch (its ids
    /// are already in the index).
    #[allow(clippy::too_many_arguments)]
    fn write_batch(
        &self,
        core: &mut Core,
        stream: &StreamId,
        expected: ExpectedVersion,
        version: u64,
        last_hash: Hash,
        events: &Arc<Vec<NewEvent>>,
        part: Option<HandOver>,
    ) -> Result<()> {
        if !expected.admits(version) {
            if let Some(part) = part {
                part.pending.cancel();
            }
            return Err(Error::Conflict {
                stream: stream.to_string(),
                expected: expected.to_string(),
                actual: version,
            });
        }
        let first_position = core.state.next_position;
        // The frame buffers are reused between appends: a fresh multi-hundred-kilobyte
        // allocation per batch costs page faults and zeroing on every append.
        let mut frame = std::mem::take(&mut core.frame_buffer);
        let mut tail = std::mem::take(&mut core.tail_buffer);
        let hashes = build_frame(
            &mut frame,
            &mut tail,
            stream,
            first_position,
            version,
            last_hash,
            events,
            part,
        )?;
        let frame_len = frame.len() + tail.len();
        self.ensure_room(core, frame_len as u64)?;
        let (segment, offset) = self.write_frame(core, &frame, &tail)?;
        record_frame(
            core,
            stream,
            first_position,
            version,
            &hashes,
            segment,
            offset,
            frame_len,
        );
        for (buffer, slot) in [
            (frame, &mut core.frame_buffer),
            (tail, &mut core.tail_buffer),
        ] {
            let mut buffer = buffer;
            buffer.clear();
            if buffer.capacity() <= MAX_RETAINED_FRAME_BYTES {
                *slot = buffer;
            }
        }
        Ok(())
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
        if let Some(reason) = &core.poisoned {
            return Err(Error::Poisoned {
                reason: reason.clone(),
            });
        }
        match core.flusher.as_ref().and_then(|f| f.gate().failure()) {
            Some(reason) => Err(Error::Poisoned { reason }),
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
        let file = writer.file.clone();
        let gate = core.flusher.as_ref().map(|f| f.gate().clone());
        if let Err(e) = flush::sync(gate.as_deref(), &file) {
            return Err(super::sync_failure(&mut core.poisoned, &path, e));
        }
        let fresh =
            open::create_segment(&self.inner.dir, &mut core.state, self.inner.options.fsync)?;
        core.writer = Some(fresh);
        Ok(())
    }

    /// Writes the frame (`head` then `tail`) with one call; on failure undoes the partial
    /// write or poisons.
    fn write_frame(&self, core: &mut Core, head: &[u8], tail: &[u8]) -> Result<(u32, u64)> {
        let Some(writer) = core.writer.as_mut() else {
            return Err(Error::Closed {
                path: self.inner.dir.clone(),
            });
        };
        let path = core.state.segments[writer.segment as usize].path.clone();
        let offset = writer.len;
        let written = write_all_vectored(&writer.file, head, tail);
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
        let frame_len = (head.len() + tail.len()) as u64;
        writer.len += frame_len;
        if let Some(flusher) = &core.flusher {
            writer.unflushed += frame_len;
            if writer.unflushed >= flush::FLUSH_EVERY_BYTES {
                writer.unflushed = 0;
                flusher.kick(&writer.file);
            }
        }
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
        let (file, path, covered, gate) = {
            let core = self.core()?;
            let writer = core.writer.as_ref().ok_or_else(|| Error::Closed {
                path: self.inner.dir.clone(),
            })?;
            let path = core.state.segments[writer.segment as usize].path.clone();
            let gate = core.flusher.as_ref().map(|f| f.gate().clone());
            (writer.file.clone(), path, core.state.next_position, gate)
        };
        match flush::sync(gate.as_deref(), &file) {
            Ok(()) => {}
            Err(flush::SyncError::Io(e)) => {
                if let Ok(mut core) = self.core() {
                    core.poisoned = Some(format!("fsync of {} failed: {e}", path.display()));
                }
                return Err(Error::io(path, e));
            }
            Err(e) => {
                let mut core = self.core()?;
                return Err(super::sync_failure(&mut core.poisoned, &path, e));
            }
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

fn validate_batch_size(events: &[NewEvent]) -> Result<()> {
    if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
        return Err(Error::InvalidEvent {
            reason: format!(
                "a batch holds 1..={MAX_BATCH_EVENTS} events, got {}",
                events.len()
            ),
        });
    }
    Ok(())
}

/// Adds the batch's ids to the id index at the positions they will get. Returns false,
/// having stopped early, when an id is stored already (or repeats within the batch).
fn claim_ids(core: &mut Core, events: &[NewEvent], first_position: u64, version: u64) -> bool {
    let ids = &mut core.state.ids;
    ids.reserve(events.len());
    events.iter().enumerate().all(|(i, ev)| {
        let entry = IdEntry {
            position: first_position + i as u64,
            sequence: version + 1 + i as u64,
        };
        ids.insert(ev.id, entry).is_none()
    })
}

fn validate_batch(events: &[NewEvent]) -> Result<()> {
    validate_batch_size(events)?;
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

/// The later part of a batch, handed to the hash helper.
#[derive(Debug)]
struct HandOver {
    /// Index of the first event the helper encodes.
    split: usize,
    pending: Pending,
}

/// True for batches large enough to share with the hash helper.
fn worth_handing_over(events: &[NewEvent]) -> bool {
    let payload_bytes: usize = events.iter().map(|e| e.payload.len() + 200).sum();
    events.len() >= 4 && (PARALLEL_MIN_BYTES..=MAX_FRAME_BODY_BYTES).contains(&payload_bytes)
}

/// Hands the events after the first quarter of a large batch to the helper, to be
/// encoded into `tail`'s buffer; `None` for small batches or without a helper.
fn hand_over(
    helper: Option<&HashHelper>,
    events: &Arc<Vec<NewEvent>>,
    stream: &StreamId,
    version: u64,
    tail: &mut Vec<u8>,
) -> Option<HandOver> {
    let helper = helper?;
    if !worth_handing_over(events) {
        return None;
    }
    // The appender also claims the ids, finishes every hash and writes: a quarter of
    // the encoding and prefix hashing keeps the two threads about even.
    let split = events.len() / 4;
    let buffer = std::mem::take(tail);
    let pending = helper.submit(events, split, stream, version + 1 + split as u64, buffer);
    Some(HandOver { split, pending })
}

/// Encodes the batch as one frame into `head` and `tail` (both cleared first; the frame
/// is `head` followed by `tail`); returns each record's hash. With `part`, the records
/// from `part.split` on are being encoded and pre-hashed into a buffer of their own on
/// the helper thread (see `hash_helper.rs`), which becomes `tail`; the bytes are the
/// same either way.
#[allow(clippy::too_many_arguments)]
fn build_frame(
    head: &mut Vec<u8>,
    tail: &mut Vec<u8>,
    stream: &StreamId,
    first_position: u64,
    version: u64,
    first_prev: Hash,
    events: &Arc<Vec<NewEvent>>,
    part: Option<HandOver>,
) -> Result<Vec<Hash>> {
    let payload_bytes: usize = events.iter().map(|e| e.payload.len() + 200).sum();
    if payload_bytes > MAX_FRAME_BODY_BYTES {
        return Err(Error::InvalidEvent {
            reason: format!("batch of about {payload_bytes} bytes exceeds the frame limit of {MAX_FRAME_BODY_BYTES}; split it"),
        });
    }
    head.clear();
    tail.clear();
    let split = part.as_ref().map_or(events.len(), |p| p.split);
    let pending = part.map(|p| p.pending);
    head.reserve(FRAME_HEADER_BYTES + payload_bytes);
    head.resize(FRAME_HEADER_BYTES, 0);
    let mut prefixes = encode_records(head, &events[..split], stream, version + 1);
    let mut hashes = Vec::with_capacity(events.len());
    let mut prev = first_prev;
    for &(from, to) in &prefixes {
        let prefix = &head[from..to];
        prev = finish(midstate(prefix), prefix, &prev);
        hashes.push(prev);
    }
    match pending.map(Pending::finish) {
        Some(Some(encoded)) => {
            for (state, &(from, to)) in encoded.midstates.into_iter().zip(&encoded.prefixes) {
                prev = finish(state, &encoded.buffer[from..to], &prev);
                hashes.push(prev);
            }
            *tail = encoded.buffer;
            patch_records(tail, &encoded.prefixes, &hashes[split..], hashes[split - 1]);
        }
        Some(None) => {
            // The helper did not take the work: encode the rest here.
            let rest = encode_records(head, &events[split..], stream, version + 1 + split as u64);
            for &(from, to) in &rest {
                let prefix = &head[from..to];
                prev = finish(midstate(prefix), prefix, &prev);
                hashes.push(prev);
            }
            prefixes.extend(rest);
        }
        None => {}
    }
    patch_records(head, &prefixes, &hashes[..prefixes.len()], first_prev);
    let header = FrameHeader {
        body_len: (head.len() - FRAME_HEADER_BYTES + tail.len()) as u32,
        first_position,
        count: events.len() as u32,
    };
    head[..FRAME_HEADER_BYTES].copy_from_slice(&header.encode());
    Ok(hashes)
}

/// Fills in each record's previous hash, hash, length and CRC.
fn patch_records(buffer: &mut [u8], prefixes: &[(usize, usize)], hashes: &[Hash], prev: Hash) {
    let mut prev = prev;
    for (&(from, to), hash) in prefixes.iter().zip(hashes) {
        buffer[to..to + 32].copy_from_slice(&prev.0);
        buffer[to + 32..to + 64].copy_from_slice(&hash.0);
        let canonical_len = (to + 32 - from) as u32;
        let crc = crc32fast::hash(&buffer[from..to + 64]);
        buffer[from - 8..from - 4].copy_from_slice(&canonical_len.to_le_bytes());
        buffer[from - 4..from].copy_from_slice(&crc.to_le_bytes());
        prev = *hash;
    }
}

/// Writes `head` then `tail` with as few calls as the kernel allows: one `writev` unless
/// it writes short, as `write_all` would loop.
fn write_all_vectored(file: &std::fs::File, head: &[u8], tail: &[u8]) -> std::io::Result<()> {
    let mut file = file;
    let mut slices = [IoSlice::new(head), IoSlice::new(tail)];
    let mut slices: &mut [IoSlice<'_>] = &mut slices;
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "failed to write whole frame",
                ))
            }
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn record_frame(
    core: &mut Core,
    stream: &StreamId,
    first_position: u64,
    version: u64,
    hashes: &[Hash],
    segment: u32,
    offset: u64,
    frame_len: usize,
) {
    let state = &mut core.state;
    // The batch's ids entered the id index before the write (see `claim_ids`).
    if !state.streams.contains_key(stream) {
        let empty = StreamHead {
            version: 0,
            last_hash: Hash::GENESIS,
            positions: Vec::new(),
        };
        state.streams.insert(stream.clone(), empty);
    }
    if let Some(head) = state.streams.get_mut(stream) {
        head.positions
            .extend((0..hashes.len() as u64).map(|i| first_position + i));
        head.version = version + hashes.len() as u64;
        if let Some(last) = hashes.last() {
            head.last_hash = *last;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::sample_event;
    use crate::file_log::format::put_record;

    fn events(n: u64) -> Vec<NewEvent> {
        (0..n).map(|i| sample_event(i).expect("event")).collect()
    }

    /// The frame as the format defines it: each record encoded with its real previous
    /// hash, hashed in one go, then framed.
    fn reference_frame(
        stream: &StreamId,
        version: u64,
        prev: Hash,
        events: &[NewEvent],
    ) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = prev;
        for (i, ev) in events.iter().enumerate() {
            let mut canonical = Vec::new();
            crate::codec::encode_new_into(
                &mut canonical,
                ev,
                stream,
                version + 1 + i as u64,
                &prev,
            );
            let hash = Hash::of(&canonical);
            put_record(&mut body, &canonical, &hash);
            prev = hash;
        }
        let header = FrameHeader {
            body_len: body.len() as u32,
            first_position: 5,
            count: events.len() as u32,
        };
        let mut frame = header.encode().to_vec();
        frame.extend_from_slice(&body);
        frame
    }

    fn built_frame(helper: Option<&HashHelper>, events: &Arc<Vec<NewEvent>>) -> Vec<u8> {
        let stream = StreamId::new("chain-test").expect("stream");
        let (mut head, mut tail) = (Vec::new(), Vec::new());
        let prev = Hash::of(b"previous");
        let part = hand_over(helper, events, &stream, 3, &mut tail);
        let hashes =
            build_frame(&mut head, &mut tail, &stream, 5, 3, prev, events, part).expect("frame");
        assert_eq!(hashes.len(), events.len());
        head.extend_from_slice(&tail);
        head
    }

    /// Frames built alone, with the helper thread, and with a helper that never takes the
    /// work are byte-identical to the reference encoding, for small and large batches.
    #[test]
    fn helper_frames_are_byte_identical() {
        let stream = StreamId::new("chain-test").expect("stream");
        let helper = HashHelper::start().expect("helper thread");
        let detached = HashHelper::detached();
        for n in [1u64, 3, 4, 5, 300, 1000] {
            let batch = Arc::new(events(n));
            let expected = reference_frame(&stream, 3, Hash::of(b"previous"), &batch);
            assert_eq!(built_frame(None, &batch), expected, "alone, {n} events");
            for _ in 0..3 {
                assert_eq!(built_frame(Some(&helper), &batch), expected, "helper, {n}");
            }
            assert_eq!(
                built_frame(Some(&detached), &batch),
                expected,
                "detached, {n}"
            );
        }
    }
}

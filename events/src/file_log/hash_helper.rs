//! A second thread that encodes and pre-hashes part of each large batch.
//!
//! Each record's hash covers its canonical bytes, which end with the previous record's
//! hash, so the chain itself is sequential. But everything before those last 32 bytes is
//! known from the event alone: the SHA-256 state after its whole 64-byte blocks (the
//! "midstate") can be computed for every record independently. For a large batch the
//! appending thread encodes and hashes the first records itself while this thread
//! encodes the rest into a second buffer and computes their midstates; the appender then
//! finishes those hashes (the prefix's partial last block, the previous hash and the
//! padding: one or two blocks), fills in the chain links and CRCs, and writes both
//! buffers with one `writev`. The bytes are identical to encoding and hashing the whole
//! batch in one go (the tests compare them with `Hash::of` and the plain encoding).
//!
//! If the helper has not started on a batch by the time the appender is ready for it,
//! the appender takes the work back, so a busy or missing second core costs little more
//! than a message. The helper also frees most written batches, off the append path.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::compress256;
use sha2::digest::generic_array::GenericArray;
use sha2::digest::typenum::U64;

use crate::codec;
use crate::envelope::NewEvent;
use crate::ids::{Hash, StreamId};

/// Batches whose payloads total fewer bytes than this are framed by the appender
/// alone: handing work over costs a few microseconds.
pub(super) const PARALLEL_MIN_BYTES: usize = 96 << 10;

/// Longest time the helper keeps a written batch for freeing when no more work comes.
const RETIRE_FOR: Duration = Duration::from_millis(20);

const OPEN: u8 = 0;
const TAKEN_BY_HELPER: u8 = 1;
const TAKEN_BACK: u8 = 2;

/// Records encoded by the helper, with the midstate of each.
#[derive(Debug)]
pub(super) struct Encoded {
    /// Records with zeros where length, CRC, previous hash and hash go.
    pub(super) buffer: Vec<u8>,
    /// Range in `buffer` of each record's canonical bytes before the previous hash.
    pub(super) prefixes: Vec<(usize, usize)>,
    /// SHA-256 state after the whole blocks of each prefix (see [`midstate`]).
    pub(super) midstates: Vec<[u32; 8]>,
}

struct Job {
    events: Arc<Vec<NewEvent>>,
    from: usize,
    stream: StreamId,
    first_sequence: u64,
    buffer: Vec<u8>,
    claim: Arc<AtomicU8>,
    reply: SyncSender<Encoded>,
}

/// Work handed to the helper; collect it with [`Pending::finish`].
#[derive(Debug)]
pub(super) struct Pending {
    claim: Arc<AtomicU8>,
    reply: Receiver<Encoded>,
}

impl Pending {
    /// Withdraws the work when the helper has not started on it; its answer, if any, is
    /// dropped unread.
    pub(super) fn cancel(self) {
        let _ = self
            .claim
            .compare_exchange(OPEN, TAKEN_BACK, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The helper's records, or `None` when the appender must encode them itself: the
    /// helper had not started (the work is then withdrawn) or is gone.
    pub(super) fn finish(self) -> Option<Encoded> {
        let withdrawn = self
            .claim
            .compare_exchange(OPEN, TAKEN_BACK, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if withdrawn {
            return None;
        }
        self.reply.recv().ok()
    }
}

/// The helper thread of one writing log.
#[derive(Debug)]
pub(super) struct HashHelper {
    messages: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl HashHelper {
    /// Starts the thread; `None` when it cannot be started.
    pub(super) fn start() -> Option<HashHelper> {
        let (messages, incoming) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("ledgerloop-log-hash".into())
            .spawn(move || run(&incoming))
            .ok()?;
        Some(HashHelper {
            messages: Some(messages),
            thread: Some(thread),
        })
    }

    /// A helper whose thread is gone: every submission is withdrawn by `finish`.
    #[cfg(test)]
    pub(super) fn detached() -> HashHelper {
        HashHelper {
            messages: None,
            thread: None,
        }
    }

    /// Asks for `events[from..]`, the first of which gets `first_sequence`, to be encoded
    /// into `buffer` (cleared first) with their midstates.
    pub(super) fn submit(
        &self,
        events: &Arc<Vec<NewEvent>>,
        from: usize,
        stream: &StreamId,
        first_sequence: u64,
        buffer: Vec<u8>,
    ) -> Pending {
        let claim = Arc::new(AtomicU8::new(OPEN));
        let (reply, replies) = mpsc::sync_channel(1);
        let job = Job {
            events: events.clone(),
            from,
            stream: stream.clone(),
            first_sequence,
            buffer,
            claim: claim.clone(),
            reply,
        };
        if let Some(messages) = &self.messages {
            // A send fails only when the thread is gone; `finish` then reports `None`.
            let _ = messages.send(job);
        }
        Pending {
            claim,
            reply: replies,
        }
    }
}

impl Drop for HashHelper {
    fn drop(&mut self) {
        self.messages = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Appends `events` as records to `out`, with zeros where each record's length, CRC,
/// previous hash and hash go; returns the range of each record's canonical bytes before
/// the previous hash.
pub(super) fn encode_records(
    out: &mut Vec<u8>,
    events: &[NewEvent],
    stream: &StreamId,
    first_sequence: u64,
) -> Vec<(usize, usize)> {
    let mut prefixes = Vec::with_capacity(events.len());
    for (i, ev) in events.iter().enumerate() {
        out.extend_from_slice(&[0u8; 8]);
        let start = out.len();
        codec::encode_new_into(out, ev, stream, first_sequence + i as u64, &Hash::GENESIS);
        prefixes.push((start, out.len() - 32));
        out.extend_from_slice(&[0u8; 32]);
    }
    prefixes
}

/// SHA-256's initial state.
const SHA256_INIT: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Blocks handed to the compression function per call.
const BLOCKS_PER_CALL: usize = 16;

/// The SHA-256 state after absorbing the whole 64-byte blocks of `prefix` (the rest of
/// it is absorbed by [`finish`]).
pub(super) fn midstate(prefix: &[u8]) -> [u32; 8] {
    let mut state = SHA256_INIT;
    let whole = prefix.len() / 64 * 64;
    let mut blocks = [GenericArray::<u8, U64>::default(); BLOCKS_PER_CALL];
    for group in prefix[..whole].chunks(64 * BLOCKS_PER_CALL) {
        let n = group.len() / 64;
        for (block, bytes) in blocks.iter_mut().zip(group.chunks_exact(64)) {
            block.copy_from_slice(bytes);
        }
        compress256(&mut state, &blocks[..n]);
    }
    state
}

/// The SHA-256 of `prefix` followed by `prev`, given `state` = [`midstate`]`(prefix)`:
/// absorbs the partial last block of `prefix`, then `prev`, then the padding, with one
/// call of the compression function. Identical to hashing the bytes in one go.
pub(super) fn finish(mut state: [u32; 8], prefix: &[u8], prev: &Hash) -> Hash {
    let rest = &prefix[prefix.len() / 64 * 64..];
    let mut bytes = [0u8; 128];
    bytes[..rest.len()].copy_from_slice(rest);
    let end = rest.len() + 32;
    bytes[rest.len()..end].copy_from_slice(&prev.0);
    bytes[end] = 0x80;
    // The padding needs one 0x80 byte and the 8-byte bit length after the message.
    let n = if end + 9 <= 64 { 1 } else { 2 };
    let bits = (prefix.len() as u64 + 32) * 8;
    bytes[n * 64 - 8..n * 64].copy_from_slice(&bits.to_be_bytes());
    let mut blocks = [GenericArray::<u8, U64>::default(); 2];
    for (block, chunk) in blocks.iter_mut().zip(bytes.chunks_exact(64)) {
        block.copy_from_slice(chunk);
    }
    compress256(&mut state, &blocks[..n]);
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    Hash(out)
}

fn run(incoming: &Receiver<Job>) {
    // The helper keeps each batch until it has answered the next one, so the batch is
    // usually freed here, after the appender is done with it, and off the append path.
    // A retired batch is kept at most `RETIRE_FOR` when no further work arrives.
    let mut retired: Option<Arc<Vec<NewEvent>>> = None;
    loop {
        let received = match &retired {
            None => incoming.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(_) => incoming.recv_timeout(RETIRE_FOR),
        };
        let job = match received {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                retired = None;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let Job {
            events,
            from,
            stream,
            first_sequence,
            buffer,
            claim,
            reply,
        } = job;
        if claim
            .compare_exchange(OPEN, TAKEN_BY_HELPER, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let mut buffer = buffer;
            buffer.clear();
            let batch = events.get(from..).unwrap_or_default();
            let prefixes = encode_records(&mut buffer, batch, &stream, first_sequence);
            let midstates = prefixes
                .iter()
                .map(|&(from, to)| midstate(&buffer[from..to]))
                .collect();
            let _ = reply.send(Encoded {
                buffer,
                prefixes,
                midstates,
            });
        }
        drop(retired.replace(events));
    }
}

#[cfg(test)]
mod tests {
    use super::{finish, midstate};
    use crate::ids::Hash;

    /// Midstate plus finish equals SHA-256 of the whole message, for every prefix length
    /// around the block and padding boundaries.
    #[test]
    fn split_hash_matches_sha256() {
        let prev = Hash::of(b"prev");
        let data: Vec<u8> = (0..2200u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for len in (0..300).chain([1023, 1024, 1025, 2048, 2100]) {
            let prefix = &data[..len];
            let mut whole = prefix.to_vec();
            whole.extend_from_slice(&prev.0);
            assert_eq!(
                finish(midstate(prefix), prefix, &prev),
                Hash::of(&whole),
                "{len}"
            );
        }
    }
}

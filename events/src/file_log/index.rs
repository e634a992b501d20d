//! `index.bin`: a checkpoint of the in-memory [`State`] written when the log is closed,
//! so opening a large log reads the index and scans only what was appended after it.
//!
//! Layout: `"LLIX" version:u32 next_position:u64`, segments, frames, streams, ids, then a
//! CRC-32 of everything before it. It is written to a temporary file, fsynced and renamed
//! over the old one, so a crash leaves either the old or the new index. A damaged or
//! stale index is never trusted: writers rebuild it from the segments, and `verify`
//! reports it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use uuid::Uuid;

use crate::ids::{Hash, StreamId};
use crate::{Error, Result};

use super::state::{FrameLoc, IdEntry, IdIndex, Segment, State, StreamHead};

/// File name of the index within the log directory.
pub const INDEX_FILE: &str = "index.bin";
const INDEX_MAGIC: &[u8; 4] = b"LLIX";
const INDEX_VERSION: u32 = 1;

/// Serialises `state` into index bytes.
pub fn encode(state: &State) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(64 + state.frames.len() * 28 + state.ids.len() * 32);
    let written: std::io::Result<()> = encode_with(state, |chunk| {
        bytes.extend_from_slice(chunk);
        Ok(())
    });
    debug_assert!(written.is_ok());
    bytes
}

/// Bytes gathered before they are handed to the sink while encoding.
const ENCODE_CHUNK_BYTES: usize = 1 << 20;

/// Serialises `state` in chunks of about [`ENCODE_CHUNK_BYTES`], so writing a large
/// index does not first build it whole in memory.
fn encode_with<F>(state: &State, mut sink: F) -> std::io::Result<()>
where
    F: FnMut(&[u8]) -> std::io::Result<()>,
{
    let mut crc = crc32fast::Hasher::new();
    let mut out = Vec::with_capacity(ENCODE_CHUNK_BYTES + 4096);
    let mut flush = |out: &mut Vec<u8>, at_least: usize| -> std::io::Result<()> {
        if out.len() >= at_least {
            crc.update(out);
            sink(out)?;
            out.clear();
        }
        Ok(())
    };
    out.extend_from_slice(INDEX_MAGIC);
    out.extend_from_slice(&INDEX_VERSION.to_le_bytes());
    out.extend_from_slice(&state.next_position.to_le_bytes());
    out.extend_from_slice(&(state.segments.len() as u64).to_le_bytes());
    for seg in &state.segments {
        out.extend_from_slice(&seg.first_position.to_le_bytes());
        out.extend_from_slice(&seg.len.to_le_bytes());
    }
    out.extend_from_slice(&(state.frames.len() as u64).to_le_bytes());
    for f in &state.frames {
        flush(&mut out, ENCODE_CHUNK_BYTES)?;
        out.extend_from_slice(&f.first_position.to_le_bytes());
        out.extend_from_slice(&f.count.to_le_bytes());
        out.extend_from_slice(&f.segment.to_le_bytes());
        out.extend_from_slice(&f.offset.to_le_bytes());
        out.extend_from_slice(&f.len.to_le_bytes());
    }
    out.extend_from_slice(&(state.streams.len() as u64).to_le_bytes());
    for (name, head) in &state.streams {
        flush(&mut out, ENCODE_CHUNK_BYTES)?;
        out.extend_from_slice(&(name.as_str().len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(&head.version.to_le_bytes());
        out.extend_from_slice(&head.last_hash.0);
        out.extend_from_slice(&(head.positions.len() as u64).to_le_bytes());
        for p in &head.positions {
            flush(&mut out, ENCODE_CHUNK_BYTES)?;
            out.extend_from_slice(&p.to_le_bytes());
        }
    }
    // Ids in position order, so the same state always gives the same bytes.
    let ids = state.ids_in_order();
    out.extend_from_slice(&(ids.len() as u64).to_le_bytes());
    for (id, e) in ids.iter() {
        flush(&mut out, ENCODE_CHUNK_BYTES)?;
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&e.position.to_le_bytes());
        out.extend_from_slice(&e.sequence.to_le_bytes());
    }
    flush(&mut out, 0)?;
    sink(&crc.finalize().to_le_bytes())
}

/// Writes the index atomically (temporary file, fsync, rename, fsync of the directory).
pub fn write(dir: &Path, state: &State) -> Result<()> {
    let tmp = dir.join("index.bin.tmp");
    let mut file = fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    encode_with(state, |chunk| file.write_all(chunk)).map_err(|e| Error::io(&tmp, e))?;
    file.sync_all().map_err(|e| Error::io(&tmp, e))?;
    let target = dir.join(INDEX_FILE);
    fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
    super::sync_dir(dir)
}

/// Reads an index; `Ok(None)` when there is none, `Err(reason)` when it is damaged.
pub fn read(dir: &Path) -> Result<Option<std::result::Result<State, String>>> {
    let path = dir.join(INDEX_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    Ok(Some(decode(dir, &bytes)))
}

/// Decodes index bytes, checking the CRC and every length.
pub fn decode(dir: &Path, bytes: &[u8]) -> std::result::Result<State, String> {
    if bytes.len() < 4 + 4 + 8 + 4 {
        return Err(format!(
            "index is {} bytes, too short to be an index (truncated?)",
            bytes.len()
        ));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err("index checksum mismatch (truncated or damaged)".into());
    }
    let mut r = Reader { bytes: body, at: 0 };
    if r.take(4)? != INDEX_MAGIC {
        return Err("bad index magic".into());
    }
    let version = r.u32()?;
    if version != INDEX_VERSION {
        return Err(format!(
            "index version {version} is not supported (this build reads {INDEX_VERSION})"
        ));
    }
    let mut state = State {
        next_position: r.u64()?,
        ..State::default()
    };
    for _ in 0..r.count(16)? {
        let first_position = r.u64()?;
        let len = r.u64()?;
        let path = dir.join(super::format::segment_file_name(first_position));
        state.segments.push(Segment {
            first_position,
            path,
            len,
        });
    }
    for _ in 0..r.count(28)? {
        let first_position = r.u64()?;
        let count = r.u32()?;
        let segment = r.u32()?;
        let offset = r.u64()?;
        let len = r.u32()?;
        state.frames.push(FrameLoc {
            first_position,
            count,
            segment,
            offset,
            len,
        });
    }
    let mut streams = BTreeMap::new();
    for _ in 0..r.count(2 + 8 + 32 + 8)? {
        let name_len = u16::from_le_bytes(r.array()?) as usize;
        let name =
            std::str::from_utf8(r.take(name_len)?).map_err(|_| "stream name is not UTF-8")?;
        let name = StreamId::new(name).map_err(|e| e.to_string())?;
        let version = r.u64()?;
        let last_hash = Hash(r.array()?);
        let positions = (0..r.count(8)?)
            .map(|_| r.u64())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        streams.insert(
            name,
            StreamHead {
                version,
                last_hash,
                positions,
            },
        );
    }
    state.streams = streams;
    let n = r.count(32)?;
    let mut ids = IdIndex::with_capacity(n);
    for _ in 0..n {
        let id = Uuid::from_bytes(r.array()?);
        ids.insert(
            id,
            IdEntry {
                position: r.u64()?,
                sequence: r.u64()?,
            },
        );
    }
    state.ids = ids;
    if r.at != body.len() {
        return Err("trailing bytes in index".into());
    }
    Ok(state)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("index ends early at byte {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> std::result::Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads an element count and checks the remaining bytes could hold that many
    /// elements of at least `min_bytes` each, so a damaged count cannot allocate wildly.
    fn count(&mut self, min_bytes: usize) -> std::result::Result<usize, String> {
        let n = self.u64()?;
        let remaining = (self.bytes.len() - self.at) as u64;
        if n.saturating_mul(min_bytes as u64) > remaining {
            return Err(format!(
                "index claims {n} entries but only {remaining} bytes remain"
            ));
        }
        Ok(n as usize)
    }
}

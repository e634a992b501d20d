//! On-disk layout of the embedded log. All integers are little-endian.
//!
//! ```text
//! <dir>/FORMAT                      "ledgerloop-log <version>\n"
//! <dir>/LOCK                        held (flock) by the single writer
//! <dir>/index.bin                   stream index checkpoint (see index.rs)
//! <dir>/<first_position:020>.seg    segment: header, then frames
//!
//! segment header (32 B): "LLSEG\0\0\x01" first_position:u64 reserved:12 crc32(first 28):u32
//! frame header   (32 B): "LLFR" body_len:u32 first_position:u64 count:u32 reserved:8
//!                        crc32(first 28):u32
//! frame body:            count x record
//! record:                len:u32 crc32(canonical ++ hash):u32 canonical:len hash:32
//! ```
//!
//! One append is one frame, written with one `write` (or `writev`) call: after a crash a
//! frame is either complete (every record's CRC holds) or it is the torn tail of the last
//! segment.

use crate::ids::Hash;

/// First line of the FORMAT file, followed by the format version.
pub const FORMAT_TAG: &str = "ledgerloop-log";
/// The on-disk format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Magic bytes opening a segment file.
pub const SEGMENT_MAGIC: &[u8; 8] = b"LLSEG\0\0\x01";
/// Magic bytes opening a frame.
pub const FRAME_MAGIC: &[u8; 4] = b"LLFR";
/// Size of a segment header.
pub const SEGMENT_HEADER_BYTES: u64 = 32;
/// Size of a frame header.
pub const FRAME_HEADER_BYTES: usize = 32;
/// Bytes of a record around its canonical encoding: length, CRC and hash.
pub const RECORD_OVERHEAD_BYTES: usize = 8 + 32;
/// A segment is closed and a new one started once it would grow past this size.
pub const MAX_SEGMENT_BYTES: u64 = 64 << 20;
/// Largest frame body accepted when reading; bounds the memory one read can take.
pub const MAX_FRAME_BODY_BYTES: usize = 256 << 20;

/// Encodes a segment header.
pub fn segment_header(first_position: u64) -> [u8; SEGMENT_HEADER_BYTES as usize] {
    let mut out = [0u8; SEGMENT_HEADER_BYTES as usize];
    out[..8].copy_from_slice(SEGMENT_MAGIC);
    out[8..16].copy_from_slice(&first_position.to_le_bytes());
    let crc = crc32fast::hash(&out[..28]);
    out[28..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a segment header, returning its first position, or why it is malformed.
pub fn parse_segment_header(bytes: &[u8]) -> Result<u64, String> {
    if bytes.len() < SEGMENT_HEADER_BYTES as usize {
        return Err(format!(
            "segment header needs 32 bytes, file has {}",
            bytes.len()
        ));
    }
    if &bytes[..8] != SEGMENT_MAGIC {
        return Err("bad segment magic".into());
    }
    let crc = u32::from_le_bytes(bytes[28..32].try_into().unwrap_or_default());
    if crc != crc32fast::hash(&bytes[..28]) {
        return Err("segment header checksum mismatch".into());
    }
    Ok(u64::from_le_bytes(
        bytes[8..16].try_into().unwrap_or_default(),
    ))
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub body_len: u32,
    pub first_position: u64,
    pub count: u32,
}

impl FrameHeader {
    /// Encodes the header into its 32 bytes.
    pub fn encode(&self) -> [u8; FRAME_HEADER_BYTES] {
        let mut out = [0u8; FRAME_HEADER_BYTES];
        out[..4].copy_from_slice(FRAME_MAGIC);
        out[4..8].copy_from_slice(&self.body_len.to_le_bytes());
        out[8..16].copy_from_slice(&self.first_position.to_le_bytes());
        out[16..20].copy_from_slice(&self.count.to_le_bytes());
        let crc = crc32fast::hash(&out[..28]);
        out[28..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a header, or says why it is malformed.
    pub fn parse(bytes: &[u8]) -> Result<FrameHeader, String> {
        if bytes.len() < FRAME_HEADER_BYTES {
            return Err(format!(
                "frame header needs 32 bytes, {} remain",
                bytes.len()
            ));
        }
        if &bytes[..4] != FRAME_MAGIC {
            return Err("bad frame magic".into());
        }
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        if word(28) != crc32fast::hash(&bytes[..28]) {
            return Err("frame header checksum mismatch".into());
        }
        let header = FrameHeader {
            body_len: word(4),
            first_position: u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default()),
            count: word(16),
        };
        if header.count == 0 || header.body_len as usize > MAX_FRAME_BODY_BYTES {
            return Err(format!(
                "implausible frame: {} records in {} bytes",
                header.count, header.body_len
            ));
        }
        Ok(header)
    }
}

/// Appends one record (canonical bytes and their hash) to a frame body.
pub fn put_record(body: &mut Vec<u8>, canonical: &[u8], hash: &Hash) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(canonical);
    crc.update(&hash.0);
    body.extend_from_slice(&(canonical.len() as u32).to_le_bytes());
    body.extend_from_slice(&crc.finalize().to_le_bytes());
    body.extend_from_slice(canonical);
    body.extend_from_slice(&hash.0);
}

/// One record read out of a frame body.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// Offset of the record within the frame body.
    pub offset: usize,
    pub canonical: &'a [u8],
    pub hash: Hash,
}

/// Splits a frame body into records, checking each CRC. On failure returns the index and
/// body offset of the bad record with the reason.
pub fn split_records(body: &[u8], count: u32) -> Result<Vec<RawRecord<'_>>, (u32, usize, String)> {
    let mut out = Vec::with_capacity(count as usize);
    let mut at = 0usize;
    for index in 0..count {
        let fail = |why: String| (index, at, why);
        if body.len() - at < 8 {
            return Err(fail("record header runs past the frame".into()));
        }
        let len = u32::from_le_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]) as usize;
        let crc = u32::from_le_bytes([body[at + 4], body[at + 5], body[at + 6], body[at + 7]]);
        let end = at.checked_add(8 + len + 32).filter(|&e| e <= body.len());
        let Some(end) = end else {
            return Err(fail(format!("record of {len} bytes runs past the frame")));
        };
        let stored = &body[at + 8..end];
        if crc32fast::hash(stored) != crc {
            return Err(fail("record checksum mismatch".into()));
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&stored[len..]);
        out.push(RawRecord {
            offset: at,
            canonical: &stored[..len],
            hash: Hash(hash),
        });
        at = end;
    }
    if at != body.len() {
        return Err((
            count,
            at,
            format!("{} trailing bytes after the last record", body.len() - at),
        ));
    }
    Ok(out)
}

/// The file name of the segment starting at `first_position`.
pub fn segment_file_name(first_position: u64) -> String {
    format!("{first_position:020}.seg")
}

/// Parses a segment file name back into its first position.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

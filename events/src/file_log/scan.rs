//! Sequential scanning of one segment's bytes, frame by frame, telling a torn tail
//! (damage confined to the final frame) from damage in the middle of the log.

use crate::error::DamageKind;

use super::format::{self, FrameHeader, RawRecord, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES};

/// Why a scan stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameFault {
    pub kind: DamageKind,
    /// File offset of the damaged bytes (the frame or record that fails).
    pub offset: u64,
    /// File offset where the faulty frame starts; truncating here removes it.
    pub frame_offset: u64,
    /// Global position of the first event the fault concerns.
    pub position: u64,
    /// True when nothing valid follows: a torn final write rather than mid-log damage.
    pub is_tail: bool,
    /// Records in the faulty frame, when its header could be read.
    pub records: Option<u32>,
    pub detail: String,
}

/// What a clean scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentScan {
    /// Position after the segment's last event.
    pub end_position: u64,
    /// Offset after the last complete frame.
    pub end_offset: u64,
}

/// Walks the frames of `bytes` (a whole segment file, header included), starting at
/// `from_offset` with `next_position` expected. `on_frame` gets each intact frame's
/// offset, header and records.
pub fn scan_frames<F>(
    bytes: &[u8],
    from_offset: u64,
    mut next_position: u64,
    mut on_frame: F,
) -> Result<SegmentScan, FrameFault>
where
    F: FnMut(u64, &FrameHeader, &[RawRecord<'_>]) -> Result<(), FrameFault>,
{
    let mut at = from_offset.max(SEGMENT_HEADER_BYTES) as usize;
    while at < bytes.len() {
        let fault = |kind, offset: usize, position, records, detail: String, is_tail| FrameFault {
            kind,
            offset: offset as u64,
            frame_offset: at as u64,
            position,
            is_tail,
            records,
            detail,
        };
        let header = match FrameHeader::parse(&bytes[at..]) {
            Ok(header) => header,
            Err(detail) => {
                let tail = bytes.len() - at < FRAME_HEADER_BYTES
                    || next_valid_frame(bytes, at + 1).is_none();
                let kind = if tail {
                    DamageKind::TornTail
                } else {
                    DamageKind::Header
                };
                return Err(fault(kind, at, next_position, None, detail, tail));
            }
        };
        if header.first_position != next_position {
            let detail = format!(
                "frame starts at position {}, expected {next_position}",
                header.first_position
            );
            return Err(fault(
                DamageKind::Sequence,
                at,
                next_position,
                Some(header.count),
                detail,
                false,
            ));
        }
        let body_start = at + FRAME_HEADER_BYTES;
        let body_end = body_start + header.body_len as usize;
        if body_end > bytes.len() {
            let detail = format!(
                "frame of {} bytes at offset {at} ends past the end of the file ({} bytes)",
                header.body_len,
                bytes.len()
            );
            return Err(fault(
                DamageKind::TornTail,
                at,
                next_position,
                Some(header.count),
                detail,
                true,
            ));
        }
        let records = match format::split_records(&bytes[body_start..body_end], header.count) {
            Ok(records) => records,
            Err((index, offset, detail)) => {
                let tail = body_end == bytes.len();
                let kind = if tail {
                    DamageKind::TornTail
                } else {
                    DamageKind::Checksum
                };
                let position = next_position + u64::from(index.min(header.count.saturating_sub(1)));
                return Err(fault(
                    kind,
                    body_start + offset,
                    position,
                    Some(header.count),
                    detail,
                    tail,
                ));
            }
        };
        on_frame(at as u64, &header, &records)?;
        next_position += u64::from(header.count);
        at = body_end;
    }
    Ok(SegmentScan {
        end_position: next_position,
        end_offset: at as u64,
    })
}

/// Finds the next offset at or after `from` holding a frame header whose checksum holds.
fn next_valid_frame(bytes: &[u8], from: usize) -> Option<usize> {
    let magic = format::FRAME_MAGIC;
    let mut at = from;
    while at + FRAME_HEADER_BYTES <= bytes.len() {
        let found = bytes[at..].windows(magic.len()).position(|w| w == magic)?;
        at += found;
        if FrameHeader::parse(&bytes[at..]).is_ok() {
            return Some(at);
        }
        at += 1;
    }
    None
}

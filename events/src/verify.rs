//! Full verification of a log directory: every record's CRC and SHA-256, every stream's
//! hash chain and sequence, global positions, known event types and versions, and the
//! index checkpoint. Nothing is modified.

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::catalogue::Event;
use crate::codec;
use crate::codec::CanonicalHeader;
use crate::error::DamageKind;
use crate::file_log::format;
use crate::file_log::format::RawRecord;
use crate::file_log::scan::{self, FrameFault};
use crate::file_log::state::{Segment, State, HASH_MISMATCH};
use crate::file_log::IndexStatus;
use crate::ids::Hash;
use crate::{Error, Result};

/// What `verify` should check beyond bytes and chains.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Also deserialize (and upcast) every payload.
    pub decode_payloads: bool,
}

/// Counts from a clean verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub events: u64,
    pub streams: usize,
    pub segments: usize,
    pub bytes: u64,
    pub index: IndexStatus,
}

/// Verifies the log in `dir`; the first damage found is returned as [`Error::Damaged`]
/// naming the file, byte offset, position and (where known) stream and sequence.
pub fn verify(dir: &Path, options: VerifyOptions) -> Result<VerifyReport> {
    let paths = crate::file_log::inspect_dir(dir)?;
    let mut state = State {
        id_list: Some(Vec::new()),
        ..State::default()
    };
    let mut bytes_total = 0u64;
    let mut buffer = Vec::new();
    for (i, (_, path)) in paths.iter().enumerate() {
        // One buffer for every segment: its pages are faulted in once, not per segment.
        buffer.clear();
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        file.read_to_end(&mut buffer)
            .map_err(|e| Error::io(path, e))?;
        let bytes = &buffer[..];
        bytes_total += bytes.len() as u64;
        let last = i + 1 == paths.len();
        let first = format::parse_segment_header(bytes).map_err(|d| {
            let torn = last && bytes.len() <= format::SEGMENT_HEADER_BYTES as usize;
            let kind = if torn {
                DamageKind::TornTail
            } else {
                DamageKind::Header
            };
            damage(kind, path, 0, state.next_position, d)
        })?;
        if first != state.next_position {
            let detail = format!(
                "segment starts at position {first}, expected {}",
                state.next_position
            );
            return Err(damage(
                DamageKind::Sequence,
                path,
                0,
                state.next_position,
                detail,
            ));
        }
        let len = format::SEGMENT_HEADER_BYTES;
        state.segments.push(Segment {
            first_position: first,
            path: path.clone(),
            len,
        });
        let segment = i as u32;
        // Records are at least RECORD_OVERHEAD_BYTES + ~100 bytes: reserve for the densest case.
        state.reserve(bytes.len() / (format::RECORD_OVERHEAD_BYTES + 100));
        // SHA-256 of every record is checked on a second thread while this one folds the
        // chains and sequences over the same bytes: the two passes are independent, and
        // hashing is half the work.
        let start_position = state.next_position;
        let (hashes, folded) = std::thread::scope(|scope| {
            let hashes = scope.spawn(|| check_hashes(bytes, start_position));
            let folded = scan::scan_frames(bytes, 0, start_position, |offset, header, records| {
                state.apply_scanned_with(
                    segment,
                    offset,
                    header,
                    records,
                    |position, head, record| check_record(position, head, record, options),
                )
            });
            (hashes.join(), folded)
        });
        let hashes = hashes.unwrap_or_else(|_| Err(internal_fault(start_position)));
        // Report whichever damage comes first in the log.
        let first_fault = match (hashes, folded) {
            (Err(h), Err(f)) => Some(if h.position < f.position { h } else { f }),
            (Err(h), Ok(_)) => Some(h),
            (Ok(()), Err(f)) => Some(f),
            (Ok(()), Ok(_)) => None,
        };
        if let Some(fault) = first_fault {
            return Err(fault_to_error(path, bytes, fault));
        }
    }
    if let Some((id, position)) = state.duplicate_id() {
        let path = paths.last().map(|(_, p)| p.clone()).unwrap_or_default();
        return Err(damage(
            DamageKind::Sequence,
            &path,
            0,
            position,
            format!("event id {id} is stored twice"),
        ));
    }
    let index = check_index(dir, &state)?;
    Ok(VerifyReport {
        events: state.next_position,
        streams: state.streams.len(),
        segments: state.segments.len(),
        bytes: bytes_total,
        index,
    })
}

/// Checks `index.bin` against the scanned state: it must decode and describe a prefix of
/// the log (a writer that crashed leaves an index that covers less, which is fine).
fn check_index(dir: &Path, scanned: &State) -> Result<IndexStatus> {
    let file = dir.join(crate::file_log::INDEX_FILE);
    let fail = |detail: String| Error::Damaged {
        kind: DamageKind::Index,
        file: file.clone(),
        offset: 0,
        position: None,
        stream: None,
        sequence: None,
        detail: format!(
            "{detail}; `ledgerloop log recover {}` rebuilds it",
            dir.display()
        ),
    };
    // After a clean close the index describes the whole log: compare bytes, which is
    // cheaper than decoding it into maps.
    if let Ok(bytes) = std::fs::read(&file) {
        if bytes == crate::file_log::encode_index(scanned) {
            return Ok(IndexStatus::Loaded {
                covered_events: scanned.next_position,
            });
        }
    }
    let indexed = match crate::file_log::read_index(dir)? {
        None => return Ok(IndexStatus::Absent),
        Some(Err(reason)) => return Err(fail(reason)),
        Some(Ok(indexed)) => indexed,
    };
    let n = indexed.frames.len();
    let prefix = indexed.next_position <= scanned.next_position
        && scanned.frames.get(..n) == Some(&indexed.frames[..])
        && indexed
            .ids
            .iter()
            .all(|(id, e)| scanned.ids.get(id) == Some(e))
        && indexed.streams.iter().all(|(name, head)| {
            scanned
                .streams
                .get(name)
                .is_some_and(|s| s.positions.starts_with(&head.positions))
        });
    if !prefix {
        return Err(fail("index does not match the segments".into()));
    }
    Ok(IndexStatus::Loaded {
        covered_events: indexed.next_position,
    })
}

/// Checks one record's type and version (the hash pass and the state fold that calls
/// this check the rest).
fn check_record(
    position: u64,
    head: &CanonicalHeader<'_>,
    record: &RawRecord<'_>,
    options: VerifyOptions,
) -> std::result::Result<(), String> {
    match Event::type_info(head.event_type) {
        None => Err(format!("unknown event type '{}'", head.event_type)),
        Some(info) if head.schema_version > info.schema_version => Err(format!(
            "event type '{}' schema version {} is newer than this build's {}",
            head.event_type, head.schema_version, info.schema_version
        )),
        Some(_) if options.decode_payloads => {
            let full = codec::decode_canonical(record.canonical, position, record.hash)
                .map_err(|e| e.to_string())?;
            full.decode().map(|_| ()).map_err(|e| e.to_string())
        }
        Some(_) => Ok(()),
    }
}

/// Recomputes every record's SHA-256 in a segment's bytes.
fn check_hashes(bytes: &[u8], first_position: u64) -> std::result::Result<(), FrameFault> {
    scan::scan_frames(bytes, 0, first_position, |offset, header, records| {
        for (i, record) in records.iter().enumerate() {
            if Hash::of(record.canonical) != record.hash {
                return Err(FrameFault {
                    kind: DamageKind::Hash,
                    offset: offset + format::FRAME_HEADER_BYTES as u64 + record.offset as u64,
                    frame_offset: offset,
                    position: header.first_position + i as u64,
                    is_tail: false,
                    records: Some(header.count),
                    detail: format!("{HASH_MISMATCH} the record"),
                });
            }
        }
        Ok(())
    })
    .map(|_| ())
}

/// The fault reported if the hashing thread itself failed (it cannot panic on any input;
/// this keeps a bug there from passing silently).
fn internal_fault(position: u64) -> FrameFault {
    FrameFault {
        kind: DamageKind::Hash,
        offset: 0,
        frame_offset: 0,
        position,
        is_tail: false,
        records: None,
        detail: "the hash check stopped unexpectedly; the segment is not verified".into(),
    }
}

fn damage(kind: DamageKind, file: &Path, offset: u64, position: u64, detail: String) -> Error {
    Error::Damaged {
        kind,
        file: file.to_path_buf(),
        offset,
        position: Some(position),
        stream: None,
        sequence: None,
        detail,
    }
}

/// Converts a scan fault to an error, naming the stream and sequence when the damaged
/// record's header can still be read and its checksum holds.
fn fault_to_error(path: &Path, bytes: &[u8], fault: FrameFault) -> Error {
    let (stream, sequence) = match fault.kind {
        DamageKind::Hash | DamageKind::Chain | DamageKind::Sequence | DamageKind::Encoding => {
            record_identity(bytes, fault.offset).unwrap_or((None, None))
        }
        _ => (None, None),
    };
    let mut detail = fault.detail;
    if fault.kind == DamageKind::TornTail {
        detail.push_str("; the final frame is incomplete or damaged — opening the log for writing (`ledgerloop log recover`) truncates it");
    }
    Error::Damaged {
        kind: fault.kind,
        file: path.to_path_buf(),
        offset: fault.offset,
        position: Some(fault.position),
        stream,
        sequence,
        detail,
    }
}

fn record_identity(bytes: &[u8], record_offset: u64) -> Option<(Option<String>, Option<u64>)> {
    let at = record_offset as usize;
    let len = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
    let canonical = bytes.get(at + 8..at + 8 + len)?;
    let head = codec::peek_header(canonical).ok()?;
    Some((Some(head.stream.to_string()), Some(head.sequence)))
}

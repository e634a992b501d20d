//! Opening a log: format check, writer lock, index load, segment scan, torn-tail
//! recovery.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use crate::error::DamageKind;
use crate::{Error, Result};

use super::format::{self, FORMAT_TAG, FORMAT_VERSION, SEGMENT_HEADER_BYTES};
use super::scan::{self, FrameFault};
use super::state::{Segment, State};
use super::{
    index, Core, FileLog, FileLogOptions, IndexStatus, Inner, OpenReport, TornTail, Writer,
};

/// File naming the format and its version.
pub const FORMAT_FILE: &str = "FORMAT";
/// The writer's lock file.
pub const LOCK_FILE: &str = "LOCK";

pub(super) fn open(dir: &Path, options: FileLogOptions, read_only: bool) -> Result<FileLog> {
    let created = prepare_dir(dir, read_only)?;
    let lock_file = if read_only {
        None
    } else {
        Some(take_lock(dir)?)
    };
    let paths = list_segments(dir)?;
    let (mut state, index_status) = load_index(dir, &paths, read_only)?;
    let torn_tail = scan_remaining(&mut state, &paths, read_only)?;
    let mut writer = None;
    if !read_only {
        writer = Some(open_writer(dir, &mut state, options.fsync)?);
    }
    let report = OpenReport {
        events: state.next_position,
        streams: state.streams.len(),
        segments: state.segments.len(),
        index: index_status,
        torn_tail,
        created,
    };
    let next = state.next_position;
    let core = Core {
        state,
        frame_buffer: Vec::new(),
        tail_buffer: Vec::new(),
        writer,
        flusher: if !read_only && options.fsync == super::FsyncPolicy::Never {
            super::flush::Flusher::start()
        } else {
            None
        },
        hash_helper: None,
        hash_helper_tried: false,
        poisoned: None,
        closed: false,
    };
    let (visible, _) = tokio::sync::watch::channel(next);
    let inner = Inner {
        dir: dir.to_path_buf(),
        options,
        read_only,
        core: Mutex::new(core),
        sync_lock: Mutex::new(()),
        durable_position: AtomicU64::new(next),
        visible,
        report,
        _lock_file: lock_file,
    };
    Ok(FileLog {
        inner: Arc::new(inner),
    })
}

/// Checks the FORMAT file, creating the log when the directory is new or empty.
pub(super) fn prepare_dir(dir: &Path, read_only: bool) -> Result<bool> {
    let format_path = dir.join(FORMAT_FILE);
    if !dir.exists() {
        if read_only {
            return Err(Error::NotALog {
                path: dir.into(),
                reason: "the directory does not exist".into(),
            });
        }
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    if !dir.is_dir() {
        return Err(Error::NotALog {
            path: dir.into(),
            reason: "not a directory".into(),
        });
    }
    match fs::read_to_string(&format_path) {
        Ok(text) => check_format(dir, &text).map(|()| false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.count();
            if read_only || entries > 0 {
                let reason = if entries > 0 {
                    format!("it has no {FORMAT_FILE} file but holds {entries} other entries; refusing to touch it")
                } else {
                    format!("it is empty (no {FORMAT_FILE} file)")
                };
                return Err(Error::NotALog {
                    path: dir.into(),
                    reason,
                });
            }
            let mut file = File::create(&format_path).map_err(|e| Error::io(&format_path, e))?;
            writeln!(file, "{FORMAT_TAG} {FORMAT_VERSION}")
                .map_err(|e| Error::io(&format_path, e))?;
            file.sync_all().map_err(|e| Error::io(&format_path, e))?;
            super::sync_dir(dir)?;
            Ok(true)
        }
        Err(e) => Err(Error::io(format_path, e)),
    }
}

fn check_format(dir: &Path, text: &str) -> Result<()> {
    let fail = |reason: String| {
        Err(Error::NotALog {
            path: dir.into(),
            reason,
        })
    };
    let mut words = text.split_whitespace();
    if words.next() != Some(FORMAT_TAG) {
        return fail(format!("{FORMAT_FILE} does not start with '{FORMAT_TAG}'"));
    }
    match words.next().and_then(|v| v.parse::<u32>().ok()) {
        Some(FORMAT_VERSION) => Ok(()),
        Some(v) if v > FORMAT_VERSION => {
            fail(format!("log format version {v} is newer than this build's {FORMAT_VERSION}; upgrade ledgerloop"))
        }
        Some(v) => fail(format!("log format version {v} is not supported")),
        None => fail(format!("{FORMAT_FILE} has no version number")),
    }
}

fn take_lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
            path: dir.into(),
            lock: path,
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(path, e)),
    }
}

/// Segment files in position order. A `.seg` file with a malformed name is an error, as
/// it means someone put a file there by hand.
pub(super) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".seg") {
            continue;
        }
        match format::parse_segment_file_name(&name) {
            Some(first) => out.push((first, entry.path())),
            None => {
                return Err(Error::NotALog {
                    path: dir.into(),
                    reason: format!("segment file name '{name}' is not <20 digits>.seg"),
                })
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Loads `index.bin` when it agrees with the segments on disk.
pub(super) fn load_index(
    dir: &Path,
    paths: &[(u64, PathBuf)],
    read_only: bool,
) -> Result<(State, IndexStatus)> {
    let loaded = match index::read(dir)? {
        None => return Ok((State::default(), IndexStatus::Absent)),
        Some(loaded) => loaded,
    };
    let checked = loaded.and_then(|state| index_matches_disk(&state, paths).map(|()| state));
    match checked {
        Ok(state) => {
            let covered_events = state.next_position;
            Ok((state, IndexStatus::Loaded { covered_events }))
        }
        Err(reason) if read_only => Err(Error::Damaged {
            kind: DamageKind::Index,
            file: dir.join(index::INDEX_FILE),
            offset: 0,
            position: None,
            stream: None,
            sequence: None,
            detail: format!(
                "{reason}; run `ledgerloop log recover {}` to rebuild it",
                dir.display()
            ),
        }),
        Err(reason) => Ok((State::default(), IndexStatus::Rebuilt { reason })),
    }
}

/// Checks that every segment the index covers is on disk, no shorter than indexed, and
/// that the last indexed frame header is where the index says.
fn index_matches_disk(state: &State, paths: &[(u64, PathBuf)]) -> std::result::Result<(), String> {
    for (i, seg) in state.segments.iter().enumerate() {
        let Some((first, path)) = paths.get(i) else {
            return Err(format!(
                "index lists segment {} which is missing",
                seg.path.display()
            ));
        };
        let on_disk = fs::metadata(path).map_err(|e| e.to_string())?.len();
        let last = i + 1 == state.segments.len();
        if *first != seg.first_position || on_disk < seg.len || (!last && on_disk != seg.len) {
            return Err(format!(
                "index is stale for segment {} ({on_disk} bytes on disk, {} indexed)",
                path.display(),
                seg.len
            ));
        }
    }
    if let Some(frame) = state.frames.last() {
        let path = &state
            .segments
            .get(frame.segment as usize)
            .ok_or("frame in unknown segment")?
            .path;
        // Only the frame header is needed, not the whole (up to 64 MiB) segment.
        let mut bytes = [0u8; format::FRAME_HEADER_BYTES];
        let file = File::open(path).map_err(|e| e.to_string())?;
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut bytes, frame.offset)
            .map_err(|e| format!("cannot read the indexed frame header: {e}"))?;
        let header = format::FrameHeader::parse(&bytes)?;
        if header.first_position != frame.first_position || header.count != frame.count {
            return Err("index's last frame does not match the segment".into());
        }
    }
    Ok(())
}

/// Scans everything the index does not cover; returns the torn tail, if any.
pub(super) fn scan_remaining(
    state: &mut State,
    paths: &[(u64, PathBuf)],
    read_only: bool,
) -> Result<Option<TornTail>> {
    let start = state.segments.len().saturating_sub(1);
    for (i, (first, path)) in paths.iter().enumerate().skip(start) {
        let last = i + 1 == paths.len();
        let bytes = super::read_file(path)?;
        if let Err(reason) = format::parse_segment_header(&bytes) {
            if last && bytes.len() <= SEGMENT_HEADER_BYTES as usize {
                // A crash right after the file was created: nothing in it was acknowledged.
                let tail = TornTail {
                    file: path.clone(),
                    offset: 0,
                    bytes_dropped: bytes.len() as u64,
                    records_dropped: Some(0),
                    detail: reason,
                };
                if !read_only {
                    fs::remove_file(path).map_err(|e| Error::io(path, e))?;
                }
                return Ok(Some(tail));
            }
            return Err(damaged(DamageKind::Header, path, 0, Some(*first), reason));
        }
        if i == state.segments.len() {
            state.segments.push(Segment {
                first_position: *first,
                path: path.clone(),
                len: SEGMENT_HEADER_BYTES,
            });
        }
        let from = state.segments[i].len;
        if *first != state.next_position && from == SEGMENT_HEADER_BYTES {
            let reason = format!(
                "segment starts at position {first}, expected {}",
                state.next_position
            );
            return Err(damaged(
                DamageKind::Sequence,
                path,
                0,
                Some(state.next_position),
                reason,
            ));
        }
        let segment = i as u32;
        let result = scan::scan_frames(
            &bytes,
            from,
            state.next_position,
            |offset, header, records| state.apply_scanned(segment, offset, header, records),
        );
        match result {
            Ok(_) => {}
            Err(fault) if fault.is_tail && last => {
                return recover_tail(path, &bytes, fault, read_only).map(Some)
            }
            Err(fault) => return Err(fault_error(path, fault)),
        }
    }
    Ok(None)
}

fn recover_tail(path: &Path, bytes: &[u8], fault: FrameFault, read_only: bool) -> Result<TornTail> {
    let tail = TornTail {
        file: path.to_path_buf(),
        offset: fault.frame_offset,
        bytes_dropped: bytes.len() as u64 - fault.frame_offset,
        records_dropped: fault.records,
        detail: fault.detail,
    };
    if !read_only {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        file.set_len(fault.frame_offset)
            .map_err(|e| Error::io(path, e))?;
        file.sync_all().map_err(|e| Error::io(path, e))?;
    }
    Ok(tail)
}

/// Opens the last segment for appending, creating the first one for a new log.
pub(super) fn open_writer(
    dir: &Path,
    state: &mut State,
    fsync: super::FsyncPolicy,
) -> Result<Writer> {
    if state.segments.is_empty() {
        return create_segment(dir, state, fsync);
    }
    let segment = (state.segments.len() - 1) as u32;
    let seg = &state.segments[segment as usize];
    let file = OpenOptions::new()
        .append(true)
        .open(&seg.path)
        .map_err(|e| Error::io(&seg.path, e))?;
    Ok(Writer {
        file: Arc::new(file),
        segment,
        len: seg.len,
        unflushed: 0,
    })
}

/// Creates the segment starting at the current end of the log.
pub(super) fn create_segment(
    dir: &Path,
    state: &mut State,
    fsync: super::FsyncPolicy,
) -> Result<Writer> {
    let first_position = state.next_position;
    let path = dir.join(format::segment_file_name(first_position));
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    file.write_all(&format::segment_header(first_position))
        .map_err(|e| Error::io(&path, e))?;
    if fsync != super::FsyncPolicy::Never {
        file.sync_all().map_err(|e| Error::io(&path, e))?;
        super::sync_dir(dir)?;
    }
    state.segments.push(Segment {
        first_position,
        path,
        len: SEGMENT_HEADER_BYTES,
    });
    Ok(Writer {
        file: Arc::new(file),
        segment: (state.segments.len() - 1) as u32,
        len: SEGMENT_HEADER_BYTES,
        unflushed: 0,
    })
}

pub(super) fn damaged(
    kind: DamageKind,
    file: &Path,
    offset: u64,
    position: Option<u64>,
    detail: String,
) -> Error {
    Error::Damaged {
        kind,
        file: file.to_path_buf(),
        offset,
        position,
        stream: None,
        sequence: None,
        detail,
    }
}

pub(super) fn fault_error(path: &Path, fault: FrameFault) -> Error {
    damaged(
        fault.kind,
        path,
        fault.offset,
        Some(fault.position),
        fault.detail,
    )
}

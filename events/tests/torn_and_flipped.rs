//! Torn tails lose only the torn record; any flipped byte is reported at the right event.

#[path = "support/helpers.rs"]
mod helpers;

use std::fs::OpenOptions;
use std::path::Path;

use helpers::{copy_dir, note, only_segment};
use ledgerloop_events::verify::verify;
use ledgerloop_events::{Error, ExpectedVersion, FileLog, FileLogOptions, FsyncPolicy, StreamId};

const EVENTS: u64 = 12;

/// Builds a log of single-event frames; returns the segment length after each append.
fn build(dir: &Path) -> anyhow::Result<Vec<u64>> {
    let log = FileLog::open(
        dir,
        FileLogOptions {
            fsync: FsyncPolicy::Never,
            ..Default::default()
        },
    )?;
    let s = StreamId::new("perceiver")?;
    let mut ends = vec![32];
    for i in 0..EVENTS {
        log.append(
            &s,
            ExpectedVersion::Any,
            vec![note(i, (i as usize * 37) % 120)],
        )?;
        ends.push(log.segments()?[0].1);
    }
    log.close()?;
    std::fs::remove_file(dir.join("index.bin"))?; // the index is checked separately
    Ok(ends)
}

/// Truncating the last segment at every offset inside its last record loses that record only.
#[test]
fn truncation_inside_last_record_loses_only_it() -> anyhow::Result<()> {
    let base = tempfile::tempdir()?;
    let ends = build(base.path())?;
    let (start, end) = (ends[EVENTS as usize - 1], ends[EVENTS as usize]);
    for cut in start..end {
        let work = tempfile::tempdir()?;
        copy_dir(base.path(), work.path());
        let seg = only_segment(work.path());
        OpenOptions::new().write(true).open(&seg)?.set_len(cut)?;
        if cut > start {
            let err = verify(work.path(), Default::default()).unwrap_err();
            assert!(
                matches!(err, Error::Damaged { position: Some(p), .. } if p == EVENTS - 1),
                "cut {cut}: {err}"
            );
        }
        let log = FileLog::open(work.path(), FileLogOptions::default())?;
        assert_eq!(log.len()?, EVENTS - 1, "cut at {cut}");
        let torn = log.open_report().torn_tail.clone();
        assert_eq!(torn.is_some(), cut > start, "cut at {cut}");
        if let Some(torn) = torn {
            assert_eq!(torn.bytes_dropped, cut - start);
        }
        log.close()?;
        verify(work.path(), Default::default())?;
    }
    Ok(())
}

/// Flipping any single byte of a segment is reported by verify at the event holding it.
#[test]
fn any_flipped_byte_is_reported_at_its_event() -> anyhow::Result<()> {
    let base = tempfile::tempdir()?;
    let ends = build(base.path())?;
    let seg_name = only_segment(base.path())
        .file_name()
        .expect("name")
        .to_owned();
    let original = std::fs::read(base.path().join(&seg_name))?;
    let work = tempfile::tempdir()?;
    copy_dir(base.path(), work.path());
    let seg = work.path().join(&seg_name);
    for offset in 0..original.len() as u64 {
        let mut bytes = original.clone();
        bytes[offset as usize] ^= 0x5a;
        std::fs::write(&seg, &bytes)?;
        let expected = if offset < 32 {
            0
        } else {
            ends.iter().rposition(|&e| e <= offset).expect("in a frame") as u64
        };
        match verify(work.path(), Default::default()) {
            Err(Error::Damaged {
                position: Some(p), ..
            }) => {
                assert_eq!(
                    p, expected,
                    "flip at offset {offset} reported at position {p}"
                )
            }
            other => panic!("flip at offset {offset} not reported: {other:?}"),
        }
    }
    std::fs::write(&seg, &original)?;
    verify(work.path(), Default::default())?;
    Ok(())
}

/// A damaged or truncated index is refused read-only (nothing modified) and rebuilt by a writer.
#[test]
fn truncated_index_is_reported_then_rebuilt() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    {
        let log = FileLog::open(dir.path(), FileLogOptions::default())?;
        log.append(
            &StreamId::new("s")?,
            ExpectedVersion::Any,
            vec![note(1, 1), note(2, 1)],
        )?;
        log.close()?;
    }
    let index = dir.path().join("index.bin");
    let len = std::fs::metadata(&index)?.len();
    OpenOptions::new()
        .write(true)
        .open(&index)?
        .set_len(len / 2)?;
    let before = std::fs::read(&index)?;
    let err = FileLog::open_read_only(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Damaged {
                kind: ledgerloop_events::DamageKind::Index,
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        verify(dir.path(), Default::default()),
        Err(Error::Damaged { .. })
    ));
    assert_eq!(
        std::fs::read(&index)?,
        before,
        "read-only paths modify nothing"
    );
    let log = FileLog::open(dir.path(), FileLogOptions::default())?;
    assert!(matches!(
        log.open_report().index,
        ledgerloop_events::file_log::IndexStatus::Rebuilt { .. }
    ));
    assert_eq!(log.len()?, 2);
    log.close()?;
    verify(dir.path(), Default::default())?;
    Ok(())
}

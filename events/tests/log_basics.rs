//! Appends, reads, idempotency, conflicts, locking and following on the embedded log.

#[path = "support/helpers.rs"]
mod helpers;

use std::time::Duration;

use futures::StreamExt;
use helpers::{drift, note};
use ledgerloop_events::verify::{verify, VerifyOptions};
use ledgerloop_events::{
    Error, EventLog, ExpectedVersion, FileLog, FileLogOptions, FsyncPolicy, Hash, NewEvent,
    StreamId,
};

fn options(fsync: FsyncPolicy) -> FileLogOptions {
    FileLogOptions {
        fsync,
        ..Default::default()
    }
}

/// Events read back equal what was appended, chain per stream, and survive a reopen.
#[test]
fn append_read_chain_and_reopen() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let a = StreamId::new("drift_judge.ont")?;
    let b = StreamId::new("operator")?;
    {
        let log = FileLog::open(dir.path(), options(FsyncPolicy::Always))?;
        let out = log.append(&a, ExpectedVersion::NoStream, vec![drift(1), drift(2)])?;
        assert_eq!(
            (out.first_position, out.last_sequence, out.already_stored),
            (0, 2, false)
        );
        let out = log.append(&b, ExpectedVersion::Exact(0), vec![note(3, 10)])?;
        assert_eq!((out.first_position, out.last_sequence), (2, 1));
        log.append(&a, ExpectedVersion::Exact(2), vec![drift(4)])?;
        log.close()?;
    }
    let log = FileLog::open_read_only(dir.path())?;
    let all: Vec<_> = log.read_all(0)?.collect::<Result<_, _>>()?;
    assert_eq!(all.len(), 4);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.position, i as u64);
        assert_eq!(e.hash, e.computed_hash(), "hash covers the canonical bytes");
        e.decode()?;
    }
    let stream_a = log.read_stream(&a, 1, 10)?;
    assert_eq!(
        stream_a.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(stream_a[0].prev_hash, Hash::GENESIS);
    assert_eq!(stream_a[1].prev_hash, stream_a[0].hash);
    assert_eq!(stream_a[2].prev_hash, stream_a[1].hash);
    assert_eq!(log.read_stream(&a, 3, 10)?.len(), 1);
    assert!(matches!(
        log.open_report().index,
        ledgerloop_events::file_log::IndexStatus::Loaded { covered_events: 4 }
    ));
    Ok(())
}

/// Re-appending stored ids returns the original positions and writes nothing, also after
/// a restart; a half-stored batch is refused.
#[test]
fn idempotent_by_event_id_across_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let s = StreamId::new("perceiver")?;
    let first = {
        let log = FileLog::open(dir.path(), options(FsyncPolicy::Batch))?;
        log.append(&s, ExpectedVersion::Any, vec![note(1, 5)])?;
        let out = log.append(&s, ExpectedVersion::Any, vec![note(2, 5), note(3, 5)])?;
        let again = log.append(&s, ExpectedVersion::Exact(0), vec![note(2, 5), note(3, 5)])?;
        assert_eq!(
            (
                again.first_position,
                again.last_sequence,
                again.already_stored
            ),
            (1, 3, true)
        );
        out
    }; // dropped without close: the next open scans instead of trusting a checkpoint
    let log = FileLog::open(dir.path(), options(FsyncPolicy::Batch))?;
    let again = log.append(&s, ExpectedVersion::Any, vec![note(2, 5), note(3, 5)])?;
    assert_eq!(
        (again.first_position, again.last_sequence),
        (first.first_position, first.last_sequence)
    );
    assert!(again.already_stored);
    assert_eq!(log.len()?, 3, "nothing written by the retries");
    let mixed = log.append(&s, ExpectedVersion::Any, vec![note(3, 5), note(9, 5)]);
    assert!(
        matches!(mixed, Err(Error::IdempotencyMismatch { .. })),
        "{mixed:?}"
    );
    let other = log.append(
        &StreamId::new("elsewhere")?,
        ExpectedVersion::Any,
        vec![note(1, 5)],
    );
    assert!(
        matches!(other, Err(Error::IdempotencyMismatch { .. })),
        "{other:?}"
    );
    assert_eq!(log.len()?, 3);
    Ok(())
}

/// A wrong expected version is a typed conflict and writes nothing.
#[test]
fn expected_version_mismatch_is_a_conflict() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let log = FileLog::open(dir.path(), options(FsyncPolicy::Never))?;
    let s = StreamId::new("trainer")?;
    log.append(&s, ExpectedVersion::NoStream, vec![note(1, 1)])?;
    let err = log
        .append(&s, ExpectedVersion::NoStream, vec![note(2, 1)])
        .unwrap_err();
    assert!(matches!(&err, Error::Conflict { actual: 1, .. }), "{err}");
    assert!(err.is_rejection());
    let err = log
        .append(&s, ExpectedVersion::Exact(5), vec![note(2, 1)])
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }));
    assert_eq!(log.len()?, 1);
    Ok(())
}

/// Two tasks appending with the same expected version: exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_one_winner() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let log = FileLog::open(dir.path(), options(FsyncPolicy::Batch))?;
    for round in 0..50u64 {
        let s = StreamId::new(format!("race-{round}"))?;
        let (l1, l2, s1, s2) = (log.clone(), log.clone(), s.clone(), s.clone());
        let t1 = tokio::spawn(async move {
            EventLog::append(
                &l1,
                &s1,
                ExpectedVersion::Exact(0),
                vec![note(round * 2, 3)],
            )
            .await
        });
        let t2 = tokio::spawn(async move {
            EventLog::append(
                &l2,
                &s2,
                ExpectedVersion::Exact(0),
                vec![note(round * 2 + 1, 3)],
            )
            .await
        });
        let (r1, r2) = (t1.await?, t2.await?);
        let wins = [&r1, &r2].iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {r1:?} {r2:?}");
        let loser = if r1.is_ok() { r2 } else { r1 };
        assert!(
            matches!(loser, Err(Error::Conflict { actual: 1, .. })),
            "round {round}: {loser:?}"
        );
        assert_eq!(log.stream_version(&s)?, 1);
    }
    Ok(())
}

/// A second writer on the same directory is refused with a clear error; readers are not.
#[test]
fn second_writer_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let _first = FileLog::open(dir.path(), options(FsyncPolicy::Never))?;
    let second = FileLog::open(dir.path(), options(FsyncPolicy::Never));
    let err = second.unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("already open for writing"));
    FileLog::open_read_only(dir.path())?;
    Ok(())
}

/// `follow` yields stored events, then new ones as they are appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_yields_live_appends() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let log = FileLog::open(dir.path(), options(FsyncPolicy::Never))?;
    let s = StreamId::new("releaser")?;
    log.append(&s, ExpectedVersion::Any, vec![note(1, 1), note(2, 1)])?;
    let mut follow = EventLog::follow(&log, 1);
    let first = tokio::time::timeout(Duration::from_secs(5), follow.next())
        .await?
        .expect("event")?;
    assert_eq!(first.position, 1);
    let writer = log.clone();
    let s2 = s.clone();
    tokio::spawn(async move {
        for i in 3..6 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            writer
                .append(&s2, ExpectedVersion::Any, vec![note(i, 1)])
                .expect("append");
        }
    });
    for expected in 2..5 {
        let event = tokio::time::timeout(Duration::from_secs(5), follow.next())
            .await?
            .expect("event")?;
        assert_eq!(event.position, expected);
    }
    Ok(())
}

/// Segments roll at the size limit and reads cross segment boundaries.
#[test]
fn segments_roll_and_reads_cross_them() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let opts = FileLogOptions {
        fsync: FsyncPolicy::Never,
        max_segment_bytes: 4096,
    };
    let s = StreamId::new("world")?;
    {
        let log = FileLog::open(dir.path(), opts.clone())?;
        for i in 0..100 {
            log.append(&s, ExpectedVersion::Exact(i), vec![note(i, 100)])?;
        }
        assert!(log.segments()?.len() > 5);
    }
    let log = FileLog::open(dir.path(), opts)?;
    log.append(&s, ExpectedVersion::Exact(100), vec![note(100, 100)])?;
    let all: Vec<_> = log.read_all(0)?.collect::<Result<_, _>>()?;
    assert_eq!(all.len(), 101);
    assert_eq!(
        log.read_stream(&s, 50, 3)?
            .iter()
            .map(|e| e.position)
            .collect::<Vec<_>>(),
        vec![49, 50, 51]
    );
    log.close()?;
    ledgerloop_events::verify::verify(dir.path(), Default::default())?;
    Ok(())
}

/// Import refuses an over-long or malformed line, naming the file and line, and writes nothing.
#[test]
fn import_refuses_bad_lines() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let log = FileLog::open(dir.path(), options(FsyncPolicy::Never))?;
    let long = format!(
        "{}\n",
        "x".repeat(ledgerloop_events::jsonl::MAX_LINE_BYTES + 10)
    );
    let err =
        ledgerloop_events::jsonl::import(&log, &mut long.as_bytes(), "big.jsonl").unwrap_err();
    assert!(matches!(&err, Error::BadInput { line: 1, .. }), "{err}");
    assert!(err.to_string().starts_with("big.jsonl:1:"), "{err}");
    let garbage = "\n{\"id\": 3}\n";
    let err =
        ledgerloop_events::jsonl::import(&log, &mut garbage.as_bytes(), "g.jsonl").unwrap_err();
    assert!(matches!(&err, Error::BadInput { line: 2, .. }), "{err}");
    assert_eq!(log.len()?, 0);
    Ok(())
}

/// With fsync `never`, a log written past the background-fsync threshold and across
/// several segment rollovers reads back, verifies and keeps its ids after reopening.
#[test]
fn never_policy_with_background_fsync_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = FileLogOptions {
        fsync: FsyncPolicy::Never,
        max_segment_bytes: 3 << 20,
    };
    let log = FileLog::open(dir.path(), options.clone()).expect("open");
    let stream = StreamId::new("bulk").expect("stream");
    let batches: Vec<Vec<NewEvent>> = (0..24u64)
        .map(|b| (0..1000).map(|i| note(b * 1000 + i, 300)).collect())
        .collect();
    for batch in &batches {
        log.append(&stream, ExpectedVersion::Any, batch.clone())
            .expect("append");
    }
    assert!(log.segments().expect("segments").len() >= 4);
    log.close().expect("close");
    drop(log);
    let report = verify(dir.path(), VerifyOptions::default()).expect("verify");
    assert_eq!(report.events, 24_000);
    let log = FileLog::open(dir.path(), options).expect("reopen");
    let retry = log
        .append(&stream, ExpectedVersion::Any, batches[7].clone())
        .expect("retry");
    assert!(retry.already_stored);
    assert_eq!(retry.first_position, 7_000);
    assert_eq!(log.len().expect("len"), 24_000);
}

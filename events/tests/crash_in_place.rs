//! `FileLog::crash_and_reopen`: a simulated crash during the last append tears that
//! frame, the in-place reopen drops exactly it, and the log keeps working.

#[path = "support/helpers.rs"]
mod helpers;

use ledgerloop_events::verify::{verify, VerifyOptions};
use ledgerloop_events::{ExpectedVersion, FileLog, FileLogOptions, FsyncPolicy, StreamId};

/// The torn last batch is dropped whole, earlier batches stay, later appends chain on.
#[test]
fn crash_tears_only_the_last_batch_and_the_log_goes_on() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let options = FileLogOptions {
        fsync: FsyncPolicy::Never,
        ..Default::default()
    };
    let log = FileLog::open(dir.path(), options.clone())?;
    let other = log.clone();
    let stream = StreamId::new("s")?;
    log.append(&stream, ExpectedVersion::Any, vec![helpers::note(0, 40)])?;
    log.append(
        &stream,
        ExpectedVersion::Any,
        vec![helpers::note(1, 40), helpers::note(2, 40)],
    )?;
    for tear in [1, 7, 10_000] {
        log.append(&stream, ExpectedVersion::Any, vec![helpers::note(3, 90)])?;
        let torn = log.crash_and_reopen(tear)?.expect("a torn tail");
        assert_eq!(torn.records_dropped.unwrap_or(1), 1, "{torn:?}");
        // Every clone sees the recovered log.
        assert_eq!(other.len()?, 3);
        assert_eq!(other.stream_version(&stream)?, 3);
    }
    log.append(
        &stream,
        ExpectedVersion::Exact(3),
        vec![helpers::note(4, 40)],
    )?;
    assert_eq!(log.len()?, 4);
    log.close()?;
    drop((log, other));
    let report = verify(dir.path(), VerifyOptions::default())?;
    assert_eq!(report.events, 4);
    let reopened = FileLog::open(dir.path(), options)?;
    assert!(reopened.open_report().torn_tail.is_none());
    assert_eq!(reopened.len()?, 4);
    Ok(())
}

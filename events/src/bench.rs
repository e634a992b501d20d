//! The log benchmark behind `ledgerloop bench log`: append throughput under each fsync
//! policy, the disk's own fsync rate, and read + verify throughput. Events carry
//! 256-byte payloads.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalogue::{Event, OperatorNoted};
use crate::file_log::{FileLog, FileLogOptions, FsyncPolicy};
use crate::ids::{deterministic_v7, Actor, StreamId};
use crate::log::ExpectedVersion;
use crate::verify::{verify, VerifyOptions};
use crate::{Error, NewEvent, Result};

/// Payload size the figures are quoted for.
pub const BENCH_PAYLOAD_BYTES: usize = 256;

/// Sizes of the benchmark runs.
#[derive(Debug, Clone, Copy)]
pub struct LogBenchConfig {
    /// Events appended without fsync (and then read and verified).
    pub events: u64,
    /// Events appended with fsync per batch of 1,000.
    pub fsync_batch_events: u64,
    /// Events appended with fsync per event.
    pub fsync_event_events: u64,
}

impl Default for LogBenchConfig {
    fn default() -> Self {
        LogBenchConfig {
            events: 1_000_000,
            fsync_batch_events: 100_000,
            fsync_event_events: 2_000,
        }
    }
}

/// Measured figures.
#[derive(Debug, Clone, Serialize)]
pub struct LogBenchFigures {
    pub payload_bytes: usize,
    pub append_no_fsync_events_per_s: f64,
    pub append_no_fsync_mib_per_s: f64,
    pub append_fsync_per_1000_batch_events_per_s: f64,
    pub append_fsync_per_event_events_per_s: f64,
    pub disk_fdatasync_per_s: f64,
    pub read_events_per_s: f64,
    pub verify_events_per_s: f64,
}

/// An event whose payload JSON is exactly [`BENCH_PAYLOAD_BYTES`] long.
pub fn sample_event(i: u64) -> Result<NewEvent> {
    let time = DateTime::<Utc>::from_timestamp(1_700_000_000 + i as i64, 0).unwrap_or_default();
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&i.to_le_bytes());
    let overhead = serde_json::to_vec(&OperatorNoted {
        operator: "bench".into(),
        text: String::new(),
    })
    .map_err(|e| Error::InvalidEvent {
        reason: e.to_string(),
    })?
    .len();
    let text = "x".repeat(BENCH_PAYLOAD_BYTES - overhead);
    let event = Event::OperatorNoted(OperatorNoted {
        operator: "bench".into(),
        text,
    });
    NewEvent::new(
        deterministic_v7(time, random),
        time,
        Actor::new("operator", "bench"),
        &event,
    )
}

/// Runs every measurement in fresh sub-directories of `dir`.
pub fn run(dir: &Path, config: LogBenchConfig) -> Result<LogBenchFigures> {
    let template = sample_event(0)?;
    debug_assert_eq!(template.payload.len(), BENCH_PAYLOAD_BYTES);
    let never = dir.join("never");
    let (rate, bytes_per_s) = append_run(&never, FsyncPolicy::Never, config.events, 1000)?;
    let read_start = Instant::now();
    let log = FileLog::open_read_only(&never)?;
    let mut read = 0u64;
    for event in log.read_all(0)? {
        event?;
        read += 1;
    }
    let read_rate = read as f64 / read_start.elapsed().as_secs_f64();
    let verify_start = Instant::now();
    let report = verify(&never, VerifyOptions::default())?;
    let verify_rate = report.events as f64 / verify_start.elapsed().as_secs_f64();
    let (batch_rate, _) = append_run(
        &dir.join("batch"),
        FsyncPolicy::Always,
        config.fsync_batch_events,
        1000,
    )?;
    let (event_rate, _) = append_run(
        &dir.join("event"),
        FsyncPolicy::Always,
        config.fsync_event_events,
        1,
    )?;
    Ok(LogBenchFigures {
        payload_bytes: BENCH_PAYLOAD_BYTES,
        append_no_fsync_events_per_s: rate,
        append_no_fsync_mib_per_s: bytes_per_s / (1 << 20) as f64,
        append_fsync_per_1000_batch_events_per_s: batch_rate,
        append_fsync_per_event_events_per_s: event_rate,
        disk_fdatasync_per_s: disk_fsync_rate(dir)?,
        read_events_per_s: read_rate,
        verify_events_per_s: verify_rate,
    })
}

/// Appends `events` in batches of `batch`; returns events/s and bytes/s on disk. Event
/// construction happens outside the timed region; framing, hashing and writing inside.
fn append_run(dir: &Path, fsync: FsyncPolicy, events: u64, batch: u64) -> Result<(f64, f64)> {
    let log = FileLog::open(
        dir,
        FileLogOptions {
            fsync,
            ..Default::default()
        },
    )?;
    let stream = StreamId::new("bench")?;
    let mut elapsed = 0f64;
    let mut i = 0;
    while i < events {
        let n = batch.min(events - i);
        let prepared = (i..i + n).map(sample_event).collect::<Result<Vec<_>>>()?;
        let start = Instant::now();
        log.append(&stream, ExpectedVersion::Any, prepared)?;
        elapsed += start.elapsed().as_secs_f64();
        i += n;
    }
    let start = Instant::now();
    log.close()?;
    elapsed += start.elapsed().as_secs_f64();
    let bytes: u64 = log.segments()?.iter().map(|(_, b)| b).sum();
    Ok((events as f64 / elapsed, bytes as f64 / elapsed))
}

/// The disk's own rate of 4 KiB write + fdatasync, for comparison with the log's figures.
fn disk_fsync_rate(dir: &Path) -> Result<f64> {
    let path = dir.join("fsync-probe");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let block = [0u8; 4096];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < 2.0 {
        file.write_all(&block).map_err(|e| Error::io(&path, e))?;
        file.sync_data().map_err(|e| Error::io(&path, e))?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

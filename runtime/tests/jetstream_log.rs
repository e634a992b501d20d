//! The JetStream backend of the event log against a real nats-server: appends chain and
//! number like the embedded log, concurrency and retries are safe, the export to an
//! embedded log reproduces every hash, and a server killed mid-way loses nothing it
//! acknowledged.

#[path = "support/nats.rs"]
mod nats;

use std::time::Duration;

use anyhow::{ensure, Result};
use chrono::{TimeZone, Utc};
use futures::StreamExt as _;
use ledgerloop_events::catalogue::DayClosed;
use ledgerloop_events::verify::{verify, VerifyOptions};
use ledgerloop_events::{Actor, Event, EventLog, ExpectedVersion, FileLog, NewEvent, StreamId};
use ledgerloop_runtime::mesh::export::export_to_dir;
use ledgerloop_runtime::mesh::jetstream::{JetStreamLog, EVENTS_STREAM};
use nats::NatsServer;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

fn event(day: u32) -> Result<NewEvent> {
    let payload = Event::DayClosed(DayClosed {
        day,
        ..Default::default()
    });
    let time = Utc
        .timestamp_opt(1_700_000_000 + i64::from(day), 0)
        .unwrap();
    Ok(NewEvent::new(
        Uuid::now_v7(),
        time,
        Actor::new("world", "test"),
        &payload,
    )?)
}

async fn connect(server: &NatsServer) -> Result<JetStreamLog> {
    let client = tokio::time::timeout(WAIT, async_nats::connect(server.url())).await??;
    Ok(JetStreamLog::open(client, "t1", EVENTS_STREAM).await?)
}

/// Appends chain per stream and number globally; conflicts and retries behave as in the
/// embedded log; reads by position and by stream return what was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_chain_and_read_back() -> Result<()> {
    let server = NatsServer::start()?;
    let log = connect(&server).await?;
    let a = StreamId::new("world")?;
    let b = StreamId::new("drift_judge")?;
    let first = vec![event(1)?, event(2)?];
    let out = log
        .append(&a, ExpectedVersion::NoStream, first.clone())
        .await?;
    ensure!(out.first_position == 0 && out.last_sequence == 2 && !out.already_stored);
    let out = log
        .append(&b, ExpectedVersion::Any, vec![event(3)?])
        .await?;
    ensure!(out.first_position == 2 && out.last_sequence == 1);
    // A retried batch is acknowledged as stored, not written twice.
    let again = log.append(&a, ExpectedVersion::Any, first).await?;
    ensure!(
        again.already_stored && again.first_position == 0,
        "{again:?}"
    );
    // A stale expectation is refused and writes nothing.
    let stale = log
        .append(&a, ExpectedVersion::Exact(1), vec![event(4)?])
        .await;
    ensure!(
        matches!(
            stale,
            Err(ledgerloop_events::Error::Conflict { actual: 2, .. })
        ),
        "{stale:?}"
    );
    log.append(&a, ExpectedVersion::Exact(2), vec![event(5)?])
        .await?;
    let all = log.read_all(0, 100).await?;
    ensure!(all.len() == 4, "{} events", all.len());
    ensure!(all.iter().enumerate().all(|(i, e)| e.position == i as u64));
    let stream = log.read_stream(&a, 2, 10).await?;
    ensure!(stream.len() == 2 && stream[0].sequence == 2 && stream[1].prev_hash == stream[0].hash);
    ensure!(log.stream_version(&a).await? == 3 && log.stream_version(&b).await? == 1);
    // A second client sees the same heads and continues the chains.
    let other = connect(&server).await?;
    other
        .append(&b, ExpectedVersion::Exact(1), vec![event(6)?])
        .await?;
    let out = log
        .append(&a, ExpectedVersion::Any, vec![event(7)?])
        .await?;
    ensure!(out.first_position == 5 && out.last_sequence == 4, "{out:?}");
    let followed: Vec<_> =
        tokio::time::timeout(WAIT, log.follow(3).take(3).collect::<Vec<_>>()).await?;
    ensure!(followed.len() == 3);
    ensure!(followed[0].as_ref().map(|e| e.position).ok() == Some(3));
    Ok(())
}

/// The export to an embedded log keeps ids, sequences and hashes, and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_reproduces_every_hash() -> Result<()> {
    let server = NatsServer::start()?;
    let log = connect(&server).await?;
    for i in 0..20u32 {
        let stream = StreamId::new(if i % 3 == 0 { "world" } else { "releaser" })?;
        let batch = (0..=i % 4)
            .map(|k| event(i * 10 + k))
            .collect::<Result<Vec<_>>>()?;
        log.append(&stream, ExpectedVersion::Any, batch).await?;
    }
    let dir = tempfile::tempdir()?;
    let report = export_to_dir(&log, &dir.path().join("log")).await?;
    let original = log.read_all(0, 1000).await?;
    ensure!(report.events == original.len() as u64 && report.batches == 20);
    verify(
        &dir.path().join("log"),
        VerifyOptions {
            decode_payloads: true,
        },
    )?;
    let exported = FileLog::open_read_only(dir.path().join("log"))?
        .read_all(0)?
        .collect::<Result<Vec<_>, _>>()?;
    for (a, b) in original.iter().zip(&exported) {
        ensure!(a.id == b.id && a.hash == b.hash && a.sequence == b.sequence);
    }
    // Exporting into a folder that already holds a log is refused.
    let again = export_to_dir(&log, &dir.path().join("log")).await;
    ensure!(again.is_err());
    Ok(())
}

/// Killing the server and starting it again loses no acknowledged batch; the client
/// reconnects and appends continue the chains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_batches_survive_a_server_restart() -> Result<()> {
    let mut server = NatsServer::start()?;
    let log = connect(&server).await?;
    let stream = StreamId::new("world")?;
    for day in 0..50 {
        log.append(&stream, ExpectedVersion::Any, vec![event(day)?])
            .await?;
    }
    server.restart()?;
    // The first appends after the restart may fail while the client reconnects.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match log
            .append(&stream, ExpectedVersion::Exact(50), vec![event(50)?])
            .await
        {
            Ok(_) => break,
            Err(e) => {
                ensure!(tokio::time::Instant::now() < deadline, "no reconnect: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let all = log.read_all(0, 100).await?;
    ensure!(all.len() == 51, "{} events after restart", all.len());
    ensure!(all.windows(2).all(|w| w[1].prev_hash == w[0].hash));
    Ok(())
}

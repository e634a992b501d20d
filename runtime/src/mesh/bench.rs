//! The figures behind `ledgerloop bench jetstream`: event appends through
//! [`JetStreamLog`] beside raw async-nats publishes measured in the same run, so the
//! cost of the log's guarantees (expected sequences, one acknowledged message per batch,
//! hashing) is visible.

use std::time::Instant;

use async_nats::jetstream::stream::{Config, StorageType};
use chrono::{TimeZone, Utc};
use ledgerloop_events::catalogue::DayClosed;
use ledgerloop_events::{Actor, Event, EventLog as _, ExpectedVersion, NewEvent, StreamId};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{nats, Result};
use crate::mesh::jetstream::JetStreamLog;
use crate::mesh::run::{connect, MeshOptions};

/// Streams the benchmark creates (and deletes afterwards).
const BENCH_EVENTS_STREAM: &str = "LL_BENCH_EVENTS";
const BENCH_RAW_STREAM: &str = "LL_BENCH_RAW";
/// Scenario name of the benchmark's log.
const BENCH_SCENARIO: &str = "llbench";
/// Raw publishes kept in flight before awaiting their acknowledgements.
const RAW_WINDOW: usize = 256;

/// One benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct JetStreamBench {
    /// Server version.
    pub server_version: String,
    /// Events appended per measurement.
    pub events: u64,
    /// Events per appended batch.
    pub batch_events: usize,
    /// Core NATS publishes (no JetStream, no acknowledgement), messages/s.
    pub core_publish_msgs_per_s: f64,
    /// Raw JetStream publishes of 256-byte messages, each acknowledgement awaited.
    pub raw_js_publish_acked_msgs_per_s: f64,
    /// Raw JetStream publishes with up to 256 acknowledgements outstanding.
    pub raw_js_publish_windowed_msgs_per_s: f64,
    /// [`JetStreamLog`] appends of one event per batch, events/s.
    pub log_append_single_events_per_s: f64,
    /// [`JetStreamLog`] appends of `batch_events` per batch, events/s.
    pub log_append_batched_events_per_s: f64,
    /// p50 / p99 latency of a one-event append, microseconds.
    pub log_append_latency_us_p50: u64,
    /// p99 latency of a one-event append, microseconds.
    pub log_append_latency_us_p99: u64,
}

fn event(i: u64) -> Result<NewEvent> {
    let day = DayClosed {
        day: (i % 10_000) as u32,
        ..Default::default()
    };
    let time = Utc
        .timestamp_opt(1_700_000_000 + i as i64, 0)
        .single()
        .unwrap_or_default();
    Ok(NewEvent::new(
        Uuid::now_v7(),
        time,
        Actor::new("bench", "jetstream"),
        &Event::DayClosed(day),
    )?)
}

/// Runs the benchmark against the server in `options` (it creates and deletes its own
/// streams; nothing else on the server is touched).
pub async fn bench_jetstream(
    options: &MeshOptions,
    events: u64,
    batch_events: usize,
) -> Result<JetStreamBench> {
    let client = connect(options).await?;
    let js = async_nats::jetstream::new(client.clone());
    for name in [BENCH_EVENTS_STREAM, BENCH_RAW_STREAM] {
        let _ = js.delete_stream(name).await;
    }
    let payload = bytes::Bytes::from(vec![b'x'; 256]);

    let start = Instant::now();
    for _ in 0..events {
        client
            .publish("llbench.core", payload.clone())
            .await
            .map_err(nats("core publish"))?;
    }
    client.flush().await.map_err(nats("flush"))?;
    let core = events as f64 / start.elapsed().as_secs_f64();

    js.create_stream(Config {
        name: BENCH_RAW_STREAM.into(),
        subjects: vec!["llbench.raw".into()],
        storage: StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(nats("create bench stream"))?;
    let n = (events / 4).max(1);
    let start = Instant::now();
    for _ in 0..n {
        js.publish("llbench.raw", payload.clone())
            .await
            .map_err(nats("publish"))?
            .await
            .map_err(nats("ack"))?;
    }
    let acked = n as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut pending = std::collections::VecDeque::with_capacity(RAW_WINDOW);
    for _ in 0..events {
        if pending.len() == RAW_WINDOW {
            let ack: async_nats::jetstream::context::PublishAckFuture =
                pending.pop_front().expect("window is full");
            ack.await.map_err(nats("ack"))?;
        }
        pending.push_back(
            js.publish("llbench.raw", payload.clone())
                .await
                .map_err(nats("publish"))?,
        );
    }
    for ack in pending {
        ack.await.map_err(nats("ack"))?;
    }
    let windowed = events as f64 / start.elapsed().as_secs_f64();

    let log = JetStreamLog::open(client.clone(), BENCH_SCENARIO, BENCH_EVENTS_STREAM).await?;
    let stream = StreamId::new("bench")?;
    let mut latencies = Vec::with_capacity(n as usize);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        log.append(&stream, ExpectedVersion::Any, vec![event(i)?])
            .await?;
        latencies.push(t.elapsed().as_micros() as u64);
    }
    let single = n as f64 / start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];

    let batches = (events / batch_events as u64).max(1);
    let start = Instant::now();
    for b in 0..batches {
        let batch = (0..batch_events as u64)
            .map(|k| event(b * batch_events as u64 + k))
            .collect::<Result<Vec<_>>>()?;
        log.append(&stream, ExpectedVersion::Any, batch).await?;
    }
    let batched = (batches * batch_events as u64) as f64 / start.elapsed().as_secs_f64();

    for name in [BENCH_EVENTS_STREAM, BENCH_RAW_STREAM] {
        let _ = js.delete_stream(name).await;
    }
    Ok(JetStreamBench {
        server_version: client.server_info().version,
        events,
        batch_events,
        core_publish_msgs_per_s: core,
        raw_js_publish_acked_msgs_per_s: acked,
        raw_js_publish_windowed_msgs_per_s: windowed,
        log_append_single_events_per_s: single,
        log_append_batched_events_per_s: batched,
        log_append_latency_us_p50: quantile(0.5),
        log_append_latency_us_p99: quantile(0.99),
    })
}

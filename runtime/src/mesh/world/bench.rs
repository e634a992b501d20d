//! The figures behind `ledgerloop bench telemetry`: readings published as the devices
//! publish them (sharded, batched into parts) and taken in by the Perceiver ingest until
//! each hour is assembled in row order, beside a raw async-nats subscriber counting the
//! same messages in the same run.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde::Serialize;

use super::server::{start_ingest, Ingest};
use super::{shard_of, TelemetryPart, WireInputs, SHARDS};
use crate::error::{nats, Error, Result};
use crate::mesh::run::{connect, MeshOptions};
use crate::mesh::subjects;

/// Scenario name of the benchmark's subjects.
const BENCH_SCENARIO: &str = "llbench";
/// Columns per reading (the ONT world's count).
const BENCH_FEATURES: usize = 12;
/// Rows of one benchmark hour.
const ROWS_PER_HOUR: usize = 10_000;
/// How long the raw subscriber may take to see every message.
const RAW_WAIT: Duration = Duration::from_secs(120);

/// One benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct TelemetryBench {
    /// Server version.
    pub server_version: String,
    /// Readings sent per measurement.
    pub readings: u64,
    /// Readings per message.
    pub readings_per_message: usize,
    /// Raw: messages/s a plain subscriber receives (publisher running alongside).
    pub raw_msgs_per_s: f64,
    /// Through the ingest: readings/s from the first publish to the last hour assembled.
    pub ingest_readings_per_s: f64,
    /// Through the ingest: messages/s over the same span.
    pub ingest_msgs_per_s: f64,
    /// Most readings the ingest held at once.
    pub ingest_peak_rows: u64,
}

/// One hour of `rows` readings split by shard into parts of `per_message`.
fn hour_parts(hour: u64, rows: usize, per_message: usize) -> Vec<TelemetryPart> {
    let mut by_shard: Vec<Vec<u32>> = vec![Vec::new(); SHARDS as usize];
    for row in 0..rows as u32 {
        by_shard[shard_of(u64::from(row)) as usize].push(row);
    }
    let mut parts = Vec::new();
    for (shard, rows) in by_shard.iter().enumerate() {
        for chunk in rows.chunks(per_message) {
            parts.push(TelemetryPart {
                hour,
                part: parts.len() as u32,
                shard: shard as u64,
                rows: chunk.to_vec(),
                keys: chunk.iter().map(|r| u64::from(*r)).collect(),
                slices: vec![0; chunk.len()],
                inputs: WireInputs::Tabular {
                    n_features: BENCH_FEATURES,
                    values: chunk
                        .iter()
                        .flat_map(|r| {
                            (0..BENCH_FEATURES).map(move |c| (*r as f32) * 0.5 + c as f32)
                        })
                        .collect(),
                },
            });
        }
    }
    parts
}

async fn publish_hour(
    client: &async_nats::Client,
    parts: &[Vec<u8>],
    shards: &[u64],
) -> Result<()> {
    for (bytes, shard) in parts.iter().zip(shards) {
        client
            .publish(
                subjects::telemetry(BENCH_SCENARIO, *shard as u32),
                bytes.clone().into(),
            )
            .await
            .map_err(nats("publish telemetry"))?;
    }
    client.flush().await.map_err(nats("flush"))
}

/// Publishes `readings` readings, `per_message` to a message, and measures both the raw
/// subscriber and the ingest.
pub async fn bench_telemetry(
    options: &MeshOptions,
    readings: u64,
    per_message: usize,
) -> Result<TelemetryBench> {
    let client = connect(options).await?;
    let hours = (readings as usize).div_ceil(ROWS_PER_HOUR) as u64;
    let encoded: Vec<(Vec<Vec<u8>>, Vec<u64>, u32)> = (0..hours)
        .map(|h| {
            let parts = hour_parts(h, ROWS_PER_HOUR, per_message);
            let shards = parts.iter().map(|p| p.shard).collect();
            let count = parts.len() as u32;
            let bytes = parts
                .iter()
                .map(serde_json::to_vec)
                .collect::<std::result::Result<_, _>>()?;
            Ok((bytes, shards, count))
        })
        .collect::<Result<_>>()?;
    let messages: usize = encoded.iter().map(|(b, _, _)| b.len()).sum();

    // Raw: a plain subscriber counting what arrives while the hours are published.
    let mut raw = client
        .subscribe(subjects::telemetry_all(BENCH_SCENARIO))
        .await
        .map_err(nats("subscribe"))?;
    client.flush().await.map_err(nats("flush"))?;
    let started = Instant::now();
    let counter = tokio::spawn(async move {
        let mut seen = 0usize;
        while seen < messages {
            match tokio::time::timeout(RAW_WAIT, raw.next()).await {
                Ok(Some(_)) => seen += 1,
                _ => break,
            }
        }
        seen
    });
    for (bytes, shards, _) in &encoded {
        publish_hour(&client, bytes, shards).await?;
    }
    let seen = counter.await.map_err(|e| Error::Mesh {
        reason: format!("raw subscriber: {e}"),
    })?;
    let raw_s = started.elapsed().as_secs_f64();

    // Through the ingest: every hour published, then closed (assembled) as the host does.
    let ingest = Ingest::default();
    let task = start_ingest(&client, BENCH_SCENARIO, ingest.clone()).await?;
    client.flush().await.map_err(nats("flush"))?;
    let started = Instant::now();
    for (hour, (bytes, shards, count)) in encoded.iter().enumerate() {
        publish_hour(&client, bytes, shards).await?;
        let ingest = ingest.clone();
        let count = *count;
        let assembled = tokio::task::spawn_blocking(move || {
            ingest.assemble_hour(hour as u64, ROWS_PER_HOUR as u32, BENCH_FEATURES, count)
        })
        .await
        .map_err(|e| Error::Mesh {
            reason: format!("ingest: {e}"),
        })??;
        if assembled != ROWS_PER_HOUR {
            return Err(Error::Mesh {
                reason: format!("hour {hour}: {assembled} rows assembled"),
            });
        }
    }
    let ingest_s = started.elapsed().as_secs_f64();
    task.abort();
    let sent = hours * ROWS_PER_HOUR as u64;
    if seen < messages {
        return Err(Error::Mesh {
            reason: format!(
                "the raw subscriber saw {seen} of {messages} messages (slow consumer?)"
            ),
        });
    }
    Ok(TelemetryBench {
        server_version: client.server_info().version,
        readings: sent,
        readings_per_message: per_message,
        raw_msgs_per_s: messages as f64 / raw_s,
        ingest_readings_per_s: sent as f64 / ingest_s,
        ingest_msgs_per_s: messages as f64 / ingest_s,
        ingest_peak_rows: ingest.stats().peak_rows,
    })
}

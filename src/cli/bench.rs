//! `ledgerloop bench ...`: throughput figures, measured on this machine.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use ledgerloop_events::bench::{self, LogBenchConfig};

pub const EXAMPLES: &str = "\
Examples:
  ledgerloop bench log --events 1000000
  ledgerloop bench sim --devices 10000 --days 90 --json
  ledgerloop bench jetstream --nats nats://127.0.0.1:4222

Build with --release (cargo run --release -- bench ...): debug figures mean little.";

const LOG_EXAMPLES: &str = "\
Examples:
  # One million events in a scratch folder beside the current one (removed afterwards).
  ledgerloop bench log --events 1000000
  # On another disk; the folder must not exist.
  ledgerloop bench log --events 200000 --dir /var/tmp/llbench --json";

const SIM_EXAMPLES: &str = "\
Examples:
  # The README's figure: 10,000 devices x 90 days.
  ledgerloop bench sim --devices 10000 --days 90
  # A quick one.
  ledgerloop bench sim --devices 1000 --days 7 --json";

const JETSTREAM_EXAMPLES: &str = "\
Examples:
  # A server of your own with JetStream (nats-server -js); the benchmark's streams are
  # created and deleted, nothing else is touched.
  ledgerloop bench jetstream --nats nats://127.0.0.1:4222 --events 20000 --batch 100";

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Append (no fsync, fsync per 1,000-event batch, fsync per event), read and verify
    /// events with 256-byte payloads; prints the disk's own fsync rate beside them.
    #[command(after_help = LOG_EXAMPLES)]
    Log {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Scratch directory (must not exist; removed afterwards). Default: a temporary
        /// directory next to the current one, so the figures are for this disk.
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Append events to a JetStream log beside raw async-nats publishes measured in the
    /// same run (creates and deletes its own streams on the server).
    #[command(after_help = JETSTREAM_EXAMPLES)]
    Jetstream {
        /// Server URL.
        #[arg(long = "nats", value_name = "URL")]
        url: String,
        #[arg(long, default_value_t = 20_000)]
        events: u64,
        /// Events per appended batch in the batched measurement.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        #[arg(long)]
        json: bool,
    },
    /// Publish telemetry as the devices do (sharded, batched) and take it in through the
    /// Perceiver ingest until each hour is assembled, beside a raw subscriber.
    #[command(after_help = TELEMETRY_EXAMPLES)]
    Telemetry {
        /// Server URL.
        #[arg(long = "nats", value_name = "URL")]
        url: String,
        #[arg(long, default_value_t = 1_000_000)]
        readings: u64,
        /// Readings per message (the devices send 500).
        #[arg(long, default_value_t = ledgerloop_runtime::mesh::world::MAX_ROWS_PER_MESSAGE)]
        per_message: usize,
        #[arg(long)]
        json: bool,
    },
    /// Run the ONT world (static, served and oracle arms) over a fleet and time it;
    /// reports readings/s and peak memory.
    #[command(after_help = SIM_EXAMPLES)]
    Sim {
        #[arg(long)]
        devices: Option<u64>,
        #[arg(long)]
        days: Option<u32>,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Jetstream {
            url,
            events,
            batch,
            json,
        } => bench_jetstream(&url, events, batch, json),
        BenchCommand::Telemetry {
            url,
            readings,
            per_message,
            json,
        } => bench_telemetry(&url, readings, per_message, json),
        BenchCommand::Sim {
            devices,
            days,
            seed,
            json,
        } => {
            let report = ledgerloop_sim::bench::bench_sim(devices, days, seed)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "sim benchmark: {} devices x {} days ({} readings + {} warm-up)",
                    report.devices, report.days, report.readings, report.warmup_readings
                );
                println!("  wall time        : {:.1} s", report.elapsed_s);
                println!("  readings/s       : {:.0}", report.readings_per_s);
                println!("  peak memory      : {} MiB", report.peak_rss_kib / 1024);
                let (first, last) = report.static_accuracy_first_last;
                println!("  static accuracy  : first week {first:.3}, last week {last:.3}");
            }
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Log { events, dir, json } => {
            let scratch = match dir {
                Some(dir) => {
                    anyhow::ensure!(
                        !dir.exists(),
                        "{} exists; give a --dir that does not exist yet (it is removed \
                         afterwards), e.g. --dir /var/tmp/llbench-{}",
                        dir.display(),
                        std::process::id()
                    );
                    dir
                }
                None => std::env::current_dir()?
                    .join(format!(".ledgerloop-bench-{}", std::process::id())),
            };
            let config = LogBenchConfig {
                events,
                ..LogBenchConfig::default()
            };
            let figures = bench::run(&scratch, config);
            let removed = std::fs::remove_dir_all(&scratch);
            let figures =
                figures.with_context(|| format!("benchmark in {} failed", scratch.display()))?;
            removed.with_context(|| format!("cannot remove {}", scratch.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&figures)?);
            } else {
                println!(
                    "log benchmark, {}-byte payloads, {events} events",
                    figures.payload_bytes
                );
                println!(
                    "  append, no fsync, batches of 1000 : {:>12.0} events/s ({:.0} MiB/s)",
                    figures.append_no_fsync_events_per_s, figures.append_no_fsync_mib_per_s
                );
                println!(
                    "  append, fsync per 1000-event batch: {:>12.0} events/s",
                    figures.append_fsync_per_1000_batch_events_per_s
                );
                println!(
                    "  append, fsync per event           : {:>12.0} events/s",
                    figures.append_fsync_per_event_events_per_s
                );
                println!(
                    "  disk: 4 KiB write + fdatasync     : {:>12.0} per s",
                    figures.disk_fdatasync_per_s
                );
                println!(
                    "  read (CRC checked, decoded)        : {:>12.0} events/s",
                    figures.read_events_per_s
                );
                println!(
                    "  verify (CRC + SHA-256 + chains)    : {:>12.0} events/s",
                    figures.verify_events_per_s
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Examples of `ledgerloop bench telemetry`.
const TELEMETRY_EXAMPLES: &str = "\
Examples:
  ledgerloop bench telemetry --nats nats://127.0.0.1:4222
  # Unbatched: one reading per message.
  ledgerloop bench telemetry --nats nats://127.0.0.1:4222 --readings 200000 --per-message 1";

fn bench_telemetry(
    url: &str,
    readings: u64,
    per_message: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        readings > 0
            && (1..=ledgerloop_runtime::mesh::world::MAX_ROWS_PER_MESSAGE * 10)
                .contains(&per_message),
        "--readings must be > 0 and --per-message 1..={}",
        ledgerloop_runtime::mesh::world::MAX_ROWS_PER_MESSAGE * 10
    );
    let options = ledgerloop_runtime::mesh::run::MeshOptions::new(url);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let r = runtime
        .block_on(ledgerloop_runtime::mesh::world::bench::bench_telemetry(
            &options,
            readings,
            per_message,
        ))
        .with_context(|| format!("benchmarking telemetry on {url}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "telemetry benchmark on NATS {} ({} readings, {} per message)",
        r.server_version, r.readings, r.readings_per_message
    );
    println!(
        "  raw subscriber          : {:>10.0} msgs/s",
        r.raw_msgs_per_s
    );
    println!(
        "  Perceiver ingest        : {:>10.0} readings/s ({:.0} msgs/s), at most {} readings held",
        r.ingest_readings_per_s, r.ingest_msgs_per_s, r.ingest_peak_rows
    );
    Ok(ExitCode::SUCCESS)
}

fn bench_jetstream(url: &str, events: u64, batch: usize, json: bool) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (1..=ledgerloop_events::MAX_BATCH_EVENTS).contains(&batch) && events > 0,
        "--batch must be 1..={} and --events > 0",
        ledgerloop_events::MAX_BATCH_EVENTS
    );
    let options = ledgerloop_runtime::mesh::run::MeshOptions::new(url);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let r = runtime
        .block_on(ledgerloop_runtime::mesh::bench::bench_jetstream(
            &options, events, batch,
        ))
        .with_context(|| format!("benchmarking JetStream on {url}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "JetStream benchmark on NATS {} ({} events)",
        r.server_version, r.events
    );
    println!(
        "  core publish (no ack)          : {:>10.0} msgs/s",
        r.core_publish_msgs_per_s
    );
    println!(
        "  raw JetStream publish, acked   : {:>10.0} msgs/s",
        r.raw_js_publish_acked_msgs_per_s
    );
    println!(
        "  raw JetStream publish, window  : {:>10.0} msgs/s",
        r.raw_js_publish_windowed_msgs_per_s
    );
    println!(
        "  log append, 1 event per batch  : {:>10.0} events/s",
        r.log_append_single_events_per_s
    );
    let label = format!("log append, {} per batch", r.batch_events);
    println!(
        "  {label:<31}: {:>10.0} events/s",
        r.log_append_batched_events_per_s
    );
    println!(
        "  one-event append latency       : p50 {} us, p99 {} us",
        r.log_append_latency_us_p50, r.log_append_latency_us_p99
    );
    Ok(ExitCode::SUCCESS)
}

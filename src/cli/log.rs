//! `ledgerloop log ...`: the auditor's tools for an embedded log.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use ledgerloop_events::verify::{self, VerifyOptions};
use ledgerloop_events::{
    jsonl, Error, FileLog, FileLogOptions, FsyncPolicy, RecordedEvent, StreamId,
};
use serde::Serialize;

use super::Hint as _;

pub const EXAMPLES: &str = "\
Examples:
  ledgerloop log verify out/ont-offline-seed7/log
  ledgerloop log stats out/ont-offline-seed7/log
  ledgerloop log tail out/ont-offline-seed7/log --stream releaser -n 5";

const VERIFY_EXAMPLES: &str = "\
Examples:
  # exit 0 when intact, 1 naming the first damage
  ledgerloop log verify out/ont-offline-seed7/log
  ledgerloop log verify out/ont-offline-seed7/log --deep --json";

const SHOW_EXAMPLES: &str = "\
Examples:
  ledgerloop log show out/ont-offline-seed7/log --stream releaser --limit 20
  ledgerloop log show out/ont-offline-seed7/log --from 1000 --limit 5 --json";

const TAIL_EXAMPLES: &str = "\
Examples:
  ledgerloop log tail out/ont-offline-seed7/log
  ledgerloop log tail out/ont-offline-seed7/log --stream drift_judge -n 5 --json";

const STATS_EXAMPLES: &str = "\
Examples:
  ledgerloop log stats out/ont-offline-seed7/log
  ledgerloop log stats out/ont-offline-seed7/log --json";

const EXPORT_EXAMPLES: &str = "\
Examples:
  ledgerloop log export out/ont-offline-seed7/log --jsonl --out /tmp/events.jsonl
  ledgerloop log export out/ont-offline-seed7/log --jsonl --stream releaser > /tmp/releaser.jsonl";

const IMPORT_EXAMPLES: &str = "\
Examples:
  # after `log export ... --out /tmp/events.jsonl`; the copy hashes identically
  ledgerloop log import /tmp/copy/log --jsonl /tmp/events.jsonl
  ledgerloop log verify /tmp/copy/log";

const RECOVER_EXAMPLES: &str = "\
Examples:
  # after a crash: truncate the torn tail, rebuild the index, then verify
  ledgerloop log recover out/ont-offline-seed7/log
  ledgerloop log verify out/ont-offline-seed7/log";

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Check every checksum, hash chain and sequence; exit 1 naming the first damage.
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify {
        dir: PathBuf,
        /// Also decode (and upcast) every payload.
        #[arg(long)]
        deep: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print events in log order.
    #[command(after_help = SHOW_EXAMPLES)]
    Show(ShowArgs),
    /// Print the last events.
    #[command(after_help = TAIL_EXAMPLES)]
    Tail {
        dir: PathBuf,
        #[arg(long)]
        stream: Option<String>,
        #[arg(short = 'n', long, default_value_t = 10)]
        count: usize,
        #[arg(long)]
        json: bool,
    },
    /// Events per stream and type, size on disk, time span.
    #[command(after_help = STATS_EXAMPLES)]
    Stats {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Write the log as JSON lines (one event per line, hashes included).
    #[command(after_help = EXPORT_EXAMPLES)]
    Export {
        /// The embedded log to write as JSON lines.
        dir: Option<PathBuf>,
        /// JSON lines is the only file format; the flag makes that explicit.
        #[arg(long)]
        jsonl: bool,
        #[arg(long)]
        stream: Option<String>,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Copy a mesh run out of JetStream instead (with --scenario and --to): the log
        /// into <to>/log, stored inputs and weights into <to>/inputs and <to>/artifacts.
        #[arg(long, value_name = "URL", conflicts_with_all = ["dir", "jsonl"], requires_all = ["to", "scenario"])]
        from: Option<String>,
        /// Run folder to create (with --from).
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// Scenario name of the mesh run (with --from).
        #[arg(long)]
        scenario: Option<String>,
        /// JetStream stream holding the log (with --from).
        #[arg(long, default_value = ledgerloop_runtime::mesh::jetstream::EVENTS_STREAM)]
        nats_stream: String,
    },
    /// Append the events of a JSON-lines export to a log (created if absent); hashes are
    /// checked and must come out identical.
    #[command(after_help = IMPORT_EXAMPLES)]
    Import {
        dir: PathBuf,
        #[arg(long, value_name = "FILE")]
        jsonl: PathBuf,
        #[arg(long, default_value = "batch")]
        fsync: FsyncPolicy,
    },
    /// Open the log for writing once: truncate a torn tail and rebuild a damaged index.
    #[command(after_help = RECOVER_EXAMPLES)]
    Recover { dir: PathBuf },
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    dir: PathBuf,
    #[arg(long)]
    stream: Option<String>,
    /// First global position to show.
    #[arg(long, default_value_t = 0)]
    from: u64,
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long)]
    json: bool,
}

pub fn run(command: LogCommand) -> anyhow::Result<ExitCode> {
    match command {
        LogCommand::Verify { dir, deep, json } => verify_cmd(dir, deep, json),
        LogCommand::Show(args) => show(args),
        LogCommand::Tail {
            dir,
            stream,
            count,
            json,
        } => tail(dir, stream, count, json),
        LogCommand::Stats { dir, json } => stats(dir, json),
        LogCommand::Export {
            from: Some(url),
            to: Some(to),
            scenario: Some(scenario),
            nats_stream,
            ..
        } => export_nats(&url, &nats_stream, &scenario, &to),
        LogCommand::Export {
            dir: Some(dir),
            jsonl: true,
            stream,
            out,
            ..
        } => export(dir, stream, out),
        LogCommand::Export { .. } => bail!(
            "say what to export: `log export DIR --jsonl` for an embedded log, or \
             `log export --from nats://HOST:PORT --scenario NAME --to DIR` for a mesh run"
        ),
        LogCommand::Import { dir, jsonl, fsync } => import(dir, jsonl, fsync),
        LogCommand::Recover { dir } => recover(dir),
    }
}

fn export_nats(url: &str, stream: &str, scenario: &str, to: &Path) -> anyhow::Result<ExitCode> {
    let mut options = ledgerloop_runtime::mesh::run::MeshOptions::new(url);
    options.stream = stream.to_string();
    let report = super::mesh::export_nats(&options, scenario, to)
        .with_context(|| format!("exporting {scenario} from {url}"))?;
    println!(
        "exported {} events in {} batches and {} blobs into {}",
        report.events,
        report.batches,
        report.blobs,
        to.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn verify_cmd(dir: PathBuf, deep: bool, json: bool) -> anyhow::Result<ExitCode> {
    match verify::verify(
        &dir,
        VerifyOptions {
            decode_payloads: deep,
        },
    ) {
        Ok(report) => {
            if json {
                println!("{}", serde_json::json!({ "ok": true, "report": report }));
            } else {
                println!(
                    "ok: {} events in {} streams, {} segments, {} bytes; every checksum, hash and chain verified",
                    report.events, report.streams, report.segments, report.bytes
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(Error::Damaged {
            kind,
            file,
            offset,
            position,
            stream,
            sequence,
            detail,
        }) => {
            if json {
                let damage = serde_json::json!({
                    "kind": kind, "file": file, "offset": offset, "position": position,
                    "stream": stream, "sequence": sequence, "detail": detail,
                });
                println!("{}", serde_json::json!({ "ok": false, "damage": damage }));
            } else {
                println!(
                    "DAMAGED: {kind:?} at position {}",
                    position.map_or("-".into(), |p| p.to_string())
                );
                if let (Some(stream), Some(sequence)) = (&stream, sequence) {
                    println!("  stream:   {stream} sequence {sequence}");
                }
                println!("  file:     {} byte offset {offset}", file.display());
                println!("  detail:   {detail}");
            }
            Ok(ExitCode::from(1))
        }
        Err(other) => Err(other)
            .with_context(|| format!("cannot verify {}", dir.display()))
            .hint(|| not_a_log_hint(&dir)),
    }
}

/// What to do when a path does not open as a log.
fn not_a_log_hint(dir: &Path) -> String {
    if dir.join("FORMAT").is_file() {
        return "if the log was damaged, `ledgerloop log verify` names the damage and \
                `ledgerloop log recover` truncates a torn tail"
            .to_string();
    }
    format!(
        "{} holds no event log; a log is the log/ folder of a run, e.g. \
         out/ont-offline-seed7/log",
        dir.display()
    )
}

fn open_read(dir: &PathBuf) -> anyhow::Result<FileLog> {
    let log = FileLog::open_read_only(dir)
        .with_context(|| format!("cannot open log {}", dir.display()))
        .hint(|| not_a_log_hint(dir))?;
    if let Some(torn) = &log.open_report().torn_tail {
        tracing::warn!(
            "{} ends in a torn write ({} bytes at offset {}); it is not shown. \
             `ledgerloop log recover {}` truncates it",
            torn.file.display(),
            torn.bytes_dropped,
            torn.offset,
            dir.display()
        );
    }
    Ok(log)
}

fn parse_stream(stream: Option<String>) -> anyhow::Result<Option<StreamId>> {
    stream
        .map(StreamId::new)
        .transpose()
        .context("bad --stream")
        .hint(|| "`ledgerloop log stats DIR` lists the streams of a log".to_string())
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let log = open_read(&args.dir)?;
    let stream = parse_stream(args.stream)?;
    let limit = args.limit.unwrap_or(usize::MAX);
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    let mut shown = 0;
    for event in log.read_all(args.from)? {
        let event = event?;
        if stream.as_ref().is_some_and(|s| *s != event.stream) {
            continue;
        }
        if shown == limit {
            break;
        }
        print_event(&mut out, &event, args.json)?;
        shown += 1;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn tail(
    dir: PathBuf,
    stream: Option<String>,
    count: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let log = open_read(&dir)?;
    let events = match parse_stream(stream)? {
        Some(stream) => {
            let version = log.stream_version(&stream)?;
            log.read_stream(&stream, version.saturating_sub(count as u64) + 1, count)?
        }
        None => log.read_range(log.len()?.saturating_sub(count as u64), count)?,
    };
    let mut out = std::io::stdout().lock();
    for event in &events {
        print_event(&mut out, event, json)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_event(out: &mut dyn Write, event: &RecordedEvent, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(event)?)?;
        return Ok(());
    }
    let payload = String::from_utf8_lossy(&event.payload);
    let payload: String = if payload.chars().count() > 160 {
        payload.chars().take(157).chain("...".chars()).collect()
    } else {
        payload.into_owned()
    };
    writeln!(
        out,
        "{:>8}  {}  {}#{}  {} v{}  by {}  {}",
        event.position,
        event.time.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        event.stream,
        event.sequence,
        event.event_type,
        event.schema_version,
        event.actor,
        payload
    )?;
    Ok(())
}

#[derive(Debug, Default, Serialize)]
struct Stats {
    events: u64,
    bytes_on_disk: u64,
    segments: usize,
    first_time: Option<chrono::DateTime<chrono::Utc>>,
    last_time: Option<chrono::DateTime<chrono::Utc>>,
    per_stream: BTreeMap<String, u64>,
    per_type: BTreeMap<String, u64>,
}

fn stats(dir: PathBuf, json: bool) -> anyhow::Result<ExitCode> {
    let log = open_read(&dir)?;
    let mut stats = Stats::default();
    for (_, bytes) in log.segments()? {
        stats.bytes_on_disk += bytes;
        stats.segments += 1;
    }
    for event in log.read_all(0)? {
        let event = event?;
        stats.events += 1;
        stats.first_time = Some(stats.first_time.map_or(event.time, |t| t.min(event.time)));
        stats.last_time = Some(stats.last_time.map_or(event.time, |t| t.max(event.time)));
        *stats
            .per_stream
            .entry(event.stream.to_string())
            .or_default() += 1;
        *stats
            .per_type
            .entry(format!("{} v{}", event.event_type, event.schema_version))
            .or_default() += 1;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} events, {} bytes in {} segments",
        stats.events, stats.bytes_on_disk, stats.segments
    );
    if let (Some(first), Some(last)) = (stats.first_time, stats.last_time) {
        println!("time span: {first} .. {last} ({})", humantime(last - first));
    }
    println!("\nper stream:");
    for (name, n) in &stats.per_stream {
        println!("  {n:>10}  {name}");
    }
    println!("\nper type:");
    for (name, n) in &stats.per_type {
        println!("  {n:>10}  {name}");
    }
    Ok(ExitCode::SUCCESS)
}

fn humantime(span: chrono::TimeDelta) -> String {
    let secs = span.num_seconds();
    format!(
        "{}d {:02}h {:02}m {:02}s",
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn export(dir: PathBuf, stream: Option<String>, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let log = open_read(&dir)?;
    let stream = parse_stream(stream)?;
    let count = match &out {
        Some(path) => {
            if path.exists() {
                bail!(
                    "{} exists already; choose another --out (export never overwrites)",
                    path.display()
                );
            }
            let file =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut writer = BufWriter::new(file);
            let count = jsonl::export(&log, 0, stream.as_ref(), &mut writer)?;
            writer
                .into_inner()
                .map_err(|e| e.into_error())?
                .sync_all()?;
            count
        }
        None => jsonl::export(&log, 0, stream.as_ref(), &mut std::io::stdout().lock())?,
    };
    tracing::info!(events = count, "exported");
    Ok(ExitCode::SUCCESS)
}

fn import(dir: PathBuf, input: PathBuf, fsync: FsyncPolicy) -> anyhow::Result<ExitCode> {
    let file = File::open(&input).with_context(|| format!("cannot open {}", input.display()))?;
    let log = FileLog::open(
        &dir,
        FileLogOptions {
            fsync,
            ..Default::default()
        },
    )
    .with_context(|| format!("cannot open log {} for writing", dir.display()))
    .hint(|| {
        format!(
            "import writes into a new or existing log folder that no other process has \
             open for writing, e.g. ledgerloop log import /tmp/copy/log --jsonl {}",
            input.display()
        )
    })?;
    let report = jsonl::import(
        &log,
        &mut BufReader::new(file),
        &input.display().to_string(),
    )?;
    log.close()?;
    println!(
        "imported {} events ({} already present)",
        report.events, report.already_stored
    );
    Ok(ExitCode::SUCCESS)
}

fn recover(dir: PathBuf) -> anyhow::Result<ExitCode> {
    let log = FileLog::open(&dir, FileLogOptions::default())
        .with_context(|| format!("cannot open log {}", dir.display()))
        .hint(|| not_a_log_hint(&dir))?;
    let report = log.open_report().clone();
    log.close()?;
    match &report.torn_tail {
        Some(t) => println!(
            "truncated a torn tail: {} bytes ({} records) at offset {} of {}",
            t.bytes_dropped,
            t.records_dropped
                .map_or("unknown".into(), |n| n.to_string()),
            t.offset,
            t.file.display()
        ),
        None => println!("no torn tail"),
    }
    println!(
        "index: {:?}; {} events in {} streams",
        report.index, report.events, report.streams
    );
    Ok(ExitCode::SUCCESS)
}

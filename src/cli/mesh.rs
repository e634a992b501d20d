//! `ledgerloop mesh`, `mesh-config` and `status`, and reading a JetStream log back
//! (`log export --from nats://...`, `audit nats://...`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use ledgerloop_runtime::config::GovernedConfig;
use ledgerloop_runtime::mesh::export::{export_run, ExportReport};
use ledgerloop_runtime::mesh::jetstream::EVENTS_STREAM;
use ledgerloop_runtime::mesh::run::{open_log, MeshOptions, Mirror};
use ledgerloop_runtime::mesh::security;
use ledgerloop_sim::config::Scenario;

/// Examples of `ledgerloop mesh`.
pub const MESH_EXAMPLES: &str = "\
Examples:
  # A 30-day ONT run on a local server (JetStream enabled: nats-server -js).
  ledgerloop mesh --nats nats://127.0.0.1:4222 --scenario scenarios/ont-offline.toml --days 30
  # Against a server from `mesh-config`, as the host user.
  ledgerloop mesh --nats nats://127.0.0.1:4222 --user host --password-file mesh-conf/users/host.password \\
      --scenario scenarios/ont-offline.toml
  # Audit it afterwards, straight from JetStream.
  ledgerloop audit nats://127.0.0.1:4222 --scenario ont-offline";

/// Examples of `ledgerloop mesh-config`.
pub const MESH_CONFIG_EXAMPLES: &str = "\
Examples:
  ledgerloop mesh-config --scenario ont-offline --port 4222 --store /var/lib/ll-js --out mesh-conf
  nats-server -c mesh-conf/nats-server.conf";

/// Examples of `ledgerloop status`.
pub const STATUS_EXAMPLES: &str = "\
Examples:
  ledgerloop status --nats nats://127.0.0.1:4222 --scenario ont-offline
  ledgerloop status --nats nats://127.0.0.1:4222 --scenario ont-offline -n 30 --json";

/// Where the mesh's NATS server is and who connects.
#[derive(Debug, Clone, Args)]
pub struct NatsArgs {
    /// NATS server URL (loopback or TLS); e.g. nats://127.0.0.1:4222.
    #[arg(long = "nats", value_name = "URL")]
    pub url: String,
    /// JetStream stream holding the log.
    #[arg(long, default_value = EVENTS_STREAM)]
    pub stream: String,
    /// User name, when the server requires one (see `mesh-config`).
    #[arg(long, requires = "password_file")]
    pub user: Option<String>,
    /// File holding the user's password.
    #[arg(long, requires = "user")]
    pub password_file: Option<PathBuf>,
    /// State that the server runs with `jetstream { sync_interval: always }`; without it
    /// the start-up check warns that acknowledged events may be lost on a machine crash.
    #[arg(long)]
    pub assume_sync_always: bool,
}

impl NatsArgs {
    /// The runtime's options.
    pub fn options(&self) -> anyhow::Result<MeshOptions> {
        let mut options = MeshOptions::new(self.url.clone());
        options.stream = self.stream.clone();
        options.assume_sync_always = self.assume_sync_always;
        if let (Some(user), Some(file)) = (&self.user, &self.password_file) {
            let password = std::fs::read_to_string(file)
                .with_context(|| format!("reading the password file {}", file.display()))?;
            options.credentials = Some((user.clone(), password.trim().to_string()));
        }
        Ok(options)
    }
}

/// Arguments of `ledgerloop mesh`.
#[derive(Debug, Args)]
pub struct MeshArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Scenario file (e.g. scenarios/ont-offline.toml).
    #[arg(long)]
    pub scenario: PathBuf,
    /// Master seed (overrides `scenario.seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Simulated days after the warm-up (overrides `scenario.days`).
    #[arg(long)]
    pub days: Option<u32>,
    /// Overrides any scenario value, e.g. `--set ont.devices=2000` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The agents' policy file; defaults to `agents/<world>.toml` beside the scenario.
    #[arg(long)]
    pub agents: Option<PathBuf>,
    /// Serve Prometheus metrics on this address, e.g. 127.0.0.1:9464 (`GET /metrics`).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Folder for the local copies (summary.json, inputs, artifacts); defaults to
    /// `out/mesh-<scenario name>-seed<seed>`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs the governed loop with JetStream as the log of record.
pub fn run_mesh(args: MeshArgs) -> anyhow::Result<ExitCode> {
    let overrides = super::sim::scenario_overrides(&args.set, args.seed, args.days);
    let scenario = Scenario::load(&args.scenario, &overrides)?;
    let world = format!("{:?}", scenario.scenario.world).to_lowercase();
    let path = args
        .agents
        .clone()
        .unwrap_or_else(|| GovernedConfig::default_path(&args.scenario, &world));
    let config = GovernedConfig::load(&path)?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("out").join(format!(
            "mesh-{}-seed{}",
            scenario.scenario.name, scenario.scenario.seed
        ))
    });
    let mut options = args.nats.options()?;
    options.metrics = args.metrics;
    if let Some(addr) = args.metrics {
        eprintln!("metrics: http://{addr}/metrics");
    }
    let source = path.display().to_string();
    let run =
        ledgerloop_runtime::mesh::run::run(&scenario, &overrides, config, &source, &out, &options)
            .with_context(|| format!("running {} on {}", args.scenario.display(), options.url))?;
    for warning in &run.durability.warnings {
        eprintln!("WARNING (durability): {warning}");
    }
    print!("{}", run.summary.table());
    println!(
        "event log: JetStream stream {} on {} (subjects ll.{}.evt.>)",
        options.stream, options.url, scenario.scenario.name
    );
    println!("blobs mirrored to the object store: {}", run.blobs_mirrored);
    println!("summary:   {}", out.join("summary.json").display());
    println!(
        "audit it:  ledgerloop audit {} --scenario {}",
        options.url, scenario.scenario.name
    );
    Ok(ExitCode::SUCCESS)
}

/// Copies a scenario's mesh run (log, inputs, artifacts) into the run folder `to`.
pub fn export_nats(
    options: &MeshOptions,
    scenario: &str,
    to: &Path,
) -> anyhow::Result<ExportReport> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(runtime.block_on(export_run(options, scenario, to))?)
}

/// Arguments of `ledgerloop mesh-config`.
#[derive(Debug, Args)]
pub struct MeshConfigArgs {
    /// Scenario name (the `ll.<scenario>.` subject prefix).
    #[arg(long)]
    pub scenario: String,
    /// Client port the server listens on (127.0.0.1 only).
    #[arg(long, default_value_t = 4222)]
    pub port: u16,
    /// JetStream store folder.
    #[arg(long)]
    pub store: PathBuf,
    /// Folder for nats-server.conf and users/<name>.password.
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes a server config with one user per agent.
pub fn run_mesh_config(args: MeshConfigArgs) -> anyhow::Result<ExitCode> {
    ledgerloop_events::ids::StreamId::new(&args.scenario)
        .context("the scenario name must be a subject token")?;
    let users = security::users(&args.scenario);
    security::write(&args.out, args.port, &args.store, &users)?;
    println!(
        "server config: {}",
        args.out.join("nats-server.conf").display()
    );
    for u in &users {
        println!(
            "user {:<12} password in {}",
            u.name,
            args.out
                .join("users")
                .join(format!("{}.password", u.name))
                .display()
        );
    }
    println!(
        "start it:      nats-server -c {}",
        args.out.join("nats-server.conf").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `ledgerloop status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Scenario name.
    #[arg(long)]
    pub scenario: String,
    /// Decisions to show.
    #[arg(short = 'n', long, default_value_t = 10)]
    pub last: usize,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// How far back `status` looks for the last drift alarm, in batches.
const DRIFT_LOOKBACK_BATCHES: u64 = 5_000;

/// One agent's activity, read from its own event stream.
#[derive(Debug, serde::Serialize)]
struct AgentHealth {
    agent: String,
    events: u64,
    last_event: Option<chrono::DateTime<chrono::Utc>>,
}

/// What `status` shows.
#[derive(Debug, serde::Serialize)]
struct Status {
    route: Option<ledgerloop_runtime::mesh::run::ServingPointers>,
    batches: u64,
    durability: ledgerloop_runtime::mesh::durability::Durability,
    agents: Vec<AgentHealth>,
    last_drift_alarm: Option<serde_json::Value>,
    last_decisions: Vec<serde_json::Value>,
}

async fn gather_status(options: &MeshOptions, args: &StatusArgs) -> anyhow::Result<Status> {
    use ledgerloop_events::EventLog as _;
    let (_client, log, durability) = open_log(options, &args.scenario).await?;
    let route = Mirror::open(&log, &args.scenario).await?.route().await?;
    let batches = log.last_message_sequence().await?;
    let mut agents = Vec::new();
    for role in ledgerloop_runtime::step::Role::ALL {
        let stream = ledgerloop_events::StreamId::new(role.name())?;
        let events = log.stream_version(&stream).await?;
        let last = log.read_stream(&stream, events.max(1), 1).await?;
        agents.push(AgentHealth {
            agent: role.name().to_string(),
            events,
            last_event: last.first().map(|e| e.time),
        });
    }
    let (mut last_decisions, mut last_drift_alarm) = (Vec::new(), None);
    let floor = batches.saturating_sub(DRIFT_LOOKBACK_BATCHES);
    let mut sequence = batches;
    while sequence > floor && (last_decisions.len() < args.last || last_drift_alarm.is_none()) {
        for e in log.read_batch(sequence).await?.into_iter().rev() {
            let Ok(event) = e.decode() else { continue };
            let line = serde_json::json!({
                "id": e.id, "stream": e.stream, "type": e.event_type, "time": e.time,
            });
            if let ledgerloop_events::Event::DriftDetected(d) = &event {
                if last_drift_alarm.is_none() {
                    last_drift_alarm = Some(serde_json::json!({
                        "id": e.id, "time": e.time, "drift_kind": d.drift_kind,
                        "detector": d.detector,
                    }));
                }
            }
            if event.kind() == ledgerloop_events::EventKind::Decision
                && last_decisions.len() < args.last
            {
                last_decisions.push(line);
            }
        }
        sequence -= 1;
    }
    Ok(Status {
        route,
        batches,
        durability,
        agents,
        last_drift_alarm,
        last_decisions,
    })
}

/// Shows the serving route, each agent's activity, the last drift alarm and the last
/// decisions.
pub fn run_status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let options = args.nats.options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let status = runtime.block_on(gather_status(&options, &args))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    match &status.route {
        Some(r) => println!(
            "serving: champion {} | canary {} at {:.0}% (hour {})",
            r.champion,
            r.canary.as_deref().unwrap_or("none"),
            r.canary_fraction * 100.0,
            r.hour
        ),
        None => println!("serving: no route published yet"),
    }
    println!(
        "log: {} batches in stream {}",
        status.batches, options.stream
    );
    for w in &status.durability.warnings {
        println!("WARNING (durability): {w}");
    }
    for a in &status.agents {
        let last = a.last_event.map_or("never".to_string(), |t| t.to_string());
        println!(
            "agent {:<12} {:>7} events, last at {last}",
            a.agent, a.events
        );
    }
    match &status.last_drift_alarm {
        Some(d) => println!(
            "last drift alarm: {} ({} by {}) at {}",
            d["id"], d["drift_kind"], d["detector"], d["time"]
        ),
        None => println!("last drift alarm: none in the last {DRIFT_LOOKBACK_BATCHES} batches"),
    }
    for e in &status.last_decisions {
        println!(
            "{}  {:<12} {}  {}",
            e["time"], e["stream"], e["type"], e["id"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

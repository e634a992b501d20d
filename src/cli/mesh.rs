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
    let mut overrides = args.set.clone();
    if let Some(seed) = args.seed {
        overrides.push(format!("scenario.seed={seed}"));
    }
    if let Some(days) = args.days {
        overrides.push(format!("scenario.days={days}"));
    }
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

/// Shows the serving route, the log's size and the last decisions.
pub fn run_status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let options = args.nats.options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let status = runtime.block_on(async {
        let (_client, log, durability) = open_log(&options, &args.scenario).await?;
        let mirror = Mirror::open(&log, &args.scenario).await?;
        let route = mirror.route().await?;
        let batches = log.last_message_sequence().await?;
        let mut events = Vec::new();
        let mut sequence = batches;
        while sequence > 0 && events.len() < args.last {
            for e in log.read_batch(sequence).await?.into_iter().rev() {
                let decision = e
                    .decode()
                    .is_ok_and(|d| d.kind() == ledgerloop_events::EventKind::Decision);
                if decision && events.len() < args.last {
                    events.push(e);
                }
            }
            sequence -= 1;
        }
        Ok::<_, anyhow::Error>((route, batches, events, durability))
    })?;
    let (route, batches, events, durability) = status;
    if args.json {
        let value = serde_json::json!({
            "route": route,
            "batches": batches,
            "durability": durability,
            "last_decisions": events.iter().map(|e| serde_json::json!({
                "id": e.id, "stream": e.stream, "type": e.event_type, "time": e.time,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    match &route {
        Some(r) => println!(
            "serving: champion {} | canary {} at {:.0}% (hour {})",
            r.champion,
            r.canary.as_deref().unwrap_or("none"),
            r.canary_fraction * 100.0,
            r.hour
        ),
        None => println!("serving: no route published yet"),
    }
    println!("log: {batches} batches in stream {}", options.stream);
    for w in &durability.warnings {
        println!("WARNING (durability): {w}");
    }
    for e in &events {
        println!(
            "{}  {:<12} {}  {}",
            e.time,
            e.stream.as_str(),
            e.event_type,
            e.id
        );
    }
    Ok(ExitCode::SUCCESS)
}

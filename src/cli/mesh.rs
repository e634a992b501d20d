//! `ledgerloop mesh`, `mesh-config` and `status`, and reading a JetStream log back
//! (`log export --from nats://...`, `audit nats://...`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use ledgerloop_runtime::config::GovernedConfig;
use ledgerloop_runtime::mesh::agent::processes::ProcessSpec;
use ledgerloop_runtime::mesh::export::{export_run, ExportReport};
use ledgerloop_runtime::mesh::jetstream::EVENTS_STREAM;
use ledgerloop_runtime::mesh::run::{open_log, AgentMode, MeshOptions, Mirror, WorldSource};
use ledgerloop_runtime::mesh::security;
use ledgerloop_runtime::step::Role;
use ledgerloop_sim::config::Scenario;

/// Examples of `ledgerloop mesh`.
pub const MESH_EXAMPLES: &str = "\
Examples:
  # A 30-day ONT run on a local server (JetStream enabled: nats-server -js).
  ledgerloop mesh --nats nats://127.0.0.1:4222 --scenario scenarios/ont-offline.toml --days 30
  # The world in another process: the mesh waits for telemetry from `ledgerloop devices`.
  ledgerloop mesh --nats nats://127.0.0.1:4222 --scenario scenarios/ont-offline.toml --world nats &
  ledgerloop devices --nats nats://127.0.0.1:4222 --scenario scenarios/ont-offline.toml
  # Each agent in its own supervised process (PIDs in out/mesh-ont-offline-seed7/agents/).
  ledgerloop mesh --nats nats://127.0.0.1:4222 --scenario scenarios/ont-offline.toml --agent-mode processes
  # Against a server from `mesh-config`, as the host user.
  ledgerloop mesh --nats nats://127.0.0.1:4222 --user host --password-file mesh-conf/users/host.password \\
      --scenario scenarios/ont-offline.toml
  # Audit it afterwards, straight from JetStream.
  ledgerloop audit nats://127.0.0.1:4222 --scenario ont-offline";

/// Exit code of a mesh stopped by SIGTERM or Ctrl-C (128 + SIGTERM).
const STOPPED_BY_SIGNAL: u8 = 143;

/// Examples of `ledgerloop mesh-config`.
pub const MESH_CONFIG_EXAMPLES: &str = "\
Examples:
  ledgerloop mesh-config --scenario ont-offline --port 4222 --store /var/lib/ll-js --out mesh-conf
  # With TLS for every client (then: ledgerloop mesh --nats tls://127.0.0.1:4222 --tls-ca ca.pem ...).
  ledgerloop mesh-config --scenario ont-offline --store /var/lib/ll-js --out mesh-conf \
      --tls-cert server.pem --tls-key server.key
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
    /// PEM file of the CA that signed the server's certificate: connect over TLS (the
    /// server must have a `tls` block, e.g. from `mesh-config --tls-cert`).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
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
        options.tls_ca = self.tls_ca.clone();
        // With mesh-config's users, every agent logs in as itself (its password beside
        // the host's).
        options.agent_password_dir = self
            .password_file
            .as_ref()
            .and_then(|f| f.parent().map(Path::to_path_buf));
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
    #[command(flatten)]
    pub run: super::sim::ScenarioArgs,
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
    /// Where the agents live: supervised actors in this process, one supervised
    /// `ledgerloop agent <role>` child process each (PIDs in <out>/agents/<role>.pid),
    /// started by you (`external`), or called directly in the host thread like `sim`.
    #[arg(long, value_enum, default_value = "actors")]
    pub agent_mode: AgentModeArg,
    /// Where the simulated world runs: in this process, or in a `ledgerloop devices`
    /// process that sends telemetry, labels and outcomes over NATS.
    #[arg(long, value_enum, default_value = "in-process")]
    pub world: WorldArg,
    /// Test hook (processes mode): `ROLE:N` makes that agent's first process abort right
    /// after its N-th append, before answering.
    #[arg(long, hide = true, value_name = "ROLE:N")]
    pub crash_agent: Option<String>,
}

/// `--world` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorldArg {
    /// The simulator drives the host in this process.
    InProcess,
    /// A `ledgerloop devices` process drives it over NATS.
    Nats,
}

/// `--agent-mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AgentModeArg {
    /// Supervised actors in the mesh process.
    Actors,
    /// One supervised child process per agent.
    Processes,
    /// Agents started separately with `ledgerloop agent <role>`.
    External,
    /// Deciders called in the host thread (no actors), as `sim` does.
    Direct,
}

impl MeshArgs {
    /// The runtime's agent mode, with the child processes' settings.
    fn agent_mode(&self, out: &Path) -> anyhow::Result<AgentMode> {
        Ok(match self.agent_mode {
            AgentModeArg::Actors => AgentMode::Actors,
            AgentModeArg::External => AgentMode::External,
            AgentModeArg::Direct => AgentMode::Direct,
            AgentModeArg::Processes => {
                let mut first_start_args = BTreeMap::new();
                if let Some(spec) = &self.crash_agent {
                    let (role, n) = spec
                        .split_once(':')
                        .and_then(|(r, n)| Some((Role::parse(r)?, n.parse::<u64>().ok()?)))
                        .with_context(|| format!("--crash-agent {spec}: expected ROLE:N"))?;
                    first_start_args.insert(
                        role,
                        vec!["--crash-after-appends".to_string(), n.to_string()],
                    );
                }
                // The children report errors on the shared stderr, nothing below that.
                let mut args = vec!["--quiet".to_string()];
                if let Some(ca) = &self.nats.tls_ca {
                    args.extend(["--tls-ca".to_string(), ca.display().to_string()]);
                }
                AgentMode::Processes(ProcessSpec {
                    exe: std::env::current_exe().context("locating the ledgerloop executable")?,
                    args,
                    first_start_args,
                    dir: out.join("agents"),
                    // Filled in from the connection options.
                    password_dir: None,
                })
            }
        })
    }
}

/// Runs the governed loop with JetStream as the log of record.
pub fn run_mesh(args: MeshArgs) -> anyhow::Result<ExitCode> {
    let overrides = args.run.overrides();
    let scenario = Scenario::load(&args.run.scenario, &overrides)?;
    let world = format!("{:?}", scenario.scenario.world).to_lowercase();
    let path = args
        .agents
        .clone()
        .unwrap_or_else(|| GovernedConfig::default_path(&args.run.scenario, &world));
    let config = GovernedConfig::load(&path)?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("out").join(format!(
            "mesh-{}-seed{}",
            scenario.scenario.name, scenario.scenario.seed
        ))
    });
    let mut options = args.nats.options()?;
    options.metrics = args.metrics;
    options.agents = args.agent_mode(&out)?;
    options.world = match args.world {
        WorldArg::InProcess => WorldSource::InProcess,
        WorldArg::Nats => WorldSource::Nats,
    };
    if options.world == WorldSource::Nats {
        eprintln!(
            "waiting for the devices: ledgerloop devices --nats {} --scenario {}",
            options.url,
            args.run.scenario.display()
        );
    }
    let stop = super::agent::stop_flag()?;
    options.stop = Some(stop.clone());
    if let Some(addr) = args.metrics {
        eprintln!("metrics: http://{addr}/metrics");
    }
    let source = path.display().to_string();
    let run =
        ledgerloop_runtime::mesh::run::run(&scenario, &overrides, config, &source, &out, &options);
    if stop.load(std::sync::atomic::Ordering::SeqCst) {
        let reason = run.err().map_or_else(String::new, |e| e.to_string());
        eprintln!("stopped: {reason}");
        eprintln!(
            "audit what was logged: ledgerloop audit {} --scenario {}",
            options.url, scenario.scenario.name
        );
        return Ok(ExitCode::from(STOPPED_BY_SIGNAL));
    }
    let run =
        run.with_context(|| format!("running {} on {}", args.run.scenario.display(), options.url))?;
    for warning in &run.durability.warnings {
        eprintln!("WARNING (durability): {warning}");
    }
    match (&run.summary, &run.telemetry) {
        (Some(summary), _) => print!("{}", summary.table()),
        (None, Some(t)) => println!(
            "world: a `devices` process (it prints the accuracy table); telemetry taken in: \
             {} rows in {} parts, {} parts asked for again, at most {} rows held",
            t.rows, t.parts, t.resent_parts, t.peak_rows
        ),
        (None, None) => {}
    }
    println!(
        "event log: JetStream stream {} on {} (subjects ll.{}.evt.>)",
        options.stream, options.url, scenario.scenario.name
    );
    println!("blobs mirrored to the object store: {}", run.blobs_mirrored);
    let restarts: Vec<String> = run
        .agent_restarts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(role, n)| format!("{role} {n}"))
        .collect();
    if !restarts.is_empty() {
        println!("agent restarts: {}", restarts.join(", "));
    }
    println!("decision latency (input handed to the agent -> its decisions logged):");
    for (agent, l) in &run.decision_latency {
        println!(
            "  {agent:<12} {:>7} calls  p50 {:>9.0} us  p99 {:>9.0} us",
            l.calls, l.p50_us, l.p99_us
        );
    }
    if run.summary.is_some() {
        println!("summary:   {}", out.join("summary.json").display());
    }
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
    /// PEM certificate the server presents: every client must then connect over TLS
    /// (clients pass `--tls-ca` with the CA that signed it).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Writes a server config with one user per agent.
pub fn run_mesh_config(args: MeshConfigArgs) -> anyhow::Result<ExitCode> {
    ledgerloop_events::ids::StreamId::new(&args.scenario)
        .context("the scenario name must be a subject token")?;
    let users = security::users(&args.scenario);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(security::ServerTls {
            cert_file: std::path::absolute(cert)?,
            key_file: std::path::absolute(key)?,
        }),
        _ => None,
    };
    security::write(&args.out, args.port, &args.store, &users, tls.as_ref())?;
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

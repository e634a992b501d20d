//! A governed run whose log of record is JetStream: the sim host's deciders (as actors,
//! processes or in the host thread, see [`AgentMode`]), workers and world (here or in a
//! `devices` process, see [`WorldSource`]), writing every event to `LL_EVENTS`,
//! mirroring stored inputs and model weights to the object store (by SHA-256), publishing
//! the serving route to a key-value bucket after every simulated hour, serving
//! predictions and operator commands, and publishing alerts.
//!
//! The host runs on its own thread and blocks on the runtime for each append and each
//! agent call, one at a time, so the run is deterministic: the same scenario and seed
//! write the same events (same ids and hashes) as `ledgerloop sim`, and an export of the
//! JetStream log compares event for event with the embedded log of a simulation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::data::Observed;
use ledgerloop_sim::learner::Classifier;
use ledgerloop_sim::policy::{
    Feedback, LabelAnswer, LabelRequest, Policy, PolicyNote, PolicyStart, ServingRoute,
};
use ledgerloop_sim::summary::Summary;
use serde::{Deserialize, Serialize};

use crate::config::GovernedConfig;
use crate::error::{io, nats, Error, Result};
use crate::host::{CallObserver, GovernedPolicy, OperatorAction, ARTIFACTS_DIR, INPUTS_DIR};
use crate::mesh::agent::actor::serve;
use crate::mesh::agent::client::{Mirrored, NatsAgents};
use crate::mesh::agent::processes::{AgentProcesses, ProcessSpec};
use crate::mesh::agent::AgentSettings;
use crate::mesh::durability::{self, Durability};
use crate::mesh::jetstream::{JetStreamLog, EVENTS_STREAM, OUTAGE_RETRY};
use crate::mesh::metrics::{LatencySummary, MeteredLog, Metrics};
pub use crate::mesh::mirror::Mirror;
use crate::mesh::operator::{start_commands, OperatorReply, OperatorRequest, PendingCommand};
use crate::mesh::world::server::{
    refresh, serve_world, start_ingest, start_predictions, Ingest, IngestStats, ServedPolicy,
    SharedServing,
};
use crate::step::Role;

/// Object holding a finished run's summary in the `runs` store.
pub const SUMMARY_OBJECT: &str = "summary.json";
/// Key of the serving route in the serving bucket.
pub const ROUTE_KEY: &str = "route";

/// Where a mesh run connects and what it assumes about the server.
#[derive(Debug, Clone)]
pub struct MeshOptions {
    /// Server URL (`nats://127.0.0.1:4222`).
    pub url: String,
    /// JetStream stream holding the log.
    pub stream: String,
    /// The operator states the server fsyncs every write (`sync_interval: always`).
    pub assume_sync_always: bool,
    /// User and password, when the server requires them.
    pub credentials: Option<(String, String)>,
    /// Serve Prometheus metrics on this address (`GET /metrics`).
    pub metrics: Option<std::net::SocketAddr>,
    /// CA certificate (PEM) to trust: connect over TLS.
    pub tls_ca: Option<PathBuf>,
    /// Folder of per-agent passwords (`<role>.password`, user = role name, as
    /// `mesh-config` writes them): each agent connects as its own user, allowed to
    /// publish only its own event subject.
    pub agent_password_dir: Option<PathBuf>,
    /// Where the agents run.
    pub agents: AgentMode,
    /// Set (by a signal handler) to stop the run at the next simulated hour.
    pub stop: Option<Arc<AtomicBool>>,
    /// Where the world runs.
    pub world: WorldSource,
}

/// Where the simulated world of a mesh run lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorldSource {
    /// In the mesh process (the simulator drives the host directly).
    #[default]
    InProcess,
    /// In a `ledgerloop devices` process, over NATS (telemetry, world requests,
    /// predictions).
    Nats,
}

/// Where the six agents of a mesh run live.
#[derive(Debug, Clone, Default)]
pub enum AgentMode {
    /// Each agent a supervised actor in the mesh process, fed from its NATS subject.
    #[default]
    Actors,
    /// Each agent a `ledgerloop agent <role>` child process, restarted when it exits.
    Processes(ProcessSpec),
    /// The agents run elsewhere (`ledgerloop agent <role>`, started by the operator).
    External,
    /// The deciders are called in the host thread, as `ledgerloop sim` does.
    Direct,
}

impl MeshOptions {
    /// Options for `url` with the default stream.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: EVENTS_STREAM.to_string(),
            assume_sync_always: false,
            credentials: None,
            metrics: None,
            tls_ca: None,
            agent_password_dir: None,
            agents: AgentMode::Actors,
            stop: None,
            world: WorldSource::InProcess,
        }
    }
}

/// The serving pointers, written only from the Releaser's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServingPointers {
    /// Simulated hour they were written at.
    pub hour: u64,
    /// Champion version.
    pub champion: String,
    /// Canary version, if one runs.
    pub canary: Option<String>,
    /// Share of the fleet the canary serves.
    pub canary_fraction: f64,
}

/// Names of the object-store and key-value buckets of `scenario`.
pub fn bucket(scenario: &str, what: &str) -> String {
    format!("ll_{scenario}_{what}")
}

/// Connects with the reconnect behaviour the mesh needs (keep retrying for ever; the
/// log's appends are idempotent, so a retried append after a reconnect is safe).
pub async fn connect(options: &MeshOptions) -> Result<async_nats::Client> {
    let mut connect = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connection_timeout(std::time::Duration::from_secs(5));
    if let Some((user, password)) = &options.credentials {
        connect = connect.user_and_password(user.clone(), password.clone());
    }
    if let Some(ca) = &options.tls_ca {
        if !ca.is_file() {
            return Err(Error::Mesh {
                reason: format!("--tls-ca {}: no such file", ca.display()),
            });
        }
        connect = connect.require_tls(true).add_root_certificates(ca.clone());
    }
    let client = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        connect.connect(options.url.as_str()),
    )
    .await
    .map_err(nats(format!("connect to {}", options.url)))?
    .map_err(nats(format!("connect to {}", options.url)))?;
    // The client keeps retrying in the background; a first connection that never comes
    // (wrong port, refused credentials, a TLS handshake that fails) is reported here
    // rather than as a timeout of the first request.
    let deadline = std::time::Instant::now() + FIRST_CONNECT_WAIT;
    while client.connection_state() != async_nats::connection::State::Connected {
        if std::time::Instant::now() > deadline {
            return Err(Error::Mesh {
                reason: format!(
                    "no connection to {} after {} s; check the URL, the user and password, \
                     and for a TLS server --tls-ca",
                    options.url,
                    FIRST_CONNECT_WAIT.as_secs()
                ),
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(client)
}

/// How long the first connection may take.
pub const FIRST_CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Opens the log of `scenario` and checks the server's durability settings.
pub async fn open_log(
    options: &MeshOptions,
    scenario: &str,
) -> Result<(async_nats::Client, JetStreamLog, Durability)> {
    let client = connect(options).await?;
    let log = JetStreamLog::open(client.clone(), scenario, &options.stream).await?;
    let mut stream = log.stream().clone();
    let info = stream.info().await.map_err(nats("stream info"))?;
    let file = info.config.storage == async_nats::jetstream::stream::StorageType::File;
    let seen = durability::check(
        &client.server_info().version,
        file,
        info.config.num_replicas,
        options.assume_sync_always,
    );
    Ok((client, log, seen))
}

/// The runtime a mesh process blocks on: two workers (the machine's cores), with I/O and
/// timers. `out` names the run folder in the error.
pub fn mesh_runtime(out: &Path) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io(out))
}

/// What a mesh run produced.
#[derive(Debug)]
pub struct MeshRun {
    /// The simulator's summary (as `ledgerloop sim` writes it); `None` when the world
    /// ran in a `devices` process (which writes it).
    pub summary: Option<Summary>,
    /// The telemetry ingest's counts, when the world ran in a `devices` process.
    pub telemetry: Option<IngestStats>,
    /// What the durability check saw.
    pub durability: Durability,
    /// Blobs mirrored to the object store.
    pub blobs_mirrored: usize,
    /// Restarts of each agent (actor or process) during the run.
    pub agent_restarts: std::collections::BTreeMap<String, u32>,
    /// Per agent: time from handing an input over to its decisions being logged.
    pub decision_latency: BTreeMap<String, LatencySummary>,
}

/// Runs `scenario` governed by `config`, with JetStream as the log of record. Local
/// copies of inputs and artifacts and `summary.json` go to `out` (which must not hold a
/// run); the JetStream stream must not hold this scenario's events yet.
pub fn run(
    scenario: &Scenario,
    overrides: &[String],
    config: GovernedConfig,
    source: &str,
    out: &Path,
    options: &MeshOptions,
) -> Result<MeshRun> {
    let runtime = mesh_runtime(out)?;
    let name = scenario.scenario.name.clone();
    let (client, log, durability, mirror) = runtime.block_on(async {
        let (client, log, durability) = open_log(options, &name).await?;
        if log.last_message_sequence().await? > 0 {
            return Err(Error::Mesh {
                reason: format!(
                    "stream {} already holds a run of {name}; a run starts on an empty log \
                     (delete the stream or use --stream)",
                    options.stream
                ),
            });
        }
        let mirror = Mirror::open(&log, &name).await?;
        Ok::<_, Error>((client, log, durability, mirror))
    })?;
    let metrics = Metrics::default();
    if let Some(addr) = options.metrics {
        runtime.block_on(metrics.serve(addr))?;
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    let shared: ledgerloop_events::SharedLog =
        Arc::new(MeteredLog::new(Arc::new(log.clone()), metrics.clone()));
    let mut host = GovernedPolicy::new(config, source, shared.clone(), out)?;
    let observed = metrics.clone();
    host.observe_calls(CallObserver(Box::new(move |role, elapsed, _| {
        observed.observe_call(role.name(), elapsed.as_secs_f64());
    })));
    let mirrored: Mirrored = Arc::new(Mutex::new(BTreeSet::new()));
    let agents = start_agents(&runtime, options, &client, &log, out)?;
    if !matches!(options.agents, AgentMode::Direct) {
        let remote = NatsAgents::new(
            client.clone(),
            runtime.handle().clone(),
            &name,
            mirror.clone(),
            out.join(INPUTS_DIR),
            mirrored.clone(),
        )
        .with_metrics(metrics.clone());
        host.use_remote_agents(Box::new(remote));
    }
    let serving = SharedServing::default();
    let predictions = runtime.block_on(start_predictions(&client, &name, serving.clone()))?;
    let (commands_task, commands) = runtime.block_on(start_commands(&client, &name))?;
    let mut policy = MeshPolicy {
        host,
        mirror,
        runtime: runtime.handle().clone(),
        out: out.to_path_buf(),
        mirrored,
        stop: options.stop.clone(),
        serving: serving.clone(),
        commands,
        client: client.clone(),
        scenario: name.clone(),
        last_route: None,
        failure: None,
        metrics,
    };
    let ingest = Ingest::default();
    let ingest_task = match options.world {
        WorldSource::Nats => {
            Some(runtime.block_on(start_ingest(&client, &name, ingest.clone()))?)
        }
        WorldSource::InProcess => None,
    };
    let handle = runtime.handle().clone();
    let summary = std::thread::scope(|scope| {
        scope
            .spawn(|| match options.world {
                WorldSource::InProcess => {
                    ledgerloop_sim::run::run_with_log(scenario, overrides, &mut policy, out, shared)
                        .map(Some)
                        .map_err(Error::from)
                }
                WorldSource::Nats => {
                    let stop = options.stop.as_deref();
                    serve_world(
                        &handle,
                        &client,
                        &name,
                        &mut policy,
                        &ingest,
                        &serving,
                        stop,
                    )
                    .map(|()| None)
                }
            })
            .join()
            .map_err(|_| Error::Mesh {
                reason: "the host thread panicked".into(),
            })
    })?;
    predictions.abort();
    commands_task.abort();
    if let Some(task) = ingest_task {
        task.abort();
    }
    let agent_restarts = agents.stop(&runtime)?;
    if let Some(e) = policy.failure.take() {
        return Err(e);
    }
    let summary = summary?;
    // Measured worker CPU stays beside the log, as in `sim`.
    policy.host.measured_costs().write(out)?;
    policy.mirror_new()?;
    if summary.is_some() {
        let summary_path = out.join(SUMMARY_OBJECT);
        let summary_bytes = std::fs::read(&summary_path).map_err(io(&summary_path))?;
        retry_outage(|| runtime.block_on(policy.mirror.put_summary(&summary_bytes)))?;
    }
    let blobs_mirrored = policy.mirrored.lock().map_or(0, |m| m.len());
    Ok(MeshRun {
        summary,
        telemetry: (options.world == WorldSource::Nats).then(|| ingest.stats()),
        durability,
        blobs_mirrored,
        agent_restarts,
        decision_latency: policy.metrics.latency_percentiles_us(),
    })
}

/// The agents of a run, however they live.
enum RunningAgents {
    Actors {
        stop: tokio::sync::watch::Sender<bool>,
        tasks: Vec<(Role, tokio::task::JoinHandle<Result<u32>>)>,
    },
    Processes(AgentProcesses),
    Elsewhere,
}

impl RunningAgents {
    /// Stops them (a call in progress is finished first); returns restarts per agent.
    fn stop(self, runtime: &tokio::runtime::Runtime) -> Result<BTreeMap<String, u32>> {
        match self {
            RunningAgents::Actors { stop, tasks } => {
                stop.send_replace(true);
                let mut restarts = BTreeMap::new();
                for (role, task) in tasks {
                    let n = runtime.block_on(task).map_err(|e| Error::Mesh {
                        reason: format!("agent {} task failed: {e}", role.name()),
                    })??;
                    restarts.insert(role.name().to_string(), n);
                }
                Ok(restarts)
            }
            RunningAgents::Processes(processes) => Ok(processes
                .stop()?
                .into_iter()
                .map(|(role, n)| (role.name().to_string(), n))
                .collect()),
            RunningAgents::Elsewhere => Ok(BTreeMap::new()),
        }
    }
}

/// Starts the agents `options.agents` asks for.
fn start_agents(
    runtime: &tokio::runtime::Runtime,
    options: &MeshOptions,
    client: &async_nats::Client,
    log: &JetStreamLog,
    out: &Path,
) -> Result<RunningAgents> {
    match &options.agents {
        AgentMode::Actors => {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let mut tasks = Vec::new();
            for role in Role::ALL {
                let (client, log) = match &options.agent_password_dir {
                    Some(dir) => runtime.block_on(agent_connection(options, dir, role, log))?,
                    None => (client.clone(), log.clone()),
                };
                let settings = AgentSettings {
                    role,
                    log,
                    // In the host's process the host's own copies of the inputs serve.
                    blob_cache: out.join(INPUTS_DIR),
                    crash_after_appends: None,
                };
                let mut stopped = stopped.clone();
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                let task = runtime.spawn(serve(client.clone(), settings, shutdown));
                tasks.push((role, task));
            }
            Ok(RunningAgents::Actors { stop, tasks })
        }
        AgentMode::Processes(spec) => {
            let mut spec = spec.clone();
            spec.password_dir = options.agent_password_dir.clone();
            spec.args.extend([
                "--nats".to_string(),
                options.url.clone(),
                "--scenario".to_string(),
                log.scenario().to_string(),
                "--stream".to_string(),
                options.stream.clone(),
            ]);
            Ok(RunningAgents::Processes(AgentProcesses::start(spec)?))
        }
        AgentMode::External | AgentMode::Direct => Ok(RunningAgents::Elsewhere),
    }
}

/// A connection and log of `role` as its own user (password in `dir/<role>.password`).
async fn agent_connection(
    options: &MeshOptions,
    dir: &Path,
    role: Role,
    log: &JetStreamLog,
) -> Result<(async_nats::Client, JetStreamLog)> {
    let path = dir.join(format!("{}.password", role.name()));
    let password = std::fs::read_to_string(&path).map_err(io(&path))?;
    let mut own = options.clone();
    own.credentials = Some((role.name().to_string(), password.trim().to_string()));
    let client = connect(&own).await?;
    let log = JetStreamLog::open(client.clone(), log.scenario(), &options.stream).await?;
    Ok((client, log))
}

/// Repeats an idempotent NATS operation while the server is unreachable, for up to
/// [`OUTAGE_RETRY`].
pub(crate) fn retry_outage<T>(mut op: impl FnMut() -> Result<T>) -> Result<T> {
    let deadline = std::time::Instant::now() + OUTAGE_RETRY;
    let mut pause = std::time::Duration::from_millis(50);
    loop {
        match op() {
            Err(Error::Nats { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

/// The sim host, publishing what the mesh needs beside the log.
struct MeshPolicy {
    host: GovernedPolicy,
    mirror: Mirror,
    runtime: tokio::runtime::Handle,
    out: PathBuf,
    mirrored: Mirrored,
    stop: Option<Arc<AtomicBool>>,
    serving: SharedServing,
    commands: std::sync::mpsc::Receiver<PendingCommand>,
    client: async_nats::Client,
    scenario: String,
    last_route: Option<ServingRoute>,
    failure: Option<Error>,
    metrics: Metrics,
}

impl std::fmt::Debug for MeshPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshPolicy").finish_non_exhaustive()
    }
}

impl MeshPolicy {
    /// Mirrors blob files not mirrored yet, in name order.
    fn mirror_new(&mut self) -> Result<()> {
        for folder in [INPUTS_DIR, ARTIFACTS_DIR] {
            let dir = self.out.join(folder);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !self.is_mirrored(&format!("{folder}/{n}")))
                .collect();
            names.sort();
            for name in names {
                let path = dir.join(&name);
                let bytes = std::fs::read(&path).map_err(io(&path))?;
                let (mirror, runtime) = (&self.mirror, &self.runtime);
                retry_outage(|| runtime.block_on(mirror.put(folder, &name, &bytes)))?;
                if let Ok(mut m) = self.mirrored.lock() {
                    m.insert(format!("{folder}/{name}"));
                }
            }
        }
        Ok(())
    }

    /// Publishes the alerts raised since the last hour on `ll.<scenario>.alerts`
    /// (core NATS: an operator's subscriber sees them live; the log keeps the events
    /// they point at).
    fn publish_alerts(&self) {
        let subject = crate::alerts::subject(&self.scenario);
        for alert in self.metrics.take_alerts() {
            if let Ok(bytes) = serde_json::to_vec(&alert) {
                let publish = self.client.publish(subject.clone(), bytes.into());
                if let Err(e) = self.runtime.block_on(publish) {
                    tracing::warn!(error = %e, "alert not published");
                }
            }
        }
    }

    /// Applies the operator commands that arrived since the last hour, in arrival
    /// order, and answers each.
    fn apply_commands(&mut self, hour: u64) -> Result<()> {
        while let Ok(pending) = self.commands.try_recv() {
            let outcome = self.apply_command(hour, &pending.request)?;
            tracing::info!(hour, operator = %pending.request.operator, %outcome, "operator command applied");
            let answer = OperatorReply {
                hour: Some(hour),
                outcome,
                champion: self.host.route().champion.clone(),
            };
            if let Some(reply) = pending.reply {
                let bytes = serde_json::to_vec(&answer)?;
                let (client, runtime) = (&self.client, &self.runtime);
                let _ = runtime.block_on(client.publish(reply, bytes.into()));
            }
        }
        Ok(())
    }

    fn apply_command(&mut self, hour: u64, request: &OperatorRequest) -> Result<String> {
        let operator = request.operator.as_str();
        Ok(match request.action {
            OperatorAction::Rollback => {
                let before = self.host.route().champion.clone();
                let decisions = self.host.rollback(hour, operator)?;
                if decisions.is_empty() {
                    format!("rollback refused (noted in the log); {before} still serves")
                } else {
                    let kinds: Vec<&str> = decisions.iter().map(|e| e.event_type()).collect();
                    format!("rollback by {operator}: {}", kinds.join(", "))
                }
            }
            OperatorAction::Approve => {
                let canary = self.host.states().releaser.canary.as_ref();
                let outcome = match (request.model_id.as_str(), canary) {
                    ("", None) => format!("no canary is running: {operator}'s approval noted"),
                    ("", Some(c)) => format!("{} approved by {operator}", c.model_id),
                    (model, _) => format!("{model} approved by {operator}"),
                };
                self.host.approve(hour, &request.model_id, operator)?;
                outcome
            }
        })
    }

    fn is_mirrored(&self, key: &str) -> bool {
        self.mirrored.lock().is_ok_and(|m| m.contains(key))
    }

    fn publish_route(&mut self, hour: u64) -> Result<()> {
        let route = self.host.route().clone();
        if self.last_route.as_ref() == Some(&route) {
            return Ok(());
        }
        let pointers = ServingPointers {
            hour,
            champion: route.champion.clone(),
            canary: route.canary.as_ref().map(|c| c.version.clone()),
            canary_fraction: route.canary.as_ref().map_or(0.0, |c| c.fraction),
        };
        let (mirror, runtime) = (&self.mirror, &self.runtime);
        retry_outage(|| runtime.block_on(mirror.publish_route(&pointers)))?;
        self.metrics.set_route(
            &pointers.champion,
            pointers.canary.as_deref(),
            pointers.canary_fraction,
        );
        self.last_route = Some(route);
        Ok(())
    }

    fn keep(&mut self, result: Result<()>) -> ledgerloop_sim::Result<()> {
        result.map_err(|e| {
            let reason = e.to_string();
            self.failure.get_or_insert(e);
            ledgerloop_sim::Error::Policy {
                policy: "mesh".into(),
                reason,
            }
        })
    }
}

impl ServedPolicy for MeshPolicy {
    fn versions(&self) -> Vec<String> {
        self.host.model_versions()
    }

    fn feature_names(&self) -> Vec<String> {
        let features = &self.host.config().perceiver.features;
        features.iter().map(|f| f.name.clone()).collect()
    }
}

impl Policy for MeshPolicy {
    fn name(&self) -> &str {
        self.host.name()
    }

    fn start(&mut self, start: &PolicyStart<'_>) -> ledgerloop_sim::Result<()> {
        self.host.start(start)?;
        refresh(self, &self.serving);
        let result = self.publish_route(0);
        self.keep(result)
    }

    fn on_labels(&mut self, hour: u64, answers: &[LabelAnswer]) -> ledgerloop_sim::Result<()> {
        self.host.on_labels(hour, answers)
    }

    fn on_feedback(
        &mut self,
        hour: u64,
        version: &str,
        feedback: &[Feedback],
    ) -> ledgerloop_sim::Result<()> {
        self.host.on_feedback(hour, version, feedback)
    }

    fn route(&self) -> &ServingRoute {
        self.host.route()
    }

    fn model(&self, version: &str) -> Option<Arc<dyn Classifier>> {
        self.host.model(version)
    }

    fn observe(
        &mut self,
        batch: Observed<'_>,
        requests: &mut Vec<LabelRequest>,
    ) -> ledgerloop_sim::Result<()> {
        let hour = batch.hour;
        if self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
            let stopped = Err(Error::Mesh {
                reason: format!(
                    "stopped by a signal before hour {hour}; every event up to it is in the log"
                ),
            });
            return self.keep(stopped);
        }
        let commands = self.apply_commands(hour);
        self.keep(commands)?;
        self.host.observe(batch, requests)?;
        refresh(self, &self.serving);
        self.publish_alerts();
        let result = self.publish_route(hour);
        self.keep(result)
    }

    fn end_of_day(&mut self, day: u32) -> ledgerloop_sim::Result<Vec<PolicyNote>> {
        let notes = self.host.end_of_day(day)?;
        let result = self.mirror_new();
        self.keep(result)?;
        Ok(notes)
    }
}

//! A governed run whose log of record is JetStream: the sim host's deciders, workers and
//! world, writing every event to `LL_EVENTS`, mirroring stored inputs and model weights
//! to the JetStream object store (by SHA-256) and publishing the serving route to a
//! key-value bucket after every simulated hour.
//!
//! The host runs on its own thread and blocks on the runtime for each append, so the
//! run is deterministic: the same scenario and seed write the same events (same ids and
//! hashes) as `ledgerloop sim`, and an export of the JetStream log compares event for
//! event with the embedded log of a simulation.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_nats::jetstream::{kv, object_store};
use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::data::Observed;
use ledgerloop_sim::learner::Classifier;
use ledgerloop_sim::policy::{
    Feedback, LabelAnswer, LabelRequest, Policy, PolicyNote, PolicyStart, ServingRoute,
};
use ledgerloop_sim::summary::Summary;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;

use crate::config::GovernedConfig;
use crate::error::{io, nats, Error, Result};
use crate::host::{CallObserver, GovernedPolicy, ARTIFACTS_DIR, INPUTS_DIR};
use crate::mesh::durability::{self, Durability};
use crate::mesh::jetstream::{JetStreamLog, EVENTS_STREAM, OUTAGE_RETRY};
use crate::mesh::metrics::{MeteredLog, Metrics};

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
    let client = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        connect.connect(options.url.as_str()),
    )
    .await
    .map_err(nats(format!("connect to {}", options.url)))?
    .map_err(nats(format!("connect to {}", options.url)))?;
    Ok(client)
}

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

/// What a mesh run produced.
#[derive(Debug)]
pub struct MeshRun {
    /// The simulator's summary (as `ledgerloop sim` writes it).
    pub summary: Summary,
    /// What the durability check saw.
    pub durability: Durability,
    /// Blobs mirrored to the object store.
    pub blobs_mirrored: usize,
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io(out))?;
    let name = scenario.scenario.name.clone();
    let (log, durability, mirror) = runtime.block_on(async {
        let (_client, log, durability) = open_log(options, &name).await?;
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
        Ok::<_, Error>((log, durability, mirror))
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
    let mut policy = MeshPolicy {
        host,
        mirror,
        runtime: runtime.handle().clone(),
        out: out.to_path_buf(),
        mirrored: BTreeSet::new(),
        last_route: None,
        failure: None,
        metrics,
    };
    let summary = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                ledgerloop_sim::run::run_with_log(scenario, overrides, &mut policy, out, shared)
            })
            .join()
            .map_err(|_| Error::Mesh {
                reason: "the host thread panicked".into(),
            })
    })??;
    if let Some(e) = policy.failure.take() {
        return Err(e);
    }
    policy.mirror_new()?;
    let summary_path = out.join(SUMMARY_OBJECT);
    let summary_bytes = std::fs::read(&summary_path).map_err(io(&summary_path))?;
    retry_outage(|| runtime.block_on(policy.mirror.put_summary(&summary_bytes)))?;
    Ok(MeshRun {
        summary,
        durability,
        blobs_mirrored: policy.mirrored.len(),
    })
}

/// The object store and key-value bucket of one scenario.
pub struct Mirror {
    inputs: object_store::ObjectStore,
    artifacts: object_store::ObjectStore,
    runs: object_store::ObjectStore,
    serving: kv::Store,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror").finish_non_exhaustive()
    }
}

impl Mirror {
    /// Opens (creating) the buckets of `scenario`.
    pub async fn open(log: &JetStreamLog, scenario: &str) -> Result<Self> {
        let js = log.context();
        let store = |what: &str| object_store::Config {
            bucket: bucket(scenario, what),
            ..Default::default()
        };
        let inputs = js
            .create_object_store(store("inputs"))
            .await
            .map_err(nats("object store inputs"))?;
        let artifacts = js
            .create_object_store(store("artifacts"))
            .await
            .map_err(nats("object store artifacts"))?;
        let runs = js
            .create_object_store(store("runs"))
            .await
            .map_err(nats("object store runs"))?;
        // The bucket's stream is created here rather than with `create_key_value`,
        // whose account query does not parse a NATS 2.9 reply; the settings are those
        // of a key-value bucket with a history of 16 writes.
        let serving_bucket = bucket(scenario, "serving");
        let kv_stream = async_nats::jetstream::stream::Config {
            name: format!("KV_{serving_bucket}"),
            subjects: vec![format!("$KV.{serving_bucket}.>")],
            max_messages_per_subject: 16,
            storage: async_nats::jetstream::stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: async_nats::jetstream::stream::DiscardPolicy::New,
            ..Default::default()
        };
        js.get_or_create_stream(kv_stream)
            .await
            .map_err(nats("key-value bucket serving"))?;
        let serving = js
            .get_key_value(serving_bucket)
            .await
            .map_err(nats("key-value bucket serving"))?;
        Ok(Self {
            inputs,
            artifacts,
            runs,
            serving,
        })
    }

    fn store(&self, folder: &str) -> &object_store::ObjectStore {
        if folder == INPUTS_DIR {
            &self.inputs
        } else {
            &self.artifacts
        }
    }

    /// Stores one blob file under its file name.
    pub async fn put(&self, folder: &str, name: &str, bytes: &[u8]) -> Result<()> {
        let mut reader = bytes;
        self.store(folder)
            .put(name, &mut reader)
            .await
            .map_err(nats(format!("store {folder}/{name}")))?;
        Ok(())
    }

    /// Every blob of `folder` written to `dir`, each checked against the SHA-256 its
    /// name carries (after decompression, as the blob store stores them).
    pub async fn download(&self, folder: &str, dir: &Path) -> Result<usize> {
        use futures::StreamExt as _;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut list = self
            .store(folder)
            .list()
            .await
            .map_err(nats(format!("list {folder}")))?;
        let mut names = Vec::new();
        while let Some(info) = list.next().await {
            names.push(info.map_err(nats(format!("list {folder}")))?.name);
        }
        names.sort();
        for name in &names {
            let mut object = self
                .store(folder)
                .get(name)
                .await
                .map_err(nats(format!("get {folder}/{name}")))?;
            let mut bytes = Vec::new();
            object
                .read_to_end(&mut bytes)
                .await
                .map_err(nats(format!("read {folder}/{name}")))?;
            let path = dir.join(name);
            std::fs::write(&path, &bytes).map_err(io(&path))?;
            let sha = name.trim_end_matches(".gz");
            crate::blobs::BlobStore::new(dir).get(sha)?;
        }
        Ok(names.len())
    }

    /// Stores the run's `summary.json` (what `report` draws its charts from).
    pub async fn put_summary(&self, bytes: &[u8]) -> Result<()> {
        let mut reader = bytes;
        self.runs
            .put(SUMMARY_OBJECT, &mut reader)
            .await
            .map_err(nats("store summary.json"))?;
        Ok(())
    }

    /// The run's `summary.json`, if the run finished.
    pub async fn summary(&self) -> Result<Option<Vec<u8>>> {
        let mut object = match self.runs.get(SUMMARY_OBJECT).await {
            Ok(object) => object,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(nats("get summary.json")(e)),
        };
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(nats("read summary.json"))?;
        Ok(Some(bytes))
    }

    /// Writes the serving pointers.
    pub async fn publish_route(&self, pointers: &ServingPointers) -> Result<()> {
        let bytes = serde_json::to_vec(pointers)?;
        self.serving
            .put(ROUTE_KEY, bytes.into())
            .await
            .map_err(nats("put serving route"))?;
        Ok(())
    }

    /// The serving pointers now, if any were written.
    pub async fn route(&self) -> Result<Option<ServingPointers>> {
        let value = self
            .serving
            .get(ROUTE_KEY)
            .await
            .map_err(nats("get serving route"))?;
        value
            .map(|v| serde_json::from_slice(&v).map_err(Error::from))
            .transpose()
    }
}

/// Repeats an idempotent NATS operation while the server is unreachable, for up to
/// [`OUTAGE_RETRY`].
fn retry_outage<T>(mut op: impl FnMut() -> Result<T>) -> Result<T> {
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
    mirrored: BTreeSet<String>,
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
                .filter(|n| !self.mirrored.contains(&format!("{folder}/{n}")))
                .collect();
            names.sort();
            for name in names {
                let path = dir.join(&name);
                let bytes = std::fs::read(&path).map_err(io(&path))?;
                let (mirror, runtime) = (&self.mirror, &self.runtime);
                retry_outage(|| runtime.block_on(mirror.put(folder, &name, &bytes)))?;
                self.mirrored.insert(format!("{folder}/{name}"));
            }
        }
        Ok(())
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

impl Policy for MeshPolicy {
    fn name(&self) -> &str {
        self.host.name()
    }

    fn start(&mut self, start: &PolicyStart<'_>) -> ledgerloop_sim::Result<()> {
        self.host.start(start)?;
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
        self.host.observe(batch, requests)?;
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

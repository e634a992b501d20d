//! The host's side of a split run: the Perceiver's telemetry ingest (queue group
//! `perceiver`), the world requests of the devices, and the prediction service.
//!
//! The ingest keeps parts of the hours not yet observed, at most
//! [`MAX_BUFFERED_ROWS`] rows; a part beyond that is dropped and counted, and the host
//! asks for it again when it closes the hour, so a flood costs retries, not memory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use ledgerloop_sim::clock::Clock;
use ledgerloop_sim::config::LearnerKind;
use ledgerloop_sim::data::{Inputs, Observed};
use ledgerloop_sim::learner::{builtin, Classifier};
use ledgerloop_sim::policy::{Policy, PolicyStart, ServingRoute};
use tokio::io::AsyncReadExt as _;

use super::devices::WorldRequest;
use super::{
    PredictReply, PredictRequest, TelemetryPart, WireInputs, WorldCall, WorldReply, WorldStart,
};
use crate::blobs::sha256_hex;
use crate::error::{nats, Error, Result};
use crate::mesh::run::bucket;
use crate::mesh::subjects;

/// Rows of telemetry the ingest holds at most.
pub const MAX_BUFFERED_ROWS: usize = 2_000_000;
/// How long closing an hour waits for its telemetry before naming the missing parts.
const TELEMETRY_WAIT: Duration = Duration::from_secs(5);

/// A policy the world server can drive, and whose models it can serve.
pub trait ServedPolicy: Policy {
    /// Every model version the host holds.
    fn versions(&self) -> Vec<String>;

    /// The world's columns in order (empty for text worlds).
    fn feature_names(&self) -> Vec<String>;
}

/// What the prediction service answers from: the route and the host's models.
#[derive(Debug, Default)]
pub struct Serving {
    route: Option<ServingRoute>,
    models: BTreeMap<String, Arc<dyn Classifier>>,
    feature_names: Vec<String>,
}

/// Shared between the host thread (which updates it after every world call) and the
/// prediction service.
pub type SharedServing = Arc<RwLock<Serving>>;

/// Counts of the telemetry ingest.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestStats {
    /// Parts taken in.
    pub parts: u64,
    /// Rows taken in.
    pub rows: u64,
    /// Parts dropped because the buffer was full (asked for again).
    pub dropped_parts: u64,
    /// Parts the host had to ask for again.
    pub resent_parts: u64,
    /// Most rows held at once.
    pub peak_rows: u64,
}

#[derive(Debug, Default)]
struct Buffer {
    hours: BTreeMap<u64, BTreeMap<u32, TelemetryPart>>,
    rows: usize,
    stats: IngestStats,
}

/// Telemetry waiting for its hour to close.
#[derive(Debug, Clone)]
pub struct Ingest {
    buffer: Arc<(Mutex<Buffer>, Condvar)>,
    max_rows: usize,
}

impl Default for Ingest {
    fn default() -> Self {
        Self::with_capacity(MAX_BUFFERED_ROWS)
    }
}

impl Ingest {
    /// An ingest holding at most `max_rows` rows.
    pub fn with_capacity(max_rows: usize) -> Self {
        Self {
            buffer: Arc::default(),
            max_rows,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.buffer.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one part in (or drops it when the buffer is full).
    pub fn take(&self, part: TelemetryPart) {
        let mut buffer = self.lock();
        let rows = part.rows.len();
        let stored = buffer
            .hours
            .get(&part.hour)
            .is_some_and(|h| h.contains_key(&part.part));
        if stored {
            // A part sent again after the host asked for it, which had arrived after all.
            return;
        }
        if buffer.rows + rows > self.max_rows {
            buffer.stats.dropped_parts += 1;
            return;
        }
        buffer
            .hours
            .entry(part.hour)
            .or_default()
            .insert(part.part, part);
        buffer.rows += rows;
        buffer.stats.parts += 1;
        buffer.stats.rows += rows as u64;
        buffer.stats.peak_rows = buffer.stats.peak_rows.max(buffer.rows as u64);
        drop(buffer);
        self.buffer.1.notify_all();
    }

    /// Closes `hour` as the host does (waits for its `parts`, puts the rows back in
    /// order); returns the rows assembled. For benchmarks and tests.
    pub fn assemble_hour(
        &self,
        hour: u64,
        rows: u32,
        n_features: usize,
        parts: u32,
    ) -> Result<usize> {
        let taken = self.collect(hour, parts).map_err(|missing| Error::Mesh {
            reason: format!("hour {hour}: {} parts never arrived", missing.len()),
        })?;
        let (keys, _, _) = assemble(hour, rows, n_features, taken)?;
        Ok(keys.len())
    }

    /// The counts so far.
    pub fn stats(&self) -> IngestStats {
        self.lock().stats
    }

    /// Waits (up to [`TELEMETRY_WAIT`]) for parts `0..parts` of `hour`; returns them in
    /// part order, or the indices still missing.
    fn collect(&self, hour: u64, parts: u32) -> std::result::Result<Vec<TelemetryPart>, Vec<u32>> {
        self.collect_within(hour, parts, TELEMETRY_WAIT)
    }

    fn collect_within(
        &self,
        hour: u64,
        parts: u32,
        wait: Duration,
    ) -> std::result::Result<Vec<TelemetryPart>, Vec<u32>> {
        let deadline = Instant::now() + wait;
        let mut buffer = self.lock();
        loop {
            let have = buffer.hours.get(&hour).map_or(0, BTreeMap::len);
            if have >= parts as usize {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                let held = buffer.hours.get(&hour);
                let missing: Vec<u32> = (0..parts)
                    .filter(|p| !held.is_some_and(|h| h.contains_key(p)))
                    .collect();
                buffer.stats.resent_parts += missing.len() as u64;
                return Err(missing);
            }
            buffer = self
                .buffer
                .1
                .wait_timeout(buffer, deadline - now)
                .map(|(b, _)| b)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        let taken = buffer.hours.remove(&hour).unwrap_or_default();
        // Parts of hours already closed can only be late duplicates.
        buffer.hours.retain(|h, _| *h > hour);
        buffer.rows = buffer
            .hours
            .values()
            .flat_map(|h| h.values())
            .map(|p| p.rows.len())
            .sum();
        Ok(taken.into_values().collect())
    }
}

/// Subscribes the ingest to every telemetry shard of `scenario` in queue group
/// `perceiver`.
pub async fn start_ingest(
    client: &async_nats::Client,
    scenario: &str,
    ingest: Ingest,
) -> Result<tokio::task::JoinHandle<()>> {
    let subject = subjects::telemetry_all(scenario);
    let mut sub = client
        .queue_subscribe(subject.clone(), subjects::PERCEIVER_QUEUE.to_string())
        .await
        .map_err(nats(format!("subscribe {subject}")))?;
    Ok(tokio::spawn(async move {
        while let Some(message) = sub.next().await {
            match serde_json::from_slice::<TelemetryPart>(&message.payload) {
                Ok(part) => ingest.take(part),
                Err(e) => {
                    tracing::warn!(subject = %message.subject, error = %e, "telemetry message is not a part; dropped")
                }
            }
        }
    }))
}

/// Answers prediction requests on `ll.<scenario>.predict` from `serving`.
pub async fn start_predictions(
    client: &async_nats::Client,
    scenario: &str,
    serving: SharedServing,
) -> Result<tokio::task::JoinHandle<()>> {
    let subject = subjects::predict(scenario);
    let mut sub = client
        .subscribe(subject.clone())
        .await
        .map_err(nats(format!("subscribe {subject}")))?;
    let client = client.clone();
    Ok(tokio::spawn(async move {
        while let Some(message) = sub.next().await {
            let Some(reply) = message.reply.clone() else {
                continue;
            };
            let serving = serving.clone();
            let answer = tokio::task::spawn_blocking(move || predict(&serving, &message.payload))
                .await
                .unwrap_or_else(|e| PredictReply::Refused {
                    reason: format!("prediction failed: {e}"),
                });
            if let Ok(bytes) = serde_json::to_vec(&answer) {
                let _ = client.publish(reply, bytes.into()).await;
            }
        }
    }))
}

fn predict(serving: &SharedServing, payload: &[u8]) -> PredictReply {
    let refuse = |reason: String| PredictReply::Refused { reason };
    let request: PredictRequest = match serde_json::from_slice(payload) {
        Ok(r) => r,
        Err(e) => return refuse(format!("not a prediction request: {e}")),
    };
    let serving = serving.read().unwrap_or_else(|p| p.into_inner());
    let Some(route) = serving.route.as_ref() else {
        return refuse("no model is served yet (the run has not started)".into());
    };
    let rows = request.keys.len();
    let versions: Vec<String> = match &request.version {
        Some(v) => vec![v.clone(); super::rows_of(&wire_inputs(&request.inputs))],
        None => request
            .keys
            .iter()
            .map(|k| route.version_for(*k).to_string())
            .collect(),
    };
    let inputs = match request.inputs.clone().inputs(versions.len()) {
        Ok(i) if request.version.is_some() || rows == versions.len() => i,
        Ok(_) => return refuse("one key per row is needed to route".into()),
        Err(e) => return refuse(e.to_string()),
    };
    if let (WireInputs::Tabular { n_features, .. }, false) =
        (&request.inputs, serving.feature_names.is_empty())
    {
        if *n_features != serving.feature_names.len() {
            return refuse(format!(
                "{n_features} features given; this world takes {}: {}",
                serving.feature_names.len(),
                serving.feature_names.join(", ")
            ));
        }
    }
    let mut classes = vec![0u32; versions.len()];
    let mut by_version: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (i, v) in versions.iter().enumerate() {
        by_version.entry(v.as_str()).or_default().push(i as u32);
    }
    for (version, rows) in by_version {
        let Some(model) = serving.models.get(version) else {
            return refuse(format!("unknown version `{version}`"));
        };
        let part = WireInputs::pick(&inputs, &rows).inputs(rows.len());
        let mut out = Vec::new();
        match part.map(|p| model.predict(&p, &mut out)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return refuse(e.to_string()),
            Err(e) => return refuse(e.to_string()),
        }
        for (row, class) in rows.iter().zip(out) {
            classes[*row as usize] = class;
        }
    }
    PredictReply::Predicted { versions, classes }
}

fn wire_inputs(inputs: &WireInputs) -> Inputs {
    match inputs.clone() {
        WireInputs::Tabular { n_features, values } => Inputs::Tabular { n_features, values },
        WireInputs::Text { texts } => Inputs::Text { texts },
    }
}

/// Serves the devices' world requests with `policy` until they finish (or `stop` is
/// set); `serving` is refreshed after every call.
pub fn serve_world(
    runtime: &tokio::runtime::Handle,
    client: &async_nats::Client,
    scenario: &str,
    policy: &mut dyn ServedPolicy,
    ingest: &Ingest,
    serving: &SharedServing,
    stop: Option<&AtomicBool>,
) -> Result<()> {
    // The subscription is dropped on this thread; dropping it needs the runtime.
    let _context = runtime.enter();
    let subject = subjects::world(scenario);
    let mut sub = runtime
        .block_on(client.subscribe(subject.clone()))
        .map_err(nats(format!("subscribe {subject}")))?;
    let mut last: Option<(u64, Vec<u8>)> = None;
    let mut n_features: Option<usize> = None;
    loop {
        let next = runtime
            .block_on(async { tokio::time::timeout(Duration::from_millis(500), sub.next()).await });
        if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            return Err(Error::Mesh {
                reason: "stopped by a signal; every event so far is in the log".into(),
            });
        }
        let Ok(Some(message)) = next else {
            continue;
        };
        let request: WorldRequest = serde_json::from_slice(&message.payload)?;
        let bytes = match &last {
            Some((seq, bytes)) if *seq == request.seq => bytes.clone(),
            _ => {
                let finish = request.call == WorldCall::Finish;
                let world = World {
                    runtime,
                    client,
                    scenario,
                    ingest,
                };
                let reply = match world.handle(policy, &mut n_features, request.call) {
                    Ok(reply) => reply,
                    Err(e) => WorldReply::Failed {
                        reason: e.to_string(),
                    },
                };
                refresh(policy, serving);
                let bytes = serde_json::to_vec(&reply)?;
                last = Some((request.seq, bytes.clone()));
                if let Some(to) = message.reply.clone() {
                    runtime
                        .block_on(client.publish(to, bytes.clone().into()))
                        .map_err(nats("answer the devices"))?;
                    let _ = runtime.block_on(client.flush());
                }
                if let WorldReply::Failed { reason } = reply {
                    return Err(Error::Mesh { reason });
                }
                if finish {
                    return Ok(());
                }
                continue;
            }
        };
        if let Some(to) = message.reply {
            runtime
                .block_on(client.publish(to, bytes.into()))
                .map_err(nats("answer the devices"))?;
        }
    }
}

/// Points the prediction service at `policy`'s route and models now.
pub fn refresh(policy: &dyn ServedPolicy, serving: &SharedServing) {
    let mut models = BTreeMap::new();
    for version in policy.versions() {
        if let Some(model) = policy.model(&version) {
            models.insert(version, model);
        }
    }
    if models.is_empty() {
        // Not started: no model to serve yet.
        return;
    }
    let mut serving = serving.write().unwrap_or_else(|p| p.into_inner());
    serving.route = Some(policy.route().clone());
    serving.models = models;
    serving.feature_names = policy.feature_names();
}

/// What handling a world call needs besides the policy.
struct World<'a> {
    runtime: &'a tokio::runtime::Handle,
    client: &'a async_nats::Client,
    scenario: &'a str,
    ingest: &'a Ingest,
}

impl World<'_> {
    fn handle(
        &self,
        policy: &mut dyn ServedPolicy,
        n_features: &mut Option<usize>,
        call: WorldCall,
    ) -> Result<WorldReply> {
        let (runtime, client, scenario, ingest) =
            (self.runtime, self.client, self.scenario, self.ingest);
        let done = |policy: &dyn ServedPolicy| WorldReply::Done {
            route: policy.route().clone(),
        };
        match call {
            WorldCall::Start { object, sha256 } => {
                let start = runtime.block_on(load_start(client, scenario, &object, &sha256))?;
                *n_features = Some(start.shape.features.len());
                start_policy(policy, &start)?;
                Ok(done(policy))
            }
            WorldCall::Labels { hour, answers } => {
                policy.on_labels(hour, &answers)?;
                Ok(done(policy))
            }
            WorldCall::Feedback {
                hour,
                version,
                feedback,
            } => {
                policy.on_feedback(hour, &version, &feedback)?;
                Ok(done(policy))
            }
            WorldCall::Observe { hour, rows, parts } => match ingest.collect(hour, parts) {
                Err(missing) => Ok(WorldReply::Missing { parts: missing }),
                Ok(taken) => {
                    let n_features = n_features.ok_or_else(|| Error::Mesh {
                        reason: format!("hour {hour} closed before the run started"),
                    })?;
                    let (keys, inputs, slices) = assemble(hour, rows, n_features, taken)?;
                    let mut requests = Vec::new();
                    let observed = Observed {
                        hour,
                        keys: &keys,
                        inputs: &inputs,
                        slices: &slices,
                    };
                    policy.observe(observed, &mut requests)?;
                    Ok(WorldReply::Observed {
                        requests,
                        route: policy.route().clone(),
                    })
                }
            },
            WorldCall::EndOfDay { day } => {
                let notes = policy.end_of_day(day)?;
                Ok(WorldReply::Day {
                    notes,
                    route: policy.route().clone(),
                })
            }
            WorldCall::Hello | WorldCall::Finish => Ok(done(policy)),
        }
    }
}

async fn load_start(
    client: &async_nats::Client,
    scenario: &str,
    object: &str,
    sha256: &str,
) -> Result<WorldStart> {
    let js = async_nats::jetstream::new(client.clone());
    let runs = js
        .get_object_store(bucket(scenario, "runs"))
        .await
        .map_err(nats("object store runs"))?;
    let mut reader = runs
        .get(object)
        .await
        .map_err(nats(format!("get {object}")))?;
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .await
        .map_err(nats(format!("read {object}")))?;
    let actual = sha256_hex(&bytes);
    if actual != sha256 {
        return Err(Error::Mesh {
            reason: format!("{object} hashes to {actual}, the devices said {sha256}"),
        });
    }
    Ok(serde_json::from_slice(&bytes)?)
}

fn start_policy(policy: &mut dyn ServedPolicy, start: &WorldStart) -> Result<()> {
    let warmup = start.warmup()?;
    let tabular = !start.shape.features.is_empty();
    let learner = builtin(LearnerKind::Builtin, tabular);
    // The same static baseline the world fitted (same learner, data and seed); the
    // governed host does not serve it, but a policy may compare against it.
    let baseline = learner.fit(&start.shape, &warmup, start.static_seed)?;
    let clock = Clock::new(start.clock_start, start.clock_warmup_days);
    policy.start(&PolicyStart {
        shape: &start.shape,
        warmup: &warmup,
        baseline,
        baseline_version: ledgerloop_sim::engine::STATIC_VERSION,
        learner,
        seed: start.seed,
        clock,
        label_budget_per_day: start.label_budget_per_day,
        max_canary_fraction: start.max_canary_fraction,
    })?;
    Ok(())
}

/// Puts an hour's parts back in row order, checking every row arrives exactly once.
/// `n_features` is the world's column count (0 for a text world).
fn assemble(
    hour: u64,
    rows: u32,
    n_features: usize,
    parts: Vec<TelemetryPart>,
) -> Result<(Vec<u64>, Inputs, Vec<u16>)> {
    let bad = |reason: String| Error::Mesh {
        reason: format!("telemetry of hour {hour}: {reason}"),
    };
    let n = rows as usize;
    let mut order: Vec<Option<(usize, usize)>> = vec![None; n];
    for (p, part) in parts.iter().enumerate() {
        if part.hour != hour
            || part.keys.len() != part.rows.len()
            || part.slices.len() != part.rows.len()
        {
            return Err(bad(format!("part {} is malformed", part.part)));
        }
        for (i, row) in part.rows.iter().enumerate() {
            let slot = order
                .get_mut(*row as usize)
                .ok_or_else(|| bad(format!("row {row} beyond the hour's {rows} rows")))?;
            if slot.replace((p, i)).is_some() {
                return Err(bad(format!("row {row} arrived twice")));
            }
        }
    }
    let mut keys = Vec::with_capacity(n);
    let mut slices = Vec::with_capacity(n);
    let mut picked: Vec<(usize, usize)> = Vec::with_capacity(n);
    for (row, slot) in order.iter().enumerate() {
        let (p, i) = slot.ok_or_else(|| bad(format!("row {row} never arrived")))?;
        keys.push(parts[p].keys[i]);
        slices.push(parts[p].slices[i]);
        picked.push((p, i));
    }
    let decoded: Vec<Inputs> = parts
        .iter()
        .map(|part| part.inputs.clone().inputs(part.rows.len()))
        .collect::<Result<_>>()?;
    let inputs = if n_features > 0 {
        let mut values = Vec::with_capacity(n * n_features);
        for (p, i) in &picked {
            match &decoded[*p] {
                Inputs::Tabular {
                    n_features: nf,
                    values: v,
                } if *nf == n_features => {
                    values.extend_from_slice(&v[i * nf..(i + 1) * nf]);
                }
                _ => {
                    return Err(bad(format!(
                        "part {} does not hold {n_features} features per row",
                        parts[*p].part
                    )))
                }
            }
        }
        Inputs::Tabular { n_features, values }
    } else {
        let mut texts = Vec::with_capacity(n);
        for (p, i) in &picked {
            let Inputs::Text { texts: t } = &decoded[*p] else {
                return Err(bad(format!(
                    "part {} holds features, not text",
                    parts[*p].part
                )));
            };
            texts.push(t[*i].clone());
        }
        Inputs::Text { texts }
    };
    Ok((keys, inputs, slices))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(hour: u64, part: u32, rows: &[u32]) -> TelemetryPart {
        TelemetryPart {
            hour,
            part,
            shard: 0,
            rows: rows.to_vec(),
            keys: rows.iter().map(|r| u64::from(*r) * 10).collect(),
            slices: vec![0; rows.len()],
            inputs: WireInputs::Tabular {
                n_features: 1,
                values: rows.iter().map(|r| *r as f32).collect(),
            },
        }
    }

    /// A full buffer drops a part instead of growing; closing the hour names it as
    /// missing, and once sent again the hour assembles in row order.
    #[test]
    fn a_full_buffer_drops_and_the_hour_asks_again() {
        let ingest = Ingest::with_capacity(3);
        ingest.take(part(5, 1, &[1, 3]));
        ingest.take(part(5, 0, &[0, 2]));
        assert_eq!(ingest.stats().dropped_parts, 1);
        assert_eq!(ingest.stats().peak_rows, 2);
        let missing = ingest
            .collect_within(5, 2, Duration::from_millis(10))
            .unwrap_err();
        assert_eq!(missing, vec![0]);
        ingest.take(part(5, 1, &[1, 3]));
        ingest.take(part(5, 0, &[0, 2]));
        assert_eq!(ingest.stats().dropped_parts, 2);
        let missing = ingest
            .collect_within(5, 2, Duration::from_millis(10))
            .unwrap_err();
        assert_eq!(
            missing,
            vec![0],
            "the duplicate of part 1 is not stored twice"
        );
        let ingest = Ingest::with_capacity(4);
        ingest.take(part(5, 1, &[1, 3]));
        ingest.take(part(5, 0, &[0, 2]));
        let parts = ingest
            .collect_within(5, 2, Duration::from_millis(10))
            .unwrap();
        let (keys, inputs, _) = assemble(5, 4, 1, parts).unwrap();
        assert_eq!(keys, vec![0, 10, 20, 30]);
        assert_eq!(
            inputs,
            Inputs::Tabular {
                n_features: 1,
                values: vec![0.0, 1.0, 2.0, 3.0]
            }
        );
    }

    /// An hour with a row twice, a row missing or a row out of range is refused.
    #[test]
    fn assembly_refuses_duplicate_missing_and_stray_rows() {
        let twice = assemble(1, 3, 1, vec![part(1, 0, &[0, 1]), part(1, 1, &[1, 2])]);
        assert!(twice
            .unwrap_err()
            .to_string()
            .contains("row 1 arrived twice"));
        let missing = assemble(1, 3, 1, vec![part(1, 0, &[0, 2])]);
        assert!(missing
            .unwrap_err()
            .to_string()
            .contains("row 1 never arrived"));
        let stray = assemble(1, 2, 1, vec![part(1, 0, &[0, 1, 2])]);
        assert!(stray.unwrap_err().to_string().contains("beyond"));
        let wrong_width = assemble(1, 2, 3, vec![part(1, 0, &[0, 1])]);
        assert!(wrong_width.is_err());
    }
}

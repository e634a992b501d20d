//! The devices' side of a split run (`ledgerloop devices`): the simulator runs the
//! world here, and its policy is [`RemotePolicy`], which publishes each hour's telemetry,
//! asks the host over NATS for everything a policy decides, and asks the prediction
//! service for the served model's answers. The world's own facts (scenario start, day
//! summaries) go to the JetStream log from here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::data::{Inputs, Observed};
use ledgerloop_sim::learner::Classifier;
use ledgerloop_sim::policy::{
    Feedback, LabelAnswer, LabelRequest, Policy, PolicyNote, PolicyStart, ServingRoute,
};
use ledgerloop_sim::rng::component_u64;
use ledgerloop_sim::summary::Summary;
use serde::{Deserialize, Serialize};

use super::{
    rows_of, shard_of, PredictReply, PredictRequest, TelemetryPart, WireInputs, WorldCall,
    WorldReply, WorldStart, MAX_PREDICT_ROWS, MAX_ROWS_PER_MESSAGE,
};
use crate::blobs::sha256_hex;
use crate::error::{io, nats, Error, Result};
use crate::host::POLICY_NAME;
use crate::mesh::jetstream::JetStreamLog;
use crate::mesh::run::{bucket, connect, mesh_runtime, MeshOptions, SUMMARY_OBJECT};
use crate::mesh::subjects;

/// Object (in the `runs` store) holding the world's start.
pub const START_OBJECT: &str = "world-start.json";
/// How long one world request waits for the host (training can take a while); a
/// request that times out is sent again with the same sequence number, which the host
/// answers from its last reply.
const WORLD_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a world request may take, retries included.
const WORLD_DEADLINE: Duration = Duration::from_secs(900);
/// How often the devices send an hour's missing telemetry again before giving up.
const MAX_RESENDS: u32 = 20;

/// A world request with its sequence number (so a retried request is recognised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldRequest {
    /// 1, 2, 3, ... per run.
    pub seq: u64,
    /// The call.
    pub call: WorldCall,
}

/// The simulator's policy on the devices' side: a proxy of the host over NATS.
pub struct RemotePolicy {
    client: async_nats::Client,
    runtime: tokio::runtime::Handle,
    scenario: String,
    /// The `runs` object store, opened once the host has answered (it creates it).
    runs: Option<async_nats::jetstream::object_store::ObjectStore>,
    route: ServingRoute,
    seq: u64,
    static_seed: u64,
    rate_rows_per_s: Option<f64>,
    sent_rows: u64,
    started: Instant,
}

impl std::fmt::Debug for RemotePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemotePolicy")
            .field("scenario", &self.scenario)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl RemotePolicy {
    fn request(&mut self, call: WorldCall) -> Result<WorldReply> {
        self.seq += 1;
        let request = WorldRequest {
            seq: self.seq,
            call,
        };
        let payload = serde_json::to_vec(&request)?;
        let subject = subjects::world(&self.scenario);
        let deadline = Instant::now() + WORLD_DEADLINE;
        loop {
            let attempt = self.client.request(subject.clone(), payload.clone().into());
            match self
                .runtime
                .block_on(async { tokio::time::timeout(WORLD_ATTEMPT_TIMEOUT, attempt).await })
            {
                Ok(Ok(message)) => {
                    return match serde_json::from_slice(&message.payload)? {
                        WorldReply::Failed { reason } => Err(Error::Mesh {
                            reason: format!("the host failed: {reason}"),
                        }),
                        reply => Ok(reply),
                    }
                }
                Ok(Err(e)) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "world request not answered; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(_) if Instant::now() < deadline => {
                    tracing::warn!(seq = self.seq, "world request timed out; retrying");
                }
                _ => {
                    return Err(Error::Mesh {
                        reason: format!(
                            "no host answered on {subject} within {} s; is `ledgerloop mesh \
                             --world nats` running for this scenario?",
                            WORLD_DEADLINE.as_secs()
                        ),
                    })
                }
            }
        }
    }

    fn done(&mut self, call: WorldCall) -> Result<()> {
        match self.request(call)? {
            WorldReply::Done { route } => {
                self.route = route;
                Ok(())
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Publishes one hour's telemetry: each shard's rows in parts of at most
    /// [`MAX_ROWS_PER_MESSAGE`]. Returns the parts (kept to send again if lost).
    fn telemetry(&mut self, batch: &Observed<'_>) -> Result<Vec<TelemetryPart>> {
        let mut by_shard: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        for (i, key) in batch.keys.iter().enumerate() {
            by_shard.entry(shard_of(*key)).or_default().push(i as u32);
        }
        let mut parts = Vec::new();
        for (shard, rows) in by_shard {
            for chunk in rows.chunks(MAX_ROWS_PER_MESSAGE) {
                parts.push(TelemetryPart {
                    hour: batch.hour,
                    part: parts.len() as u32,
                    shard,
                    rows: chunk.to_vec(),
                    keys: chunk.iter().map(|i| batch.keys[*i as usize]).collect(),
                    slices: chunk.iter().map(|i| batch.slices[*i as usize]).collect(),
                    inputs: WireInputs::pick(batch.inputs, chunk),
                });
            }
        }
        self.publish(&parts)?;
        Ok(parts)
    }

    fn publish(&mut self, parts: &[TelemetryPart]) -> Result<()> {
        for part in parts {
            let subject = subjects::telemetry(&self.scenario, part.shard as u32);
            let bytes = serde_json::to_vec(part)?;
            self.runtime
                .block_on(self.client.publish(subject, bytes.into()))
                .map_err(nats("publish telemetry"))?;
            self.sent_rows += part.rows.len() as u64;
            self.pace();
        }
        self.runtime
            .block_on(self.client.flush())
            .map_err(nats("flush telemetry"))?;
        Ok(())
    }

    /// Holds the telemetry to `--rate` rows per second of wall time.
    fn pace(&self) {
        if let Some(rate) = self.rate_rows_per_s {
            let due = Duration::from_secs_f64(self.sent_rows as f64 / rate);
            let elapsed = self.started.elapsed();
            if due > elapsed {
                std::thread::sleep(due - elapsed);
            }
        }
    }

    fn start_run(&mut self, start: &PolicyStart<'_>) -> Result<()> {
        let world = WorldStart {
            shape: start.shape.clone(),
            warmup_inputs: WireInputs::of(&start.warmup.inputs),
            warmup_labels: start.warmup.labels.clone(),
            seed: start.seed,
            static_seed: self.static_seed,
            clock_start: start.clock.start(),
            clock_warmup_days: (start.clock.warmup_hours() / 24) as u32,
            label_budget_per_day: start.label_budget_per_day,
            max_canary_fraction: start.max_canary_fraction,
        };
        let bytes = serde_json::to_vec(&world)?;
        let sha256 = sha256_hex(&bytes);
        let runs = self.runs.clone().ok_or_else(|| Error::Mesh {
            reason: "the run started before the host answered".into(),
        })?;
        self.runtime
            .block_on(async move {
                let mut reader = bytes.as_slice();
                runs.put(START_OBJECT, &mut reader).await
            })
            .map_err(nats("store the world's start"))?;
        self.done(WorldCall::Start {
            object: START_OBJECT.to_string(),
            sha256,
        })
    }

    fn observe_hour(
        &mut self,
        batch: &Observed<'_>,
        requests: &mut Vec<LabelRequest>,
    ) -> Result<()> {
        let parts = self.telemetry(batch)?;
        let rows = rows_of(batch.inputs) as u32;
        for _ in 0..=MAX_RESENDS {
            let call = WorldCall::Observe {
                hour: batch.hour,
                rows,
                parts: parts.len() as u32,
            };
            match self.request(call)? {
                WorldReply::Observed { requests: r, route } => {
                    requests.extend(r);
                    self.route = route;
                    return Ok(());
                }
                WorldReply::Missing { parts: missing } => {
                    tracing::warn!(
                        hour = batch.hour,
                        parts = missing.len(),
                        "host lacks telemetry; sending it again"
                    );
                    let again: Vec<TelemetryPart> = missing
                        .iter()
                        .filter_map(|i| parts.get(*i as usize).cloned())
                        .collect();
                    self.publish(&again)?;
                }
                other => return Err(unexpected(&other)),
            }
        }
        Err(Error::Mesh {
            reason: format!(
                "hour {}: telemetry still missing after {MAX_RESENDS} resends",
                batch.hour
            ),
        })
    }
}

fn unexpected(reply: &WorldReply) -> Error {
    Error::Mesh {
        reason: format!("unexpected answer from the host: {reply:?}"),
    }
}

fn sim_error(e: Error) -> ledgerloop_sim::Error {
    ledgerloop_sim::Error::Policy {
        policy: POLICY_NAME.to_string(),
        reason: e.to_string(),
    }
}

impl Policy for RemotePolicy {
    fn name(&self) -> &str {
        POLICY_NAME
    }

    fn start(&mut self, start: &PolicyStart<'_>) -> ledgerloop_sim::Result<()> {
        self.start_run(start).map_err(sim_error)
    }

    fn on_labels(&mut self, hour: u64, answers: &[LabelAnswer]) -> ledgerloop_sim::Result<()> {
        let call = WorldCall::Labels {
            hour,
            answers: answers.to_vec(),
        };
        self.done(call).map_err(sim_error)
    }

    fn on_feedback(
        &mut self,
        hour: u64,
        version: &str,
        feedback: &[Feedback],
    ) -> ledgerloop_sim::Result<()> {
        let call = WorldCall::Feedback {
            hour,
            version: version.to_string(),
            feedback: feedback.to_vec(),
        };
        self.done(call).map_err(sim_error)
    }

    fn route(&self) -> &ServingRoute {
        &self.route
    }

    fn model(&self, version: &str) -> Option<Arc<dyn Classifier>> {
        Some(Arc::new(RemoteClassifier {
            client: self.client.clone(),
            runtime: self.runtime.clone(),
            subject: subjects::predict(&self.scenario),
            version: version.to_string(),
        }))
    }

    fn observe(
        &mut self,
        batch: Observed<'_>,
        requests: &mut Vec<LabelRequest>,
    ) -> ledgerloop_sim::Result<()> {
        self.observe_hour(&batch, requests).map_err(sim_error)
    }

    fn end_of_day(&mut self, day: u32) -> ledgerloop_sim::Result<Vec<PolicyNote>> {
        match self
            .request(WorldCall::EndOfDay { day })
            .map_err(sim_error)?
        {
            WorldReply::Day { notes, route } => {
                self.route = route;
                Ok(notes)
            }
            other => Err(sim_error(unexpected(&other))),
        }
    }
}

/// One served version, answering through the host's prediction service.
#[derive(Debug)]
pub struct RemoteClassifier {
    client: async_nats::Client,
    runtime: tokio::runtime::Handle,
    subject: String,
    version: String,
}

impl Classifier for RemoteClassifier {
    fn predict(&self, inputs: &Inputs, out: &mut Vec<u32>) -> ledgerloop_sim::Result<()> {
        out.clear();
        let rows = rows_of(inputs);
        let fail = |reason: String| ledgerloop_sim::Error::Policy {
            policy: POLICY_NAME.to_string(),
            reason: format!("predict with {}: {reason}", self.version),
        };
        for from in (0..rows).step_by(MAX_PREDICT_ROWS) {
            let to = (from + MAX_PREDICT_ROWS).min(rows);
            let request = PredictRequest {
                version: Some(self.version.clone()),
                keys: Vec::new(),
                inputs: WireInputs::rows(inputs, from, to),
            };
            let bytes = serde_json::to_vec(&request).map_err(|e| fail(e.to_string()))?;
            let answer = self
                .runtime
                .block_on(self.client.request(self.subject.clone(), bytes.into()))
                .map_err(|e| fail(e.to_string()))?;
            match serde_json::from_slice(&answer.payload).map_err(|e| fail(e.to_string()))? {
                PredictReply::Predicted { classes, .. } if classes.len() == to - from => {
                    out.extend(classes)
                }
                PredictReply::Predicted { classes, .. } => {
                    return Err(fail(format!(
                        "{} classes for {} rows",
                        classes.len(),
                        to - from
                    )))
                }
                PredictReply::Refused { reason } => return Err(fail(reason)),
            }
        }
        Ok(())
    }
}

/// Runs the world of `scenario` against a host listening on NATS; `rate` caps the
/// telemetry at that many rows per second (none: as fast as the host answers).
pub fn run_devices(
    scenario: &Scenario,
    overrides: &[String],
    options: &MeshOptions,
    out: &std::path::Path,
    rate_rows_per_s: Option<f64>,
) -> Result<Summary> {
    let runtime = mesh_runtime(out)?;
    let name = scenario.scenario.name.clone();
    let (client, log) = runtime.block_on(async {
        let client = connect(options).await?;
        let log = JetStreamLog::open(client.clone(), &name, &options.stream).await?;
        Ok::<_, Error>((client, log))
    })?;
    let mut policy = RemotePolicy {
        client,
        runtime: runtime.handle().clone(),
        scenario: name,
        runs: None,
        route: ServingRoute::champion("unstarted"),
        seq: 0,
        static_seed: component_u64(scenario.scenario.seed, "learner/static"),
        rate_rows_per_s,
        sent_rows: 0,
        started: Instant::now(),
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    // Nothing is logged before the host answers: it checks the log is empty first.
    policy.done(WorldCall::Hello)?;
    // The host created the scenario's object stores before it answered.
    let runs = runtime
        .block_on(
            log.context()
                .get_object_store(bucket(&policy.scenario, "runs")),
        )
        .map_err(nats("object store runs"))?;
    policy.runs = Some(runs.clone());
    let shared: ledgerloop_events::SharedLog = Arc::new(log);
    let summary = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let summary = ledgerloop_sim::run::run_with_log(
                    scenario,
                    overrides,
                    &mut policy,
                    out,
                    shared,
                );
                let finished = policy.done(WorldCall::Finish);
                (summary, finished)
            })
            .join()
            .map_err(|_| Error::Mesh {
                reason: "the devices thread panicked".into(),
            })
    })?;
    let (summary, finished) = summary;
    let summary = summary?;
    finished?;
    let path = out.join(SUMMARY_OBJECT);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    runtime
        .block_on(async move {
            let mut reader = bytes.as_slice();
            runs.put(SUMMARY_OBJECT, &mut reader).await
        })
        .map_err(nats("store summary.json"))?;
    Ok(summary)
}

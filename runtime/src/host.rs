//! The sim host: the six agents governing the simulator's served model.
//!
//! [`GovernedPolicy`] implements the simulator's `Policy` for tabular worlds (an MLP
//! serves) and text worlds (a hashed n-gram classifier serves). Every simulator callback
//! becomes inputs for the deciders (via [`crate::step::apply`]), each call is written
//! to the log with its input (via [`crate::journal::Journal`]), and the decisions that
//! ask for work (training, distilling) are carried out at once by the workers, whose
//! facts go back to the agents as inputs. The route the simulator reads every hour is
//! the Releaser's state.
//!
//! * `host/deliver.rs`: handing inputs to agents and reacting to their decisions.
//! * `host/perceive.rs`: what the Perceiver is shown (readings, outcomes) and what
//!   comes back (label requests, pseudo-labels); label deliveries.
//! * `host/evaluate.rs`: candidates waiting for time-held-out labels, and their
//!   evaluation.
//! * `host/operator.rs`: rollback and approval commands (scheduled in a simulation).
//! * `host/remote.rs`: calls of agents that run as actors or processes of the mesh.
//! * `host/faults.rs`: the faults of a simulation's [`crate::faults::FaultPlan`] and the
//!   recovery from them (crash and restart from the log, late and duplicate deliveries).

mod deliver;
mod evaluate;
mod faults;
mod operator;
mod perceive;
mod remote;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ledgerloop_agents::releaser::route;
use ledgerloop_events::catalogue::{BaselineTrained, InputRecorded, PoliciesLoaded, WarmStart};
use ledgerloop_events::{Event, SharedLog};
use ledgerloop_sim::data::{Inputs, Observed};
use ledgerloop_sim::learner::Classifier;
use ledgerloop_sim::policy::{
    Canary, Feedback, LabelAnswer, LabelRequest, Policy, PolicyNote, PolicyStart, ServingRoute,
};
use ledgerloop_sim::rng::{stable_hash, unit_interval};
use uuid::Uuid;

use crate::blobs::BlobStore;
use crate::config::GovernedConfig;
use crate::costs::MeasuredCosts;
use crate::data::{FeatureTransform, RowStore, ServedModel};
use crate::error::{Error, Result};
use crate::journal::{Journal, HOST_STREAM, WORKER_STREAM};
use crate::restore::InputKey;
use crate::step::{Agents, Input, Role, States};
use crate::workers;

pub use evaluate::Candidate;
pub(crate) use evaluate::{heldout_ready, requeue_in_line};
pub use faults::FaultLog;
pub use operator::{OperatorAction, OperatorCommand, OPERATOR_STREAM};
pub use perceive::PendingLabel;
pub use remote::{carried_event, AgentCall, AgentReply, RemoteAgents, WireEvent};

/// Name of the policy in the simulator's summary.
pub const POLICY_NAME: &str = "governed";
/// `BaselineTrained.arm` of the host's first model.
pub const BASELINE_ARM: &str = "governed";
/// Folder (under the run's output) of stored inputs.
pub const INPUTS_DIR: &str = "inputs";
/// Folder (under the run's output) of model weights, by SHA-256.
pub const ARTIFACTS_DIR: &str = "artifacts";

/// Told the wall time of every agent call the host made (deciding and logging the
/// input and its decisions) and how many decisions it produced. Wall time never reaches
/// the log; a mesh host turns it into its decision latency histogram.
pub struct CallObserver(pub Box<dyn FnMut(Role, std::time::Duration, usize) + Send>);

impl std::fmt::Debug for CallObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallObserver")
    }
}

/// The agents, their states and the host's data.
#[derive(Debug)]
pub struct GovernedPolicy {
    config: GovernedConfig,
    source: String,
    agents: Agents,
    states: States,
    journal: Journal,
    artifacts: BlobStore,
    seed: u64,
    transform: Arc<FeatureTransform>,
    n_classes: usize,
    slice_names: Vec<String>,
    warmup: RowStore,
    old_holdout: RowStore,
    labels: RowStore,
    pseudo: RowStore,
    models: BTreeMap<String, Arc<ServedModel>>,
    route: ServingRoute,
    pending_labels: BTreeMap<(u64, u32), PendingLabel>,
    request_events: BTreeMap<String, Uuid>,
    candidates: Vec<Candidate>,
    /// Candidates already evaluated, by model id: one in the Releaser's line is judged
    /// again from here after a promotion (`queue_blessed`).
    judged: BTreeMap<String, Candidate>,
    last_decision: BTreeMap<Role, Uuid>,
    last_retrain_request: Option<Uuid>,
    outcome_counts: Vec<u64>,
    hour: u64,
    notes: Vec<PolicyNote>,
    /// Keys of the inputs each agent handled: a delivery repeated is answered from the
    /// log, never decided twice (also rebuilt from the log when an agent restarts).
    handled: BTreeMap<Role, BTreeSet<InputKey>>,
    /// `TrainingStarted` / `DistillationStarted` ids whose worker ran (or hangs).
    started_jobs: BTreeSet<Uuid>,
    /// The input record (with its id) the latest agent call appended; `None` when the
    /// call was answered from the log. Read after an evaluation, whose recorded report
    /// is the Trainer's evidence of its cost (iteration-scope budget).
    last_record: Option<(Uuid, InputRecorded)>,
    /// The fault plan of a simulation with faults; `None` in a normal run.
    faults: Option<faults::FaultRuntime>,
    call_observer: Option<CallObserver>,
    /// Agents living elsewhere (mesh actors or processes); `None`: they decide here.
    remote: Option<Box<dyn RemoteAgents>>,
    /// CPU and wall time the workers took on this machine (never in the log).
    measured: MeasuredCosts,
    /// The model the first model is fine-tuned from; `None`: trained from scratch.
    warm_start: Option<crate::transfer::SourceModel>,
}

impl GovernedPolicy {
    /// A host writing to `log`, with inputs and artifacts under `out`; `source` names
    /// where the policies came from (recorded in `PoliciesLoaded`).
    pub fn new(
        config: GovernedConfig,
        source: &str,
        log: SharedLog,
        out: &std::path::Path,
    ) -> Result<Self> {
        let agents = config.agents().map_err(|e| Error::InvalidPolicy {
            path: "<agents policy>".into(),
            reason: e.to_string(),
        })?;
        // The clock and seed are replaced in `start`; nothing is written before it.
        let clock = ledgerloop_sim::clock::Clock::new(chrono::DateTime::UNIX_EPOCH, 0);
        Ok(Self {
            config,
            source: source.to_string(),
            agents,
            states: States::default(),
            journal: Journal::new(log, BlobStore::new(out.join(INPUTS_DIR)), clock, 0),
            artifacts: BlobStore::new(out.join(ARTIFACTS_DIR)),
            seed: 0,
            transform: Arc::new(FeatureTransform::default()),
            n_classes: 0,
            slice_names: Vec::new(),
            warmup: RowStore::default(),
            old_holdout: RowStore::default(),
            labels: RowStore::default(),
            pseudo: RowStore::default(),
            models: BTreeMap::new(),
            route: ServingRoute::champion("unstarted"),
            pending_labels: BTreeMap::new(),
            request_events: BTreeMap::new(),
            candidates: Vec::new(),
            judged: BTreeMap::new(),
            last_decision: BTreeMap::new(),
            last_retrain_request: None,
            outcome_counts: Vec::new(),
            hour: 0,
            notes: Vec::new(),
            handled: BTreeMap::new(),
            started_jobs: BTreeSet::new(),
            last_record: None,
            faults: None,
            call_observer: None,
            remote: None,
            measured: MeasuredCosts::default(),
            warm_start: None,
        })
    }

    /// What the workers took on this machine so far (measured, beside the log).
    pub fn measured_costs(&self) -> &MeasuredCosts {
        &self.measured
    }

    /// Starts the run from `source` (fine-tuned on the warm-up rows) instead of training
    /// the first model from scratch.
    pub fn warm_start_from(&mut self, source: crate::transfer::SourceModel) {
        self.warm_start = Some(source);
    }

    /// Tells `observer` about every later agent call.
    pub fn observe_calls(&mut self, observer: CallObserver) {
        self.call_observer = Some(observer);
    }

    /// The agents' states (for tests and reports).
    pub fn states(&self) -> &States {
        &self.states
    }

    /// The simulated hour of the latest call from the simulator.
    pub fn hour(&self) -> u64 {
        self.hour
    }

    /// Every model version the host holds (trained, distilled or the baseline).
    pub fn model_versions(&self) -> Vec<String> {
        self.models.keys().cloned().collect()
    }

    /// The policies the host runs.
    pub fn config(&self) -> &GovernedConfig {
        &self.config
    }

    /// The log the host writes.
    pub fn log(&self) -> Result<&ledgerloop_events::FileLog> {
        self.journal.log().as_file_log().ok_or_else(|| Error::Mesh {
            reason: "fault simulation reads and tears the embedded log; this host writes to \
                     a remote log"
                .into(),
        })
    }

    /// Ids of every event the host appended and was told was stored, in order.
    pub fn acknowledged(&self) -> &[Uuid] {
        self.journal.acknowledged()
    }

    fn check_world(&self, start: &PolicyStart<'_>) -> Result<()> {
        let names: Vec<&str> = start
            .shape
            .features
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        let policy: Vec<&str> = self
            .config
            .perceiver
            .features
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        let invalid = |reason: String| Error::InvalidPolicy {
            path: "<agents policy>".into(),
            reason,
        };
        if names != policy {
            return Err(invalid(format!(
                "perceiver.features {policy:?} must list the world's columns {names:?} in order"
            )));
        }
        let budget = self.config.perceiver.label_budget_per_day;
        if budget > start.label_budget_per_day {
            return Err(invalid(format!(
                "perceiver.label_budget_per_day = {budget} exceeds the oracle's daily budget \
                 {}",
                start.label_budget_per_day
            )));
        }
        Ok(())
    }

    /// Splits the warm-up rows into training rows and the old-distribution holdout.
    fn split_warmup(&mut self, start: &PolicyStart<'_>) -> Result<()> {
        let n_features = match &start.warmup.inputs {
            Inputs::Tabular { n_features, .. } => *n_features,
            Inputs::Text { .. } => 0,
        };
        self.warmup = RowStore::new(n_features);
        self.old_holdout = RowStore::new(n_features);
        self.labels = RowStore::new(n_features);
        self.pseudo = RowStore::new(n_features);
        let share = self.config.host.warmup_holdout_share;
        for (i, label) in start.warmup.labels.iter().enumerate() {
            let u = unit_interval(stable_hash(self.seed ^ stable_hash(i as u64)));
            let store = if u < share {
                &mut self.old_holdout
            } else {
                &mut self.warmup
            };
            match &start.warmup.inputs {
                Inputs::Tabular { values, .. } => {
                    store.push(&values[i * n_features..(i + 1) * n_features], *label, 0)
                }
                Inputs::Text { texts } => store.push_text(&texts[i], *label, 0),
            }
        }
        Ok(())
    }

    fn start_host(&mut self, start: &PolicyStart<'_>) -> Result<()> {
        self.check_world(start)?;
        self.seed = start.seed;
        self.n_classes = start.shape.n_classes();
        self.outcome_counts = vec![0; self.n_classes];
        self.slice_names = start.shape.slice_names.clone();
        self.transform = Arc::new(FeatureTransform::of(start.shape));
        self.journal = Journal::new(
            self.journal.log().clone(),
            self.journal.blobs().clone(),
            start.clock,
            start.seed,
        );
        if let Some(source) = &self.warm_start {
            let names: Vec<String> = start
                .shape
                .features
                .iter()
                .map(|f| f.name.clone())
                .collect();
            source.check_fits(&names, &self.transform, self.n_classes)?;
        }
        self.split_warmup(start)?;
        self.plan_faults(start.seed, start.clock.first_hour_of_day(0));
        let policies = serde_json::to_value(&self.config)?;
        let loaded = Event::PoliciesLoaded(PoliciesLoaded {
            source: self.source.clone(),
            policies_sha256: crate::blobs::sha256_hex(&serde_json::to_vec(&policies)?),
            policies,
        });
        self.journal
            .facts(HOST_STREAM, "host", 0, &[loaded], None)?;
        let (first, warm_start) = self.first_model(start.seed)?;
        self.artifacts.put(&first_weights(&first)?)?;
        let baseline = Event::BaselineTrained(BaselineTrained {
            arm: BASELINE_ARM.to_string(),
            model_id: first.model_id.clone(),
            day: 0,
            training_rows: self.warmup.len() as u64,
            metrics: BTreeMap::from([(
                "old_holdout_rows".to_string(),
                self.old_holdout.len() as f64,
            )]),
            warm_start,
        });
        let id = self
            .journal
            .fact(WORKER_STREAM, "worker", 0, &baseline, None)?;
        self.journal.correlate_with(id);
        self.route = ServingRoute::champion(first.model_id.clone());
        self.models.insert(first.model_id.clone(), Arc::new(first));
        let warmup = self.warmup_record();
        let input = Input::Rows {
            event: baseline.clone(),
            fold_only: true,
            rows: Box::new(warmup),
        };
        self.give(Role::Trainer, 0, input, Some(id), None)?;
        self.give(
            Role::Releaser,
            0,
            Input::Fold(baseline.clone()),
            Some(id),
            None,
        )?;
        self.give(Role::DriftJudge, 0, Input::Event(baseline), Some(id), None)?;
        Ok(())
    }

    /// The first model: trained from scratch on the warm-up rows, or the warm-start
    /// source fine-tuned on them (its weights copied into this run's artifacts, so a deep
    /// audit redoes the fine-tune from this folder alone) with what the log records of it.
    fn first_model(&self, seed: u64) -> Result<(ServedModel, Option<WarmStart>)> {
        let settings = &self.config.host;
        if let Some(source) = &self.warm_start {
            self.artifacts.put(&source.weights)?;
        }
        let first = workers::first_model(
            self.warm_start.as_ref().map(|s| s.model.as_ref()),
            &self.warmup,
            self.n_classes,
            &self.transform,
            settings,
            seed,
        )?;
        let record = self.warm_start.as_ref().map(|s| s.record(settings));
        Ok((first, record))
    }

    /// The warm-up rows (training rows, then the old holdout) with what a deep audit
    /// needs to redo the first fit.
    fn warmup_record(&self) -> crate::data::RowsRecord {
        let mut warmup = crate::data::RowsRecord::of(&self.warmup);
        let old = &self.old_holdout;
        warmup.features.extend_from_slice(&old.features);
        warmup.texts.extend_from_slice(&old.texts);
        warmup.labels.extend_from_slice(&old.labels);
        warmup.slices.extend_from_slice(&old.slices);
        warmup.train_rows = Some(self.warmup.len());
        warmup.world = Some(crate::data::WorldFacts {
            log_scale: self.transform.log_scale().to_vec(),
            n_classes: self.n_classes,
            slice_names: self.slice_names.clone(),
            seed: self.seed,
        });
        warmup
    }

    /// Rebuilds the simulator's route from the Releaser's state.
    fn refresh_route(&mut self) {
        let (champion, canary) = route(&self.states.releaser);
        if champion.is_empty() {
            return;
        }
        self.route = ServingRoute {
            champion,
            canary: canary.map(|(version, fraction)| Canary { version, fraction }),
        };
    }

    fn champion(&self) -> Option<Arc<ServedModel>> {
        self.models.get(&self.route.champion).cloned()
    }

    fn policy_error(&self, e: Error) -> ledgerloop_sim::Error {
        ledgerloop_sim::Error::Policy {
            policy: POLICY_NAME.to_string(),
            reason: e.to_string(),
        }
    }
}

fn first_weights(model: &ServedModel) -> Result<Vec<u8>> {
    model.weights()
}

impl Policy for GovernedPolicy {
    fn name(&self) -> &str {
        POLICY_NAME
    }

    fn start(&mut self, start: &PolicyStart<'_>) -> ledgerloop_sim::Result<()> {
        self.start_host(start).map_err(|e| self.policy_error(e))
    }

    fn on_labels(&mut self, hour: u64, answers: &[LabelAnswer]) -> ledgerloop_sim::Result<()> {
        self.hour = hour;
        let answers = self.faulty_labels(hour, answers);
        self.deliver_labels(hour, &answers)
            .map_err(|e| self.policy_error(e))
    }

    fn on_feedback(
        &mut self,
        hour: u64,
        version: &str,
        feedback: &[Feedback],
    ) -> ledgerloop_sim::Result<()> {
        self.hour = hour;
        self.deliver_feedback(hour, version, feedback)
            .map_err(|e| self.policy_error(e))
    }

    fn route(&self) -> &ServingRoute {
        &self.route
    }

    fn model(&self, version: &str) -> Option<Arc<dyn Classifier>> {
        self.models
            .get(version)
            .map(|m| m.clone() as Arc<dyn Classifier>)
    }

    fn observe(
        &mut self,
        batch: Observed<'_>,
        requests: &mut Vec<LabelRequest>,
    ) -> ledgerloop_sim::Result<()> {
        self.hour = batch.hour;
        self.scheduled_commands(batch.hour)
            .and_then(|()| self.release_labels(batch.hour))
            .and_then(|()| self.perceive(batch, requests))
            .and_then(|()| self.hourly(batch.hour))
            .and_then(|()| self.release_held(batch.hour))
            .map_err(|e| self.policy_error(e))
    }

    fn end_of_day(&mut self, _day: u32) -> ledgerloop_sim::Result<Vec<PolicyNote>> {
        Ok(std::mem::take(&mut self.notes))
    }
}

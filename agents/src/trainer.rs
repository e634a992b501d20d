//! The Trainer: decides *what* to train and *when*; a worker does the training.
//!
//! A `RetrainRequested` from the DriftJudge becomes a pending request. Whenever an input
//! arrives (the request itself, labels, pseudo-labels, a worker's result, an hourly
//! tick) the Trainer checks, in this order, whether the pending request may start a job:
//! the back-off after a failure has passed, a job slot is free, the cool-down since the
//! last start has passed, and enough fresh labels have arrived. If so it writes a
//! `TrainingStarted` whose evidence carries the full job spec (see [`job`]); if not it
//! writes a `RetrainDeferred` naming the reason, once per reason and request. A failed
//! job is retried after a back-off that doubles per failure, and the request is dropped
//! (`gave_up`) after the policy's last attempt.
//!
//! Convention: the host appends each input *fact* (`RetrainRequested`, `LabelsReceived`,
//! `PseudoLabelsAccepted`, `ModelTrained`, `TrainingFailed`) and folds it with `evolve`
//! *before* calling `decide` with it, so `decide` sees the state including the input;
//! the input itself supplies the hour, which most facts do not carry.

pub mod augment;
pub mod augment_text;
pub mod budget;
pub mod job;
pub mod policy;
mod state;

use ledgerloop_events::catalogue::{
    CostBenefit, LabelsReceived, ModelTrained, PseudoLabelsAccepted, RetrainDeferred,
    RetrainRequested, TrainingFailed, TrainingStarted,
};
use ledgerloop_events::{Event, Evidence};

use crate::decider::Decider;
use crate::error::{Error, Result};
pub use augment::{AugmentClassWeights, AugmentMethod, AugmentPolicy};
pub use augment_text::TextAugmentPolicy;
pub use budget::{BudgetPolicy, BudgetScope};
use budget::{DistilEvalSpent, Spent, Weighing};
pub use job::{job_seed, DatasetComposition, RowRange, TrainingJob};
pub use policy::{FederatedPolicy, Severity, Strategy, TrainerPolicy};
pub use state::{
    PendingRequest, RunningJob, TrainerState, EVALUATION_REPORT_KIND, EVALUATOR_AGENT,
};

/// Component name used in errors.
const COMPONENT: &str = "trainer";
/// Prefix of the Trainer's job ids (`train-1`, `train-2`, ...).
pub const JOB_PREFIX: &str = "train-";
/// Deferral: fewer fresh labels than `min_fresh_labels`.
pub const REASON_TOO_FEW_LABELS: &str = "too_few_labels";
/// Deferral: within `cooldown_hours` of the last start.
pub const REASON_COOLDOWN: &str = "cooldown";
/// Deferral: every job slot is taken.
pub const REASON_JOB_RUNNING: &str = "job_running";
/// Deferral: a job failed; the retry waits until `not_before_hour`.
pub const REASON_BACKOFF: &str = "backoff";
/// Deferral: the last attempt failed; the request is dropped.
pub const REASON_GAVE_UP: &str = "gave_up";
/// Deferral: the estimated gain does not pay for the job; noticed, not acted on, and
/// the request is dropped.
pub const REASON_NOT_WORTH_IT: &str = "not_worth_it";
/// Deferral: the job would overrun the compute budget; it waits for the budget.
pub const REASON_BUDGET_EXHAUSTED: &str = "budget_exhausted";

/// Both sides of a weighed decision and the evidence behind them.
type Weighed = (CostBenefit, Evidence);

/// What the Trainer reacts to. Facts are folded into the state before `decide` (see the
/// module documentation); each variant carries the hour it arrived at.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainerInput {
    /// The DriftJudge asked for a retrain (the payload carries its hour).
    RetrainRequested(RetrainRequested),
    /// Oracle labels arrived.
    LabelsReceived {
        /// The fact.
        labels: LabelsReceived,
        /// Hour of arrival.
        hour: u64,
    },
    /// Pseudo-labels were accepted.
    PseudoLabelsAccepted {
        /// The fact.
        pseudo: PseudoLabelsAccepted,
        /// Hour of acceptance.
        hour: u64,
    },
    /// A worker finished a job.
    ModelTrained {
        /// The fact.
        trained: ModelTrained,
        /// Hour of the report.
        hour: u64,
    },
    /// A worker's job failed.
    TrainingFailed {
        /// The fact.
        failed: TrainingFailed,
        /// Hour of the report.
        hour: u64,
    },
    /// An hourly tick.
    Tick {
        /// The hour.
        hour: u64,
    },
}

impl TrainerInput {
    /// The hour the input arrived at.
    pub fn hour(&self) -> u64 {
        match self {
            TrainerInput::RetrainRequested(r) => r.hour,
            TrainerInput::LabelsReceived { hour, .. }
            | TrainerInput::PseudoLabelsAccepted { hour, .. }
            | TrainerInput::ModelTrained { hour, .. }
            | TrainerInput::TrainingFailed { hour, .. }
            | TrainerInput::Tick { hour } => *hour,
        }
    }
}

fn bad_input(reason: String) -> Error {
    Error::InvalidInput {
        component: COMPONENT,
        reason,
    }
}

/// The Trainer decider: a validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Trainer {
    policy: TrainerPolicy,
}

impl Trainer {
    /// Builds the decider, refusing an invalid policy.
    pub fn new(policy: TrainerPolicy) -> Result<Self> {
        policy.validate()?;
        Ok(Trainer { policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> &TrainerPolicy {
        &self.policy
    }
}

impl Decider for Trainer {
    type State = TrainerState;
    type Input = TrainerInput;

    fn decide(&self, state: &TrainerState, input: &TrainerInput) -> Result<Vec<Event>> {
        let hour = input.hour();
        if hour < state.last_hour {
            return Err(bad_input(format!(
                "hour {hour} is before the last recorded hour {}",
                state.last_hour
            )));
        }
        if let TrainerInput::RetrainRequested(r) = input {
            if Severity::parse(&r.severity).is_none() {
                return Err(bad_input(format!("unknown severity `{}`", r.severity)));
            }
            if !r.strategy.is_empty() && Strategy::parse(&r.strategy).is_none() {
                return Err(bad_input(format!("unknown strategy `{}`", r.strategy)));
            }
        }
        Ok(self.step(state, hour).into_iter().collect())
    }

    fn evolve(state: &mut TrainerState, event: &Event) {
        state.apply(event);
    }
}

impl Trainer {
    /// The one decision the pending request calls for at `hour`, if any.
    fn step(&self, state: &TrainerState, hour: u64) -> Option<Event> {
        let pending = state.pending.as_ref()?;
        let p = &self.policy;
        if pending.backoff_due {
            let failed = pending.failed_attempts;
            if failed >= p.max_attempts {
                return Some(self.deferral(state, pending, REASON_GAVE_UP, hour, hour, None));
            }
            let until = hour.saturating_add(p.backoff_after(failed));
            return Some(self.deferral(state, pending, REASON_BACKOFF, hour, until, None));
        }
        let cooldown_end = state
            .last_start_hour
            .map(|h| h.saturating_add(p.cooldown_hours));
        let (reason, until) = if hour < pending.not_before_hour {
            (REASON_BACKOFF, pending.not_before_hour)
        } else if state.running.len() >= p.max_concurrent_jobs {
            (REASON_JOB_RUNNING, hour)
        } else if let Some(end) = cooldown_end.filter(|end| hour < *end) {
            (REASON_COOLDOWN, end)
        } else if state.fresh_labels() < p.min_fresh_labels {
            (REASON_TOO_FEW_LABELS, hour)
        } else {
            return self.weighed_step(state, pending, hour);
        };
        if pending.deferred.as_deref() == Some(reason) {
            return None;
        }
        Some(self.deferral(state, pending, reason, hour, until, None))
    }

    /// A request that may start a job: without a budget it starts; with one, it starts
    /// only when the gain is worth the cost and the cost fits the budget left.
    fn weighed_step(
        &self,
        state: &TrainerState,
        pending: &PendingRequest,
        hour: u64,
    ) -> Option<Event> {
        let Some(budget) = &self.policy.budget else {
            return Some(self.start(state, pending, hour, None));
        };
        let rows = self.composition(state).rows();
        let spent = Spent {
            by_day: &state.cpu_by_day,
            per_row: state.cpu_seconds_per_row,
            distil_eval: DistilEvalSpent {
                by_day: &state.distil_eval_cpu_by_day,
                last_distillation_cpu_seconds: state.last_distillation_cpu_seconds,
                last_evaluation_cpu_seconds: state.last_evaluation_cpu_seconds,
            },
        };
        let (outcome, weighed, evidence) = budget.weigh(pending.gain_points, rows, hour, spent);
        let both = Some((weighed, evidence));
        match outcome {
            Weighing::Go => Some(self.start(state, pending, hour, both)),
            Weighing::NotWorthIt => {
                Some(self.deferral(state, pending, REASON_NOT_WORTH_IT, hour, hour, both))
            }
            Weighing::BudgetExhausted { .. }
                if pending.deferred.as_deref() == Some(REASON_BUDGET_EXHAUSTED) =>
            {
                None
            }
            Weighing::BudgetExhausted { not_before_hour } => Some(self.deferral(
                state,
                pending,
                REASON_BUDGET_EXHAUSTED,
                hour,
                not_before_hour,
                both,
            )),
        }
    }

    /// The evidence every Trainer decision shares: the request and the data on hand.
    fn base_evidence(&self, state: &TrainerState, pending: &PendingRequest, hour: u64) -> Evidence {
        // -1 when no job has started yet: evidence must stay finite, so no infinity.
        let since_start = state
            .last_start_hour
            .map_or(-1.0, |h| hour.saturating_sub(h) as f64);
        Evidence::new()
            .with(job::keys::HOUR, hour as f64)
            .with(job::keys::SEVERITY, pending.severity.rank())
            .with(job::keys::REQUEST_HOUR, pending.hour as f64)
            .with(job::keys::LABELS_AVAILABLE, state.fresh_labels() as f64)
            .with(job::keys::PSEUDO_AVAILABLE, state.fresh_pseudo() as f64)
            .with("jobs.running", state.running.len() as f64)
            .with("hours_since_last_start", since_start)
            .with("failed_attempts", f64::from(pending.failed_attempts))
    }

    fn deferral(
        &self,
        state: &TrainerState,
        pending: &PendingRequest,
        reason: &str,
        hour: u64,
        not_before_hour: u64,
        weighed: Option<Weighed>,
    ) -> Event {
        let p = &self.policy;
        let (weighed, mut evidence) = match weighed {
            Some((w, e)) => (Some(w), e),
            None => (None, Evidence::new()),
        };
        evidence
            .0
            .extend(self.base_evidence(state, pending, hour).0);
        let evidence = evidence
            .with("threshold.min_fresh_labels", p.min_fresh_labels as f64)
            .with("threshold.cooldown_hours", p.cooldown_hours as f64)
            .with("threshold.max_attempts", f64::from(p.max_attempts))
            .with("not_before_hour", not_before_hour as f64);
        Event::RetrainDeferred(RetrainDeferred {
            reason: reason.to_string(),
            model_id: pending.model_id.clone(),
            hour,
            not_before_hour,
            weighed,
            evidence,
            rule: p.rule(),
        })
    }

    /// The composition of a job started now: every fresh label (or, with
    /// `recent_window_labels`, the newest labels of the window), a replay sample of the
    /// history before them, and the newest pseudo-labels up to the share cap.
    pub fn composition(&self, state: &TrainerState) -> DatasetComposition {
        let p = &self.policy;
        let baseline = state
            .baseline_rows
            .get(&p.baseline_arm)
            .copied()
            .unwrap_or(0);
        let labels_from = match p.recent_window_labels {
            Some(window) => state
                .labels_used
                .min(state.labels_total.saturating_sub(window)),
            None => state.labels_used,
        };
        let pool = baseline.saturating_add(labels_from);
        // Float products of counts below 2^53 and fractions in [0, 1] are finite; the
        // cast saturates, and `min` keeps the result within the cap either way.
        let replay = ((pool as f64 * p.replay_fraction).floor() as u64).min(p.max_replay_rows);
        let fresh = state.labels_total.saturating_sub(labels_from);
        let share = p.max_pseudo_share;
        let true_rows = fresh.saturating_add(replay) as f64;
        let cap = (true_rows * share / (1.0 - share)).floor() as u64;
        let pseudo = state.fresh_pseudo().min(cap);
        DatasetComposition {
            fresh_labels: RowRange {
                from: labels_from,
                to: state.labels_total,
            },
            pseudo_labels: RowRange {
                from: state.pseudo_total.saturating_sub(pseudo),
                to: state.pseudo_total,
            },
            replay_pool_rows: pool,
            replay_rows: replay,
        }
    }

    fn start(
        &self,
        state: &TrainerState,
        pending: &PendingRequest,
        hour: u64,
        weighed: Option<Weighed>,
    ) -> Event {
        let p = &self.policy;
        let composition = self.composition(state);
        let fresh = composition.fresh_labels.len();
        let strategy = p.strategy_for(pending.severity, pending.suggested, fresh);
        let rows = composition.rows().max(1) as f64;
        let (weighed, mut evidence) = match weighed {
            Some((w, e)) => (Some(w), e),
            None => (None, Evidence::new()),
        };
        evidence
            .0
            .extend(self.base_evidence(state, pending, hour).0);
        evidence = evidence
            .with(job::keys::ATTEMPT, f64::from(pending.failed_attempts) + 1.0)
            .with(
                job::keys::PSEUDO_SHARE,
                composition.pseudo_labels.len() as f64 / rows,
            )
            .with(
                job::keys::LORA_RANK,
                f64::from(p.lora_rank(strategy, fresh)),
            );
        evidence = job::composition_evidence(&composition, evidence);
        if let Some(f) = &p.federated {
            evidence = evidence
                .with(job::keys::FED_CLIENTS, f64::from(f.clients))
                .with(job::keys::FED_ROUNDS, f64::from(f.rounds))
                .with(job::keys::FED_MU, f.fedprox_mu);
        }
        if let Some(a) = &p.augment {
            evidence = a.write(evidence);
        }
        let parent = Some(pending.model_id.clone()).filter(|m| !m.is_empty());
        Event::TrainingStarted(TrainingStarted {
            job_id: format!("{JOB_PREFIX}{}", state.jobs_started.saturating_add(1)),
            parent_model_id: parent,
            dataset_hash: composition.hash(),
            strategy: strategy.name().to_string(),
            weighed,
            evidence,
            rule: p.rule(),
        })
    }
}

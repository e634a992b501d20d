//! The Distiller: decides when a teacher is distilled into a small student for edge
//! devices, and with which settings; a worker does the distilling.
//!
//! By default a teacher becomes a candidate as soon as it is *trained* (`ModelTrained`),
//! not when it is promoted: the student is then ready by the time the Evaluator and the
//! Releaser have judged the teacher, so an edge fleet never waits a distillation behind
//! the server. Students are small and cheap, so distilling a candidate that is later
//! rejected costs little. `trigger = "promoted"` distils only champions instead.
//!
//! Each teacher is distilled once: one job at a time, candidates in arrival order, a
//! failed job (`TrainingFailed` naming a distillation job) retried at the next input
//! until `max_attempts`. The edge gates (student size and latency) are not judged here;
//! they are recorded in every decision's rule for the Evaluator to apply to the student.
//!
//! Convention, as for the Trainer: the host folds each input fact into the state before
//! calling `decide` with it; the input supplies the hour.

mod state;

use ledgerloop_events::catalogue::{
    DistillationStarted, ModelPromoted, ModelTrained, StudentDistilled, TrainingFailed,
};
use ledgerloop_events::{Event, Evidence, Hash, Rule};
use serde::{Deserialize, Serialize};

use crate::decider::Decider;
use crate::error::{invalid, Error, Result};
pub use state::{
    student_of, teacher_of, DistilTrigger, DistillerState, Lineage, StudentRecord, MAX_LINEAGE,
    MAX_QUEUE,
};

/// Component name used in errors.
const COMPONENT: &str = "distiller";
/// Component name used in policy errors.
const POLICY: &str = "distiller policy";
/// Prefix of the Distiller's job ids (`distil-1`, ...).
pub const JOB_PREFIX: &str = "distil-";
/// Domain tag of the seed derivation.
const SEED_DOMAIN: &str = "ledgerloop.distiller.seed.v1";
/// Largest temperature accepted; beyond it soft targets are uniform to float precision.
const MAX_TEMPERATURE: f64 = 100.0;
/// Largest pruning target accepted; a student with almost no weights left is useless.
const MAX_SPARSITY: f64 = 0.95;
/// Upper bound on attempts per teacher.
const MAX_ATTEMPTS: u32 = 10;

/// The Distiller's policy, read from the `[distiller]` table of a policy file.
///
/// Unknown keys are rejected; missing keys take the defaults shown on each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistillerPolicy {
    /// Policy name written into every decision's rule (default `distiller.v1`).
    pub name: String,
    /// Distil teachers when `trained` (default), only when `promoted`, or `never` (for
    /// model families with no edge student, such as text classifiers).
    pub trigger: DistilTrigger,
    /// Softmax temperature of the soft targets, in (0, 100] (default 4, the models
    /// crate's default).
    pub temperature: f64,
    /// Weight of the soft-target loss, in [0, 1] (default 0.7).
    pub alpha: f64,
    /// Student architecture name passed to the worker, non-empty (default `student`).
    pub student_config: String,
    /// Quantize the student to int8 (default true).
    pub quantize_int8: bool,
    /// Fraction of weights pruned, in [0, 0.95] (default 0.0: no pruning, because the
    /// pruned model is stored dense and saves no bytes).
    pub prune_sparsity: f64,
    /// Edge gate: largest student artifact in bytes, >= 1 (default 65536).
    pub max_student_bytes: u64,
    /// Edge gate: largest single-row inference latency in microseconds, finite and > 0
    /// (default 500).
    pub max_latency_us: f64,
    /// Attempts per teacher, counting the first, in [1, 10] (default 2).
    pub max_attempts: u32,
}

impl Default for DistillerPolicy {
    fn default() -> Self {
        DistillerPolicy {
            name: "distiller.v1".to_string(),
            trigger: DistilTrigger::Trained,
            temperature: 4.0,
            alpha: 0.7,
            student_config: "student".to_string(),
            quantize_int8: true,
            prune_sparsity: 0.0,
            max_student_bytes: 65_536,
            max_latency_us: 500.0,
            max_attempts: 2,
        }
    }
}

impl DistillerPolicy {
    /// Checks every field lies in its documented range.
    pub fn validate(&self) -> Result<()> {
        let t = self.temperature;
        if !(t > 0.0 && t <= MAX_TEMPERATURE) {
            return Err(invalid(POLICY, "temperature", t, "must lie in (0, 100]"));
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(invalid(POLICY, "alpha", self.alpha, "must lie in [0, 1]"));
        }
        if self.student_config.is_empty() {
            return Err(invalid(
                POLICY,
                "student_config",
                "\"\"",
                "must not be empty",
            ));
        }
        let s = self.prune_sparsity;
        if !(0.0..=MAX_SPARSITY).contains(&s) {
            return Err(invalid(
                POLICY,
                "prune_sparsity",
                s,
                "must lie in [0, 0.95]",
            ));
        }
        if self.max_student_bytes == 0 {
            return Err(invalid(POLICY, "max_student_bytes", 0, "must be >= 1"));
        }
        let l = self.max_latency_us;
        if !(l.is_finite() && l > 0.0) {
            return Err(invalid(
                POLICY,
                "max_latency_us",
                l,
                "must be finite and > 0",
            ));
        }
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            let v = self.max_attempts;
            return Err(invalid(POLICY, "max_attempts", v, "must lie in [1, 10]"));
        }
        Ok(())
    }

    /// The rule recorded with every decision, edge gates included.
    pub fn rule(&self) -> Rule {
        let trigger = match self.trigger {
            DistilTrigger::Trained => "trained",
            DistilTrigger::Promoted => "promoted",
            DistilTrigger::Never => "never",
        };
        Rule::new(self.name.clone())
            .with("trigger", trigger)
            .with("temperature", self.temperature)
            .with("alpha", self.alpha)
            .with("student_config", self.student_config.clone())
            .with("quantize_int8", self.quantize_int8)
            .with("prune_sparsity", self.prune_sparsity)
            .with("max_student_bytes", self.max_student_bytes)
            .with("max_latency_us", self.max_latency_us)
            .with("max_attempts", self.max_attempts)
    }
}

/// What the Distiller reacts to; facts are folded into the state before `decide`.
#[derive(Debug, Clone, PartialEq)]
pub enum DistillerInput {
    /// A teacher was trained.
    ModelTrained {
        /// The fact.
        trained: ModelTrained,
        /// Hour of the report.
        hour: u64,
    },
    /// A model was promoted (the payload carries its hour).
    ModelPromoted(ModelPromoted),
    /// A student came back.
    StudentDistilled {
        /// The fact.
        student: StudentDistilled,
        /// Hour of the report.
        hour: u64,
    },
    /// A job failed (a distillation job or another agent's).
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

impl DistillerInput {
    /// The hour the input arrived at.
    pub fn hour(&self) -> u64 {
        match self {
            DistillerInput::ModelPromoted(p) => p.hour,
            DistillerInput::ModelTrained { hour, .. }
            | DistillerInput::StudentDistilled { hour, .. }
            | DistillerInput::TrainingFailed { hour, .. }
            | DistillerInput::Tick { hour } => *hour,
        }
    }
}

/// The seed of a distillation job: the first eight bytes (big-endian) of SHA-256 over
/// the domain tag, the job id and the teacher id, separated by NUL bytes.
pub fn distil_seed(job_id: &str, teacher: &str) -> u64 {
    let digest = Hash::of(format!("{SEED_DOMAIN}\0{job_id}\0{teacher}").as_bytes()).0;
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The Distiller decider: a validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Distiller {
    policy: DistillerPolicy,
}

impl Distiller {
    /// Builds the decider, refusing an invalid policy.
    pub fn new(policy: DistillerPolicy) -> Result<Self> {
        policy.validate()?;
        Ok(Distiller { policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> &DistillerPolicy {
        &self.policy
    }

    /// The next teacher to distil and its attempt number: a failed teacher with
    /// attempts left first (it was waiting longest), else the oldest candidate of the
    /// policy's trigger that has no lineage yet.
    fn next_teacher(&self, state: &DistillerState) -> Option<(String, u32)> {
        let retry = state
            .lineage_order
            .iter()
            .find_map(|t| match state.lineage.get(t) {
                Some(Lineage::Failed { attempts }) if *attempts < self.policy.max_attempts => {
                    Some((t.clone(), attempts.saturating_add(1)))
                }
                _ => None,
            });
        retry.or_else(|| {
            state
                .queue(self.policy.trigger)
                .iter()
                .find(|t| !state.lineage.contains_key(*t))
                .map(|t| (t.clone(), 1))
        })
    }

    fn start(&self, state: &DistillerState, teacher: String, attempt: u32, hour: u64) -> Event {
        let p = &self.policy;
        let job_id = format!("{JOB_PREFIX}{}", state.jobs_started.saturating_add(1));
        let waiting = state
            .queue(p.trigger)
            .iter()
            .filter(|t| **t != teacher)
            .count();
        let evidence = Evidence::new()
            .with("hour", hour as f64)
            .with("attempt", f64::from(attempt))
            // Other teachers still queued behind this one.
            .with("candidates.waiting", waiting as f64)
            .with("students.distilled", distilled_count(state) as f64)
            .with("temperature", p.temperature)
            .with("alpha", p.alpha)
            .with("quantize_int8", if p.quantize_int8 { 1.0 } else { 0.0 })
            .with("prune_sparsity", p.prune_sparsity)
            .with("gate.max_student_bytes", p.max_student_bytes as f64)
            .with("gate.max_latency_us", p.max_latency_us);
        Event::DistillationStarted(DistillationStarted {
            seed: distil_seed(&job_id, &teacher),
            job_id,
            teacher_model_id: teacher,
            student_config: p.student_config.clone(),
            temperature: p.temperature,
            alpha: p.alpha,
            quantize_int8: p.quantize_int8,
            prune_sparsity: p.prune_sparsity,
            attempt,
            hour,
            evidence,
            rule: p.rule(),
        })
    }
}

fn distilled_count(state: &DistillerState) -> usize {
    state
        .lineage
        .values()
        .filter(|l| matches!(l, Lineage::Distilled(_)))
        .count()
}

impl Decider for Distiller {
    type State = DistillerState;
    type Input = DistillerInput;

    fn decide(&self, state: &DistillerState, input: &DistillerInput) -> Result<Vec<Event>> {
        let hour = input.hour();
        if hour < state.last_hour {
            return Err(Error::InvalidInput {
                component: COMPONENT,
                reason: format!(
                    "hour {hour} is before the last recorded hour {}",
                    state.last_hour
                ),
            });
        }
        if state.running.is_some() {
            return Ok(Vec::new());
        }
        Ok(self
            .next_teacher(state)
            .map(|(teacher, attempt)| self.start(state, teacher, attempt, hour))
            .into_iter()
            .collect())
    }

    fn evolve(state: &mut DistillerState, event: &Event) {
        state.apply(event);
    }
}

//! The Trainer's state: the fold of the events it reads and writes.
//!
//! Label and pseudo-label arrivals are kept as running totals and "used up to" offsets,
//! so the fresh data of the next job is the range between them and every composition
//! names exactly which rows it holds. Failure of a job hands its rows back.

use std::collections::BTreeMap;

use ledgerloop_events::catalogue::{
    Cost, DistillationStarted, InputRecorded, RetrainDeferred, RetrainRequested, StudentDistilled,
    TrainingFailed, TrainingStarted,
};
use ledgerloop_events::Event;
use serde::{Deserialize, Serialize};

use super::budget::{self, GAIN_KEY, HOURS_PER_DAY};
use super::job::{count, keys};
use super::policy::{Severity, Strategy};
use super::{REASON_BACKOFF, REASON_GAVE_UP, REASON_NOT_WORTH_IT};

/// Baseline arms remembered; a scenario has two or three, so this only bounds the state
/// against a malformed log.
const MAX_ARMS: usize = 16;
/// Distillations remembered until their student arrives; a loop runs one at a time, so
/// this only bounds the state when students never arrive (failed distillations).
const MAX_OPEN_DISTILLATIONS: usize = 8;
/// The agent whose recorded reports carry an evaluation's cost.
pub const EVALUATOR_AGENT: &str = "evaluator";
/// The kind of input under which a host records an evaluation report.
pub const EVALUATION_REPORT_KIND: &str = "evaluation_report";

/// A retrain request waiting for a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingRequest {
    /// The model the request asked to improve; the job's parent.
    pub model_id: String,
    /// The highest severity asked for since the request was first seen.
    pub severity: Severity,
    /// The strategy the request suggested, when it named a known one.
    pub suggested: Option<Strategy>,
    /// Hour of the latest request.
    pub hour: u64,
    /// Attempts that failed so far.
    pub failed_attempts: u32,
    /// A job just failed and the back-off (or giving up) has not been recorded yet.
    pub backoff_due: bool,
    /// No retry before this hour (set by a `backoff` deferral).
    pub not_before_hour: u64,
    /// The last deferral reason recorded for this request; a deferral is written only
    /// when the reason changes, so ticks do not flood the log.
    pub deferred: Option<String>,
    /// The gain (accuracy points) the request estimated, when it carried an estimate;
    /// the largest since the request was first seen.
    #[serde(default)]
    pub gain_points: Option<f64>,
}

/// A job that was started and has not reported back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningJob {
    /// The request that started it, restored if the job fails.
    pub request: PendingRequest,
    /// Hour it started.
    pub started_hour: u64,
    /// Its attempt number (1 for the first).
    pub attempt: u32,
    /// First fresh label it took; labels from here are handed back on failure.
    pub labels_from: u64,
    /// First pseudo-label it took.
    pub pseudo_from: u64,
    /// Rows of its data set.
    #[serde(default)]
    pub rows: u64,
    /// CPU seconds charged to the budget when it started (its estimate).
    #[serde(default)]
    pub estimated_cpu_seconds: f64,
}

/// The fold of the Trainer's inputs and decisions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Labels received since the log began.
    pub labels_total: u64,
    /// Labels handed to jobs so far (the next job's fresh labels start here).
    pub labels_used: u64,
    /// Pseudo-labels accepted since the log began.
    pub pseudo_total: u64,
    /// Pseudo-labels handed to (or skipped by) jobs so far.
    pub pseudo_used: u64,
    /// Training rows of each baseline arm, the start of the replay history.
    pub baseline_rows: BTreeMap<String, u64>,
    /// Jobs started since the log began; numbers the next job id.
    pub jobs_started: u64,
    /// Hour the latest job started; the cool-down runs from it.
    pub last_start_hour: Option<u64>,
    /// The latest hour any folded event carried.
    pub last_hour: u64,
    /// The request waiting for a job.
    pub pending: Option<PendingRequest>,
    /// Running jobs by id (at most the policy's `max_concurrent_jobs`).
    pub running: BTreeMap<String, RunningJob>,
    /// The model the latest successful job produced.
    pub last_trained_model_id: Option<String>,
    /// CPU seconds of training charged per day (hour / 24) over the last week: each
    /// job's estimate when it starts, corrected by its reported cost.
    #[serde(default)]
    pub cpu_by_day: BTreeMap<u64, f64>,
    /// CPU seconds per row the latest finished job reported.
    #[serde(default)]
    pub cpu_seconds_per_row: Option<f64>,
    /// CPU seconds of distillation and evaluation charged per day (hour / 24) over the
    /// last week, each to the day it ran. Filled only when a host hands the Trainer
    /// those facts, which it does for a budget in iteration scope.
    #[serde(default)]
    pub distil_eval_cpu_by_day: BTreeMap<u64, f64>,
    /// CPU seconds the latest distillation reported.
    #[serde(default)]
    pub last_distillation_cpu_seconds: Option<f64>,
    /// CPU seconds the latest evaluation reported.
    #[serde(default)]
    pub last_evaluation_cpu_seconds: Option<f64>,
    /// Distillations started and not yet reported, by job id: the hour each started,
    /// which is the day its student's cost is charged to.
    #[serde(default)]
    pub open_distillations: BTreeMap<String, u64>,
}

impl TrainerState {
    /// Folds one event; events of other agents that the Trainer does not read are ignored.
    pub(crate) fn apply(&mut self, event: &Event) {
        match event {
            Event::BaselineTrained(b) => self.on_baseline(&b.arm, b.training_rows),
            Event::LabelsReceived(l) => {
                self.labels_total = self.labels_total.saturating_add(l.labels)
            }
            Event::PseudoLabelsAccepted(p) => {
                self.pseudo_total = self.pseudo_total.saturating_add(p.count)
            }
            Event::RetrainRequested(r) => self.on_request(r),
            Event::TrainingStarted(s) => self.on_started(s),
            Event::ModelTrained(m) => {
                let cpu = m.spent.as_ref().map(|c| c.cpu_seconds);
                self.on_trained(&m.job_id, &m.model_id, cpu)
            }
            Event::TrainingFailed(f) => {
                self.open_distillations.remove(&f.job_id);
                self.on_failed(f)
            }
            Event::RetrainDeferred(d) => self.on_deferred(d),
            Event::DistillationStarted(d) => self.on_distillation_started(d),
            Event::StudentDistilled(s) => self.on_student(s),
            Event::InputRecorded(i) => self.on_recorded_input(i),
            _ => {}
        }
    }

    fn on_distillation_started(&mut self, d: &DistillationStarted) {
        self.open_distillations.insert(d.job_id.clone(), d.hour);
        while self.open_distillations.len() > MAX_OPEN_DISTILLATIONS {
            // The oldest start is the one least likely to ever report.
            let oldest = self
                .open_distillations
                .iter()
                .min_by_key(|(id, hour)| (**hour, (*id).clone()))
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => self.open_distillations.remove(&id),
                None => break,
            };
        }
    }

    /// A student's cost is charged to the day its distillation started (the worker
    /// runs within that hour); a student whose start the Trainer never saw is ignored.
    fn on_student(&mut self, s: &StudentDistilled) {
        let Some(hour) = self.open_distillations.remove(&s.job_id) else {
            return;
        };
        if let Some(cpu) = s
            .spent
            .as_ref()
            .map(|c| c.cpu_seconds)
            .filter(|c| c.is_finite())
        {
            self.last_distillation_cpu_seconds = Some(cpu);
            budget::charge(&mut self.distil_eval_cpu_by_day, hour / HOURS_PER_DAY, cpu);
        }
    }

    /// An evaluation report the host recorded for the Evaluator: its cost is charged to
    /// the day of the evaluation. Other recorded inputs are ignored.
    fn on_recorded_input(&mut self, i: &InputRecorded) {
        if i.agent != EVALUATOR_AGENT || i.kind != EVALUATION_REPORT_KIND {
            return;
        }
        let spent = i
            .body
            .get("spent")
            .and_then(|v| serde_json::from_value::<Cost>(v.clone()).ok());
        if let Some(cpu) = spent.map(|c| c.cpu_seconds).filter(|c| c.is_finite()) {
            self.last_evaluation_cpu_seconds = Some(cpu);
            budget::charge(
                &mut self.distil_eval_cpu_by_day,
                i.hour / HOURS_PER_DAY,
                cpu,
            );
        }
    }

    fn on_baseline(&mut self, arm: &str, rows: u64) {
        if self.baseline_rows.len() < MAX_ARMS || self.baseline_rows.contains_key(arm) {
            self.baseline_rows.insert(arm.to_string(), rows);
        }
    }

    fn on_trained(&mut self, job_id: &str, model_id: &str, cpu: Option<f64>) {
        if let Some(job) = self.running.remove(job_id) {
            self.last_trained_model_id = Some(model_id.to_string());
            if let Some(cpu) = cpu.filter(|c| c.is_finite() && *c > 0.0) {
                if job.rows > 0 {
                    self.cpu_seconds_per_row = Some(cpu / job.rows as f64);
                }
                self.correct_charge(&job, cpu);
            }
        }
    }

    /// Replaces a job's estimated charge by what it reported.
    fn correct_charge(&mut self, job: &RunningJob, cpu: f64) {
        let day = job.started_hour / HOURS_PER_DAY;
        budget::charge(&mut self.cpu_by_day, day, cpu - job.estimated_cpu_seconds);
    }

    fn on_request(&mut self, r: &RetrainRequested) {
        // A request with an unknown severity is refused by `decide`; the state ignores it.
        let Some(severity) = Severity::parse(&r.severity) else {
            return;
        };
        self.last_hour = self.last_hour.max(r.hour);
        let request = PendingRequest {
            model_id: r.model_id.clone(),
            severity,
            suggested: Strategy::parse(&r.strategy),
            hour: r.hour,
            failed_attempts: 0,
            backoff_due: false,
            not_before_hour: 0,
            deferred: None,
            gain_points: r.evidence.get(GAIN_KEY).filter(|g| g.is_finite()),
        };
        self.pending = Some(merge(self.pending.take(), request));
    }

    fn on_started(&mut self, s: &TrainingStarted) {
        let e = &s.evidence;
        let hour = count(e, keys::HOUR).unwrap_or(self.last_hour);
        let attempt = count(e, keys::ATTEMPT).unwrap_or(1);
        let labels_to = count(e, keys::LABELS_TO).unwrap_or(self.labels_total);
        let pseudo_from = count(e, keys::PSEUDO_FROM).unwrap_or(self.pseudo_used);
        let pseudo_to = count(e, keys::PSEUDO_TO).unwrap_or(self.pseudo_total);
        let request = self.pending.take().unwrap_or_else(|| PendingRequest {
            // A start without a pending request (a log cut mid-stream) is rebuilt from
            // the event so that a failure can still be retried.
            model_id: s.parent_model_id.clone().unwrap_or_default(),
            severity: Severity::Low,
            suggested: Strategy::parse(&s.strategy),
            hour,
            failed_attempts: 0,
            backoff_due: false,
            not_before_hour: 0,
            deferred: None,
            gain_points: None,
        });
        // In iteration scope the weighed estimate includes the distillation and
        // evaluation to come, which are charged when they run: only training is charged
        // (and later corrected) here.
        let estimate = e
            .get(budget::keys::COST_TRAINING)
            .unwrap_or_else(|| s.weighed.as_ref().map_or(0.0, |w| w.estimated_cpu_seconds));
        let job = RunningJob {
            request,
            started_hour: hour,
            attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
            labels_from: self.labels_used,
            pseudo_from,
            rows: count(e, keys::DATASET_ROWS).unwrap_or(0),
            estimated_cpu_seconds: estimate,
        };
        budget::charge(&mut self.cpu_by_day, hour / HOURS_PER_DAY, estimate);
        self.labels_used = self.labels_used.max(labels_to);
        self.pseudo_used = self.pseudo_used.max(pseudo_to);
        self.jobs_started = self.jobs_started.saturating_add(1);
        self.last_start_hour = Some(hour);
        self.last_hour = self.last_hour.max(hour);
        self.running.insert(s.job_id.clone(), job);
    }

    fn on_failed(&mut self, f: &TrainingFailed) {
        let Some(job) = self.running.remove(&f.job_id) else {
            return;
        };
        if let Some(cpu) = f.spent.as_ref().map(|c| c.cpu_seconds) {
            self.correct_charge(&job, cpu);
        }
        self.labels_used = self.labels_used.min(job.labels_from);
        self.pseudo_used = self.pseudo_used.min(job.pseudo_from);
        let mut request = job.request;
        request.failed_attempts = job.attempt;
        request.backoff_due = true;
        request.deferred = None;
        // A newer request that arrived while the job ran keeps its parent and hour but
        // inherits the failure count, so retries stay bounded.
        self.pending = Some(match self.pending.take() {
            Some(newer) => PendingRequest {
                severity: newer.severity.max(request.severity),
                failed_attempts: request.failed_attempts.max(newer.failed_attempts),
                backoff_due: true,
                deferred: None,
                ..newer
            },
            None => request,
        });
    }

    fn on_deferred(&mut self, d: &RetrainDeferred) {
        self.last_hour = self.last_hour.max(d.hour);
        if d.reason == REASON_GAVE_UP || d.reason == REASON_NOT_WORTH_IT {
            self.pending = None;
            return;
        }
        if let Some(pending) = self.pending.as_mut() {
            if d.reason == REASON_BACKOFF {
                pending.backoff_due = false;
                pending.not_before_hour = d.not_before_hour;
            }
            pending.deferred = Some(d.reason.clone());
        }
    }

    /// Fresh labels not yet handed to a job.
    pub fn fresh_labels(&self) -> u64 {
        self.labels_total.saturating_sub(self.labels_used)
    }

    /// Pseudo-labels not yet handed to a job.
    pub fn fresh_pseudo(&self) -> u64 {
        self.pseudo_total.saturating_sub(self.pseudo_used)
    }
}

/// A new request replaces a pending one but keeps the higher severity and any failure
/// history and back-off, so repeated alarms cannot reset the retry budget.
fn merge(old: Option<PendingRequest>, new: PendingRequest) -> PendingRequest {
    match old {
        None => new,
        Some(old) => PendingRequest {
            severity: old.severity.max(new.severity),
            failed_attempts: old.failed_attempts,
            backoff_due: old.backoff_due,
            not_before_hour: old.not_before_hour,
            deferred: None,
            gain_points: match (old.gain_points, new.gain_points) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            ..new
        },
    }
}

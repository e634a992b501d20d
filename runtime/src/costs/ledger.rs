//! Costs read back from a log and summed per loop iteration.
//!
//! An iteration is one training job and everything downstream of it: the
//! `RetrainRequested` its `TrainingStarted` answers (found by following causation ids,
//! as `explain` does), the job's own result (`ModelTrained` / `TrainingFailed`), the
//! evaluation of the model it produced (the Evaluator's recorded report), its canary
//! exposure (fleet share x hours between the Releaser's canary events) and the student
//! distilled from it. Everything is read in log order, so the result is the same for the
//! same log.

use std::collections::HashMap;
use std::path::Path;

use ledgerloop_agents::trainer::budget::keys as budget_keys;
use ledgerloop_events::catalogue::{Cost, InputRecorded, TrainingStarted};
use ledgerloop_events::{Event, FileLog};
use ledgerloop_sim::summary::{CostSummary, PerAccuracyPoint, Summary};
use uuid::Uuid;

pub use ledgerloop_sim::summary::IterationCost;

use crate::error::Result;

/// Longest causation walk from a `TrainingStarted` to its request, so a malformed log
/// with a cycle still ends.
const MAX_WALK: usize = 64;
/// Accuracy points per unit of accuracy.
const POINTS: f64 = 100.0;

/// A canary being exposed: its model, fraction and the hour the fraction began.
struct OpenCanary {
    model_id: String,
    fraction: f64,
    since: u64,
}

/// The running sums while a log is read.
#[derive(Default)]
struct Ledger {
    summary: CostSummary,
    by_job: HashMap<String, usize>,
    by_model: HashMap<String, usize>,
    parents: HashMap<Uuid, (Option<Uuid>, bool)>,
    canary: Option<OpenCanary>,
    last_hour: u64,
}

/// Sums the costs recorded in the log at `log_dir`; `devices` (the fleet size, when
/// known) turns canary fleet-hours into device-hours.
pub fn summarise(log_dir: &Path, devices: Option<u64>) -> Result<CostSummary> {
    let log = FileLog::open_read_only(log_dir)?;
    let mut ledger = Ledger::default();
    for r in log.read_all(0)? {
        let r = r?;
        let event = r.decode()?;
        let is_request = matches!(event, Event::RetrainRequested(_));
        ledger.parents.insert(r.id, (r.causation_id, is_request));
        ledger.apply(r.id, r.causation_id, &event);
    }
    let end = ledger.last_hour;
    ledger.close_canary(end);
    let mut summary = ledger.summary;
    let per_device = devices.unwrap_or(0) as f64;
    for it in &mut summary.iterations {
        it.exposure_device_hours = it.exposure_fleet_hours * per_device;
        it.cpu_seconds =
            it.cpu_seconds_training + it.cpu_seconds_distillation + it.cpu_seconds_evaluation;
    }
    let t = &mut summary.totals;
    t.exposure_device_hours = t.exposure_fleet_hours * per_device;
    t.cpu_seconds = t.cpu_seconds_training + t.cpu_seconds_distillation + t.cpu_seconds_evaluation;
    Ok(summary)
}

/// Adds the run's costs to the `summary.json` in `run_dir` (with the cost per accuracy
/// point gained over the static model in the last week) and rewrites it.
pub fn attach(run_dir: &Path) -> Result<Summary> {
    let path = run_dir.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(crate::error::io(&path))?;
    let mut summary: Summary = serde_json::from_str(&text)?;
    let devices = summary
        .scenario
        .ont
        .as_ref()
        .map(|o| o.devices.max(0) as u64);
    let mut costs = summarise(&run_dir.join("log"), devices)?;
    costs.per_accuracy_point = per_accuracy_point(&summary, &costs);
    summary.costs = Some(costs);
    summary.write(run_dir)?;
    Ok(summary)
}

/// What each accuracy point the served arm gained over the static model in the last
/// week cost; `None` when it gained nothing.
pub fn per_accuracy_point(summary: &Summary, costs: &CostSummary) -> Option<PerAccuracyPoint> {
    let w = summary.last_week.as_ref()?;
    let points = (w.served.accuracy - w.static_arm.accuracy) * POINTS;
    (points > 0.0).then(|| PerAccuracyPoint {
        points_gained: points,
        cpu_seconds_per_point: costs.totals.cpu_seconds / points,
        labels_per_point: costs.totals.labels_bought as f64 / points,
    })
}

impl Ledger {
    fn apply(&mut self, id: Uuid, cause: Option<Uuid>, event: &Event) {
        match event {
            Event::TrainingStarted(s) => self.started(id, cause, s),
            Event::ModelTrained(m) => {
                let cost = m.spent.clone().unwrap_or_default();
                self.summary.totals.cpu_seconds_training += cost.cpu_seconds;
                self.summary.totals.artifact_bytes += cost.artifact_bytes;
                if let Some(idx) = self.by_job.get(&m.job_id).copied() {
                    self.by_model.insert(m.model_id.clone(), idx);
                }
                if let Some(it) = self.job(&m.job_id) {
                    it.model_id = Some(m.model_id.clone());
                    it.outcome = "trained".into();
                    it.cpu_seconds_training += cost.cpu_seconds;
                    it.artifact_bytes += cost.artifact_bytes;
                }
            }
            Event::TrainingFailed(f) => {
                let cost = f.spent.clone().unwrap_or_default();
                self.summary.totals.cpu_seconds_training += cost.cpu_seconds;
                if let Some(it) = self.job(&f.job_id) {
                    it.outcome = "failed".into();
                    it.cpu_seconds_training += cost.cpu_seconds;
                }
            }
            Event::StudentDistilled(d) => {
                let cost = d.spent.clone().unwrap_or_default();
                self.summary.totals.cpu_seconds_distillation += cost.cpu_seconds;
                self.summary.totals.artifact_bytes += cost.artifact_bytes;
                if let Some(it) = self.model(&d.teacher_model_id) {
                    it.cpu_seconds_distillation += cost.cpu_seconds;
                    it.artifact_bytes += cost.artifact_bytes;
                }
            }
            Event::InputRecorded(i) => self.input(i),
            Event::LabelsReceived(l) => self.summary.totals.labels_bought += l.labels,
            Event::RetrainDeferred(d) => {
                *self
                    .summary
                    .deferred_by_reason
                    .entry(d.reason.clone())
                    .or_insert(0) += 1;
            }
            _ => self.release(event),
        }
    }

    /// Verdicts and the Releaser's canary events: outcomes and exposure.
    fn release(&mut self, event: &Event) {
        match event {
            Event::VerdictIssued(v) => {
                if let Some(it) = self.model(&v.candidate_model_id) {
                    it.outcome = if v.verdict == "blessed" {
                        "blessed".into()
                    } else {
                        "rejected".into()
                    };
                }
            }
            Event::CanaryStarted(c) => {
                self.close_canary(c.hour);
                self.canary = Some(OpenCanary {
                    model_id: c.model_id.clone(),
                    fraction: c.fraction,
                    since: c.hour,
                });
                self.set_outcome(&c.model_id, "canary");
            }
            Event::CanaryStepAdvanced(a) => {
                self.close_canary(a.hour);
                self.canary = Some(OpenCanary {
                    model_id: a.model_id.clone(),
                    fraction: a.to_fraction,
                    since: a.hour,
                });
            }
            Event::ModelPromoted(p) => {
                self.close_canary(p.hour);
                self.summary.totals.promotions += 1;
                self.set_outcome(&p.model_id, "promoted");
            }
            Event::RolledBack(r) => {
                self.close_canary(r.hour);
                self.set_outcome(&r.model_id, "rolled_back");
            }
            _ => {}
        }
    }

    fn started(&mut self, id: Uuid, cause: Option<Uuid>, s: &TrainingStarted) {
        let e = &s.evidence;
        let count = |key: &str| e.get(key).unwrap_or(0.0).max(0.0) as u64;
        let hour = count("hour");
        self.last_hour = self.last_hour.max(hour);
        self.summary.totals.jobs_started += 1;
        let it = IterationCost {
            request_id: self.request_of(cause).map(|r| r.to_string()),
            job_id: s.job_id.clone(),
            started_id: id.to_string(),
            started_hour: hour,
            outcome: "started".into(),
            estimated_gain_points: s.weighed.as_ref().map(|w| w.estimated_gain_points),
            estimated_cpu_seconds: s.weighed.as_ref().map(|w| w.estimated_cpu_seconds),
            estimated_cpu_seconds_distil_eval: e.get(budget_keys::COST_DISTIL_EVAL),
            labels: count("labels.to").saturating_sub(count("labels.from")),
            ..IterationCost::default()
        };
        self.by_job
            .insert(s.job_id.clone(), self.summary.iterations.len());
        self.summary.iterations.push(it);
    }

    /// The evaluation worker's report, recorded as the Evaluator's input.
    fn input(&mut self, i: &InputRecorded) {
        self.last_hour = self.last_hour.max(i.hour);
        if i.agent != "evaluator" {
            return;
        }
        let cost: Cost = i
            .body
            .get("spent")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        self.summary.totals.cpu_seconds_evaluation += cost.cpu_seconds;
        let candidate = i.body.get("candidate_model_id").and_then(|v| v.as_str());
        if let Some(it) = candidate.and_then(|m| self.model(m)) {
            it.cpu_seconds_evaluation += cost.cpu_seconds;
        }
    }

    /// The first `RetrainRequested` up the causation chain from `cause`.
    fn request_of(&self, mut cause: Option<Uuid>) -> Option<Uuid> {
        for _ in 0..MAX_WALK {
            let id = cause?;
            let (parent, is_request) = self.parents.get(&id)?;
            if *is_request {
                return Some(id);
            }
            cause = *parent;
        }
        None
    }

    fn close_canary(&mut self, hour: u64) {
        let Some(c) = self.canary.take() else {
            return;
        };
        let exposure = c.fraction * hour.saturating_sub(c.since) as f64;
        self.summary.totals.exposure_fleet_hours += exposure;
        if let Some(it) = self.model(&c.model_id) {
            it.exposure_fleet_hours += exposure;
        }
    }

    fn set_outcome(&mut self, model_id: &str, outcome: &str) {
        if let Some(it) = self.model(model_id) {
            it.outcome = outcome.into();
        }
    }

    fn job(&mut self, job_id: &str) -> Option<&mut IterationCost> {
        let idx = *self.by_job.get(job_id)?;
        self.summary.iterations.get_mut(idx)
    }

    fn model(&mut self, model_id: &str) -> Option<&mut IterationCost> {
        let idx = *self.by_model.get(model_id)?;
        self.summary.iterations.get_mut(idx)
    }
}

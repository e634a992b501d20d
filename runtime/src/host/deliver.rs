//! Handing inputs to agents, recording each call, and reacting to the decisions: a
//! decision that asks for work runs the worker, and every fact or decision another
//! agent reads is handed on.

use std::sync::Arc;

use ledgerloop_agents::releaser::{OnlineStats, ServedCounts};
use ledgerloop_agents::trainer::TrainingJob;
use ledgerloop_events::catalogue::{DistillationStarted, TrainingFailed, TrainingStarted};
use ledgerloop_events::Event;
use ledgerloop_sim::policy::PolicyNote;
use uuid::Uuid;

use super::evaluate::{requeue_in_line, Candidate};
use super::faults::delayable;
use super::GovernedPolicy;
use crate::costs::{Stopwatch, WorkKind};
use crate::error::{Error, Result};
use crate::faults::{CrashPoint, DeliveryFault, WorkerFault};
use crate::journal::WORKER_STREAM;
use crate::restore::{input_key, recorded_decisions, InputKey};
use crate::step::{apply, Input, Role};
use crate::workers::{self, TrainingData};

impl GovernedPolicy {
    /// Hands `input` to `role`, records the call, and reacts to the decisions. An event
    /// handed on may meet a delivery fault of the run's plan (duplicated, delayed,
    /// reordered); the decisions returned are then those of the first delivery made now.
    pub(super) fn give(
        &mut self,
        role: Role,
        hour: u64,
        input: Input,
        source: Option<Uuid>,
        cause: Option<Uuid>,
    ) -> Result<Vec<(Uuid, Event)>> {
        if let Some(source) = source {
            let fault = self.faults.as_mut().and_then(|f| f.plan.delivery(hour));
            if let Some(fault) =
                fault.filter(|f| delayable(&input) || *f == DeliveryFault::Duplicate)
            {
                return self.faulty_delivery(fault, role, hour, input, source, cause);
            }
        }
        self.give_now(role, hour, input, source, cause)
    }

    /// [`Self::give`] without delivery faults.
    pub(super) fn give_now(
        &mut self,
        role: Role,
        hour: u64,
        input: Input,
        source: Option<Uuid>,
        cause: Option<Uuid>,
    ) -> Result<Vec<(Uuid, Event)>> {
        self.last_record = None;
        let decisions = self.call(role, hour, input, source, cause)?;
        if let (Role::Evaluator, Some((id, record))) = (role, self.last_record.take()) {
            // The recorded report carries the evaluation's cost.
            self.charge_trainer(hour, id, Event::InputRecorded(record))?;
        }
        self.react(hour, &decisions)?;
        Ok(decisions)
    }

    /// With a budget in iteration scope, hands the Trainer a fact that carries (or
    /// dates) the cost of a distillation or an evaluation, to fold into its spending:
    /// a `DistillationStarted`, a `StudentDistilled` or the Evaluator's recorded report.
    /// In training scope the Trainer is not told, so its stream is what it was before
    /// scopes existed.
    fn charge_trainer(&mut self, hour: u64, source: Uuid, event: Event) -> Result<()> {
        if self.agents.trainer.policy().budgets_iteration() {
            self.give(Role::Trainer, hour, Input::Fold(event), Some(source), None)?;
        }
        Ok(())
    }

    /// Hands `input` to `role` and records the call, without reacting. An input the
    /// agent already handled (same key, see [`crate::restore::input_key`]) is not decided
    /// again: the decisions recorded for it are returned. A crash the plan holds for
    /// this agent happens here (see `faults.rs`).
    pub(super) fn call(
        &mut self,
        role: Role,
        hour: u64,
        input: Input,
        source: Option<Uuid>,
        cause: Option<Uuid>,
    ) -> Result<Vec<(Uuid, Event)>> {
        let crash = self
            .faults
            .as_mut()
            .and_then(|f| f.plan.take_crash(role, hour));
        if crash == Some(CrashPoint::BeforeInput) {
            self.restart(role, hour, "before_input", None)?;
        }
        let started = std::time::Instant::now();
        if self.remote.is_some() {
            let decisions = self.call_remote(role, hour, &input, source, cause)?;
            self.called(role, started, &decisions);
            return Ok(decisions);
        }
        let record = self.journal.record(role, hour, &input, source)?;
        let key = input_key(&record)?;
        let seen = self.handled.get(&role).is_some_and(|h| h.contains(&key));
        if seen && !self.breaks_idempotency() {
            return self.answer_from_log(role, &key);
        }
        let before =
            matches!(crash, Some(CrashPoint::TornAppend { .. })).then(|| self.states.clone());
        let decisions = apply(&self.agents, &mut self.states, role, hour, &input)?;
        // Only an evaluation's record is read back (as the Trainer's evidence of its cost).
        let recorded = (role == Role::Evaluator).then(|| record.clone());
        let (record_id, ids) =
            self.journal
                .append_call(role, hour, record, cause.or(source), &decisions)?;
        self.last_record = recorded.map(|r| (record_id, r));
        self.handled.entry(role).or_default().insert(key);
        match (crash, before) {
            (Some(CrashPoint::AfterAppend), _) => {
                // The host never heard back: it delivers the input again.
                self.restart(role, hour, "after_append", None)?;
                return self.call(role, hour, input, source, cause);
            }
            (Some(CrashPoint::TornAppend { tear_bytes }), Some(before)) => {
                self.tear(role, hour, tear_bytes, 1 + ids.len(), before)?;
                return self.call(role, hour, input, source, cause);
            }
            _ => {}
        }
        let decisions: Vec<(Uuid, Event)> = ids.into_iter().zip(decisions).collect();
        self.called(role, started, &decisions);
        Ok(decisions)
    }

    /// Notes a finished call: the agent's last decision and the observer's timing.
    fn called(&mut self, role: Role, started: std::time::Instant, decisions: &[(Uuid, Event)]) {
        if let Some((last, _)) = decisions.last() {
            self.last_decision.insert(role, *last);
        }
        if let Some(observer) = self.call_observer.as_mut() {
            (observer.0)(role, started.elapsed(), decisions.len());
        }
    }

    /// The decisions `role` recorded for the input with `key`: what an idempotent agent
    /// answers to an input delivered again.
    fn answer_from_log(&mut self, role: Role, key: &InputKey) -> Result<Vec<(Uuid, Event)>> {
        self.duplicate_ignored();
        let decisions =
            recorded_decisions(self.log()?, role, key)?.ok_or_else(|| Error::Replay {
                stream: role.name().to_string(),
                sequence: 0,
                reason: "an input marked handled has no recorded call".into(),
            })?;
        if let Some((last, _)) = decisions.last() {
            self.last_decision.insert(role, *last);
        }
        Ok(decisions)
    }

    /// Routes each decision to the worker or agent that acts on it.
    pub(super) fn react(&mut self, hour: u64, decisions: &[(Uuid, Event)]) -> Result<()> {
        for (id, event) in decisions {
            let id = *id;
            match event {
                Event::BatchIngested(_) | Event::FeedbackRecorded(_) => {
                    self.hand_on(Role::DriftJudge, hour, id, event)?;
                }
                Event::PseudoLabelsAccepted(_) => {
                    let cause = self.pending_request_cause();
                    self.give(
                        Role::Trainer,
                        hour,
                        Input::Event(event.clone()),
                        Some(id),
                        cause,
                    )?;
                }
                Event::RetrainRequested(r) => {
                    self.note("retrain_requested", &r.severity, &r.model_id);
                    self.last_retrain_request = Some(id);
                    self.hand_on(Role::Trainer, hour, id, event)?;
                }
                Event::DriftDetected(d) => self.note("drift_detected", &d.drift_kind, &d.model_id),
                Event::TrainingStarted(s) => self.run_training(hour, id, s)?,
                Event::DistillationStarted(s) => {
                    // Dates the student's cost for an iteration-scope budget.
                    self.charge_trainer(hour, id, event.clone())?;
                    self.run_distillation(hour, id, s)?
                }
                Event::VerdictIssued(v) => {
                    self.note("verdict", &v.verdict, &v.candidate_model_id);
                    let online = self.online(hour);
                    let input = Input::Verdict {
                        verdict: event.clone(),
                        online,
                    };
                    self.give(Role::Releaser, hour, input, Some(id), None)?;
                }
                Event::CanaryStarted(_) | Event::CanaryStepAdvanced(_) => self.refresh_route(),
                Event::ModelPromoted(p) => {
                    self.note("promoted", &p.model_id, &p.previous_model_id);
                    self.refresh_route();
                    requeue_in_line(
                        &mut self.candidates,
                        &self.judged,
                        &self.states.releaser,
                        self.agents.releaser.policy().queue_blessed,
                    );
                    self.hand_on(Role::DriftJudge, hour, id, event)?;
                    self.hand_on(Role::Distiller, hour, id, event)?;
                }
                Event::RolledBack(r) => {
                    self.note("rolled_back", &r.reason, &r.model_id);
                    self.refresh_route();
                    self.hand_on(Role::DriftJudge, hour, id, event)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// While the Trainer holds a retrain request, data it receives is recorded as caused
    /// by that request, so a job the data finally starts explains back to it.
    pub(super) fn pending_request_cause(&self) -> Option<Uuid> {
        self.states
            .trainer
            .pending
            .as_ref()
            .and(self.last_retrain_request)
    }

    /// Hands a logged event (`id`) on to `role` as its input.
    fn hand_on(&mut self, role: Role, hour: u64, id: Uuid, event: &Event) -> Result<()> {
        self.give(role, hour, Input::Event(event.clone()), Some(id), None)?;
        Ok(())
    }

    fn note(&mut self, kind: &str, what: &str, model_id: &str) {
        self.notes.push(PolicyNote {
            kind: kind.to_string(),
            detail: serde_json::json!({ "hour": self.hour, "what": what, "model_id": model_id }),
        });
    }

    /// Cumulative online outcomes per serving version, as the Perceiver tallied them.
    pub(super) fn online(&self, hour: u64) -> OnlineStats {
        OnlineStats {
            hour,
            versions: self
                .states
                .perceiver
                .feedback
                .iter()
                .map(|(v, t)| {
                    let counts = ServedCounts {
                        served: t.outcomes,
                        errors: t.errors,
                    };
                    (v.clone(), counts)
                })
                .collect(),
        }
    }

    /// Runs the job a `TrainingStarted` asks for and hands the result to the Trainer and
    /// the Distiller; a failure is recorded as `TrainingFailed`, and the champion serves on.
    /// A job already started (its decision handed on again) is not run twice.
    fn run_training(
        &mut self,
        hour: u64,
        started_id: Uuid,
        started: &TrainingStarted,
    ) -> Result<()> {
        if !self.started_jobs.insert(started_id) {
            return Ok(());
        }
        match self.faults.as_mut().and_then(|f| f.plan.worker(hour)) {
            Some(WorkerFault::Fail) => {
                self.worker_failed();
                let reason = "injected fault: the training worker crashed".to_string();
                return self.finish_job(hour, started_id, failed(&started.job_id, reason));
            }
            Some(WorkerFault::Timeout) => {
                self.hold_timeout(hour, started_id, &started.job_id);
                return Ok(());
            }
            None => {}
        }
        let watch = Stopwatch::start();
        let outcome = TrainingJob::from_started(started)
            .map_err(crate::error::agent("trainer"))
            .and_then(|job| {
                let parent = job
                    .parent_model_id
                    .as_ref()
                    .and_then(|p| self.models.get(p))
                    .cloned();
                let data = TrainingData {
                    warmup: &self.warmup,
                    labels: &self.labels,
                    pseudo: &self.pseudo,
                    n_classes: self.n_classes,
                    transform: &self.transform,
                };
                let (model, fact) =
                    workers::train(&job, &data, parent.as_deref(), &self.config.host)?;
                Ok((job, model, fact))
            });
        let fact = match outcome {
            Ok((job, model, fact)) => {
                self.artifacts.put(&super::first_weights(&model)?)?;
                self.candidates.push(Candidate {
                    model_id: model.model_id.clone(),
                    trained_hour: hour,
                    heldout_from: job.composition.fresh_labels.to as usize,
                    trained_event: Uuid::nil(),
                });
                self.models.insert(model.model_id.clone(), Arc::new(model));
                Event::ModelTrained(fact)
            }
            Err(e) => failed(&started.job_id, e.to_string()),
        };
        let modelled = spent_cpu_seconds(&fact);
        self.measured
            .push(watch.stop(hour, WorkKind::Training, &started.job_id, modelled));
        self.finish_job(hour, started_id, fact)
    }

    /// Records a training worker's fact (caused by its `TrainingStarted`) and hands it to
    /// the Trainer and the Distiller.
    pub(super) fn finish_job(&mut self, hour: u64, started_id: Uuid, fact: Event) -> Result<()> {
        let id = self
            .journal
            .fact(WORKER_STREAM, "worker", hour, &fact, Some(started_id))?;
        if let (Event::ModelTrained(_), Some(c)) = (&fact, self.candidates.last_mut()) {
            c.trained_event = id;
        }
        if let Event::TrainingFailed(f) = &fact {
            self.note("training_failed", &f.reason, &f.job_id);
        }
        self.give(
            Role::Trainer,
            hour,
            Input::Event(fact.clone()),
            Some(id),
            None,
        )?;
        self.give(Role::Distiller, hour, Input::Event(fact), Some(id), None)?;
        Ok(())
    }

    /// Runs a distillation and hands the student (or the failure) to the Distiller.
    fn run_distillation(
        &mut self,
        hour: u64,
        started_id: Uuid,
        started: &DistillationStarted,
    ) -> Result<()> {
        if !self.started_jobs.insert(started_id) {
            return Ok(());
        }
        let watch = Stopwatch::start();
        let fact = match self.models.get(&started.teacher_model_id).cloned() {
            None => failed(
                &started.job_id,
                format!("teacher {} is not loaded", started.teacher_model_id),
            ),
            Some(teacher) => {
                let rows = workers::transfer_set(&self.labels, self.labels.len(), &self.warmup);
                match workers::distil(
                    started,
                    &teacher,
                    &rows,
                    self.n_classes,
                    &self.transform,
                    &self.config.host,
                ) {
                    Ok((student, weights)) => {
                        self.artifacts.put(&weights)?;
                        Event::StudentDistilled(student)
                    }
                    Err(e) => failed(&started.job_id, e.to_string()),
                }
            }
        };
        let modelled = spent_cpu_seconds(&fact);
        self.measured
            .push(watch.stop(hour, WorkKind::Distillation, &started.job_id, modelled));
        let id = self
            .journal
            .fact(WORKER_STREAM, "worker", hour, &fact, Some(started_id))?;
        self.give(
            Role::Distiller,
            hour,
            Input::Event(fact.clone()),
            Some(id),
            None,
        )?;
        if matches!(fact, Event::StudentDistilled(_)) {
            self.charge_trainer(hour, id, fact)?;
        }
        Ok(())
    }

    /// The hour's routine inputs: ticks for the Trainer and Distiller, evaluations that
    /// became possible, and the Releaser's analysis of the running canary.
    pub(super) fn hourly(&mut self, hour: u64) -> Result<()> {
        let cause = self
            .pending_request_cause()
            .or_else(|| self.last_decision.get(&Role::Trainer).copied());
        self.give(Role::Trainer, hour, Input::Tick, None, cause)?;
        let cause = self.last_decision.get(&Role::Distiller).copied();
        self.give(Role::Distiller, hour, Input::Tick, None, cause)?;
        self.evaluate_ready(hour)?;
        let cause = self.last_decision.get(&Role::Releaser).copied();
        let online = self.online(hour);
        self.give(Role::Releaser, hour, Input::Analyse(online), None, cause)?;
        Ok(())
    }
}

/// The fact of a worker's failed job.
pub(super) fn failed(job_id: &str, reason: String) -> Event {
    Event::TrainingFailed(TrainingFailed {
        job_id: job_id.to_string(),
        reason,
        spent: None,
    })
}

/// CPU seconds the cost model charged in a worker's fact (0 for a failure).
fn spent_cpu_seconds(fact: &Event) -> f64 {
    let spent = match fact {
        Event::ModelTrained(t) => t.spent.as_ref(),
        Event::StudentDistilled(d) => d.spent.as_ref(),
        _ => None,
    };
    spent.map_or(0.0, |c| c.cpu_seconds)
}

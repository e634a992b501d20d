//! Handing inputs to the agents, recording each call, and reacting to the decisions:
//! a training decision runs the ranking worker, and every fact or decision another agent
//! reads is handed on.

use std::sync::Arc;

use ledgerloop_agents::evaluator::REJECTED;
use ledgerloop_agents::releaser::OnlineStats;
use ledgerloop_agents::trainer::TrainingJob;
use ledgerloop_events::catalogue::{TrainingFailed, TrainingStarted};
use ledgerloop_events::Event;
use uuid::Uuid;

use super::RankGovernedPolicy;
use crate::data::{FeatureTransform, RowStore};
use crate::error::Result;
use crate::host::{requeue_in_line, Candidate};
use crate::journal::WORKER_STREAM;
use crate::step::{apply, Input, Role};
use crate::workers::{rank, TrainingData};

impl RankGovernedPolicy {
    /// Hands `input` to `role`, records the call (the input, caused by `cause` or else
    /// its `source` event, and the decisions) and reacts to the decisions.
    pub(super) fn give(
        &mut self,
        role: Role,
        hour: u64,
        input: Input,
        source: Option<Uuid>,
        cause: Option<Uuid>,
    ) -> Result<Vec<(Uuid, Event)>> {
        let record = self.journal.record(role, hour, &input, source)?;
        let decisions = apply(&self.agents, &mut self.states, role, hour, &input)?;
        // Only an evaluation's record is read back (as the Trainer's evidence of its cost).
        let recorded = (role == Role::Evaluator).then(|| record.clone());
        let (record_id, ids) =
            self.journal
                .append_call(role, hour, record, cause.or(source), &decisions)?;
        let decisions: Vec<(Uuid, Event)> = ids.into_iter().zip(decisions).collect();
        if let Some((last, _)) = decisions.last() {
            self.last_decision.insert(role, *last);
        }
        if let Some(recorded) =
            recorded.filter(|_| self.agents.trainer.policy().budgets_iteration())
        {
            // An iteration-scope budget counts the evaluation: its recorded report
            // carries the cost (the ranking loop distils nothing).
            let fold = Input::Fold(Event::InputRecorded(recorded));
            self.give(Role::Trainer, hour, fold, Some(record_id), None)?;
        }
        self.react(hour, &decisions)?;
        Ok(decisions)
    }

    /// Routes each decision to the worker or agent that acts on it.
    fn react(&mut self, hour: u64, decisions: &[(Uuid, Event)]) -> Result<()> {
        for (id, event) in decisions {
            let id = *id;
            match event {
                Event::FeedbackRecorded(_) => self.hand_on(Role::DriftJudge, hour, id, event)?,
                Event::RetrainRequested(r) => {
                    self.note("retrain_requested", &r.severity, &r.model_id);
                    self.last_retrain_request = Some(id);
                    self.hand_on(Role::Trainer, hour, id, event)?;
                }
                Event::DriftDetected(d) => self.note("drift_detected", &d.drift_kind, &d.model_id),
                Event::TrainingStarted(s) => self.run_training(hour, id, s)?,
                Event::DistillationStarted(s) => {
                    // The policy's trigger is `never`; a policy that asks anyway gets a
                    // refusal on record instead of a student nobody could serve.
                    let reason = "a popularity ranker has no edge student".to_string();
                    let fact = failed(&s.job_id, reason);
                    let fid = self
                        .journal
                        .fact(WORKER_STREAM, "worker", hour, &fact, Some(id))?;
                    self.give(Role::Distiller, hour, Input::Event(fact), Some(fid), None)?;
                }
                Event::VerdictIssued(v) => {
                    self.note("verdict", &v.verdict, &v.candidate_model_id);
                    if v.verdict == REJECTED {
                        // The drift is still unanswered: the DriftJudge re-arms on it.
                        self.hand_on(Role::DriftJudge, hour, id, event)?;
                    }
                    let input = Input::Verdict {
                        verdict: event.clone(),
                        online: self.online(hour),
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

    fn hand_on(&mut self, role: Role, hour: u64, id: Uuid, event: &Event) -> Result<()> {
        self.give(role, hour, Input::Event(event.clone()), Some(id), None)?;
        Ok(())
    }

    fn note(&mut self, kind: &str, what: &str, model_id: &str) {
        self.notes.push(ledgerloop_sim::policy::PolicyNote {
            kind: kind.to_string(),
            detail: serde_json::json!({ "hour": self.hour, "what": what, "model_id": model_id }),
        });
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

    /// Cumulative clicks per serving version as the Releaser reads them: every shown
    /// item is an outcome, and one that was not clicked is an error.
    pub(super) fn online(&self, hour: u64) -> OnlineStats {
        OnlineStats {
            hour,
            versions: self.clicks.clone(),
        }
    }

    /// Runs the job a `TrainingStarted` asks for and hands the result to the Trainer and
    /// the Distiller; a failure is recorded as `TrainingFailed`, and the champion serves on.
    fn run_training(
        &mut self,
        hour: u64,
        started_id: Uuid,
        started: &TrainingStarted,
    ) -> Result<()> {
        let transform = Arc::new(FeatureTransform::default());
        let pseudo = RowStore::new(1);
        let outcome = TrainingJob::from_started(started)
            .map_err(crate::error::agent("trainer"))
            .and_then(|job| {
                let data = TrainingData {
                    warmup: &self.warmup,
                    labels: &self.labels,
                    pseudo: &pseudo,
                    n_classes: 0,
                    transform: &transform,
                };
                let costs = &self.config.host.costs;
                let (model, fact) = rank::train(&job, &data, self.params, costs)?;
                Ok((job, model, fact))
            });
        let fact = match outcome {
            Ok((job, model, fact)) => {
                self.artifacts.put(&model.artifact)?;
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
        let id = self
            .journal
            .fact(WORKER_STREAM, "worker", hour, &fact, Some(started_id))?;
        match &fact {
            Event::ModelTrained(_) => {
                if let Some(c) = self.candidates.last_mut() {
                    c.trained_event = id;
                }
            }
            Event::TrainingFailed(f) => self.note("training_failed", &f.reason, &f.job_id),
            _ => {}
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
}

/// The fact of a worker's failed job.
fn failed(job_id: &str, reason: String) -> Event {
    Event::TrainingFailed(TrainingFailed {
        job_id: job_id.to_string(),
        reason,
        spent: None,
    })
}

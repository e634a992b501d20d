//! Slate outcomes in, the hourly routine, and the evaluation of candidates.
//!
//! Outcomes of one version reach the Perceiver as soon as they are delivered; the
//! consumption they carry waits for the hour's routine, which delivers it to the Trainer
//! as one `LabelsReceived`, ticks the Trainer and Distiller, evaluates the candidates
//! whose held-out consumption is ready and lets the Releaser analyse the canary.
//!
//! A candidate is judged on consumption delivered *after* its training data was fixed
//! (label rows from `heldout_from` on, the newest `eval_max_rows` of them), so training
//! never saw it and it comes from the newest tastes. It waits until `eval_min_rows`
//! such rows exist, or, after `eval_max_wait_hours`, goes ahead with `eval_floor_rows`.

use ledgerloop_agents::perceiver::{FeedbackBatch, Outcome};
use ledgerloop_events::catalogue::LabelsReceived;
use ledgerloop_events::Event;
use ledgerloop_sim::policy::rank::SlateOutcome;
use ledgerloop_sim::rng::{stable_hash, unit_interval};

use super::RankGovernedPolicy;
use crate::data::{RowStore, RowsRecord};
use crate::error::Result;
use crate::host::{heldout_ready, Candidate};
use crate::journal::LABELS_STREAM;
use crate::step::{Input, Role};
use crate::workers::rank;

/// Salt of the hash that picks the users whose outcomes reach the Perceiver.
const FEEDBACK_SALT: u64 = 0x6665_6564_6261_636b;
/// What a slate predicts: that the user consumes one of its items.
const HIT: u32 = 1;
/// What happened when the consumed item was not in the slate.
const MISS: u32 = 0;
/// Actor of the consumption deliveries: the portal's consumption log, not an oracle.
const CONSUMPTION_ACTOR: &str = "consumption";

impl RankGovernedPolicy {
    /// Runs the routine of every hour before `hour` that has not had it yet.
    pub(super) fn run_routines_before(&mut self, hour: u64) -> Result<()> {
        while self.next_routine_hour < hour {
            let h = self.next_routine_hour;
            self.hour = h;
            self.routine(h)?;
            self.next_routine_hour = h + 1;
        }
        self.hour = hour;
        Ok(())
    }

    /// Shows the Perceiver the hit or miss of each slate `version` served (for the
    /// perceived users), counts the version's clicks and keeps the consumption for the
    /// hour's routine.
    pub(super) fn deliver_outcomes(
        &mut self,
        hour: u64,
        version: &str,
        slates: &[SlateOutcome],
    ) -> Result<()> {
        let counts = self.clicks.entry(version.to_string()).or_default();
        for s in slates {
            let clicks = s.clicked.iter().filter(|c| **c).count() as u64;
            counts.served += s.items.len() as u64;
            counts.errors += s.items.len() as u64 - clicks;
        }
        let share = self.config.host.feedback_share;
        let mut outcomes = Vec::new();
        for s in slates {
            let Some(item) = s.consumed else { continue };
            let category = self.category_of(item);
            rank::push_interaction(&mut self.arrived, s.user, item, category);
            if unit_interval(stable_hash(u64::from(s.user) ^ FEEDBACK_SALT)) >= share {
                continue;
            }
            outcomes.push(Outcome {
                item_id: format!("{}:{}", s.hour, s.user),
                model_id: version.to_string(),
                predicted: HIT,
                actual: if s.items.contains(&item) { HIT } else { MISS },
            });
        }
        if outcomes.is_empty() {
            return Ok(());
        }
        let input = Input::Feedback(FeedbackBatch { hour, outcomes });
        self.give(Role::Perceiver, hour, input, None, None)?;
        Ok(())
    }

    /// The routine of `hour`: consumption to the Trainer, ticks, evaluations, analysis.
    fn routine(&mut self, hour: u64) -> Result<()> {
        self.deliver_consumption(hour)?;
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

    /// Appends the hour's consumption to the label store as one `LabelsReceived` (with
    /// its rows, so an auditor can refit) and hands it to the Trainer.
    fn deliver_consumption(&mut self, hour: u64) -> Result<()> {
        if self.arrived.is_empty() {
            return Ok(());
        }
        let delivered = std::mem::replace(&mut self.arrived, RowStore::new(1));
        self.labels.extend(&delivered);
        let fact = Event::LabelsReceived(LabelsReceived {
            request_id: format!("consumption-h{hour}"),
            labels: delivered.len() as u64,
            cost: 0.0,
        });
        let id = self
            .journal
            .fact(LABELS_STREAM, CONSUMPTION_ACTOR, hour, &fact, None)?;
        let input = Input::Rows {
            event: fact,
            fold_only: false,
            rows: Box::new(RowsRecord::of(&delivered)),
        };
        let cause = self.pending_request_cause();
        self.give(Role::Trainer, hour, input, Some(id), cause)?;
        Ok(())
    }

    /// Evaluates every candidate whose held-out consumption is ready, oldest first.
    fn evaluate_ready(&mut self, hour: u64) -> Result<()> {
        let settings = self.config.host.clone();
        let mut waiting = Vec::new();
        for c in std::mem::take(&mut self.candidates) {
            let available = self
                .labels
                .len()
                .saturating_sub(c.heldout_from)
                .min(settings.eval_max_rows);
            let waited = hour.saturating_sub(c.trained_hour);
            if heldout_ready(available, waited, &settings) {
                self.evaluate_one(hour, &c)?;
                self.judged.insert(c.model_id.clone(), c);
            } else {
                waiting.push(c);
            }
        }
        // Candidates trained while evaluating stay queued after the older ones.
        waiting.append(&mut self.candidates);
        self.candidates = waiting;
        Ok(())
    }

    fn evaluate_one(&mut self, hour: u64, c: &Candidate) -> Result<()> {
        let champion = self.models.get(&self.route.champion).cloned();
        let (Some(candidate), Some(champion)) = (self.models.get(&c.model_id), champion) else {
            return Ok(());
        };
        if candidate.model_id == champion.model_id {
            return Ok(());
        }
        let heldout = rank::heldout(
            &self.labels,
            c.heldout_from,
            self.labels.len(),
            self.config.host.eval_max_rows,
        );
        let report = rank::evaluate(
            candidate,
            &champion,
            &heldout,
            &self.old_holdout,
            self.params.k,
            &self.config.host.costs,
        );
        self.give(
            Role::Evaluator,
            hour,
            Input::Report(report),
            None,
            Some(c.trained_event),
        )?;
        Ok(())
    }
}

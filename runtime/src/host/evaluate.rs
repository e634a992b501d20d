//! Candidates waiting for their time-held-out set, and their evaluation.
//!
//! A candidate is judged on labels that arrived *after* its training data was fixed
//! (label rows from `heldout_from` on), so training never saw them and they come from
//! the newest distribution. It waits until `eval_min_rows` such labels exist, or, after
//! `eval_max_wait_hours`, goes ahead with at least `eval_floor_rows` (counted after
//! class balancing when `host.balance_heldout` is on).

use std::collections::BTreeMap;

use ledgerloop_agents::releaser::ReleaserState;
use uuid::Uuid;

use super::GovernedPolicy;
use crate::config::HostSettings;
use crate::costs::{Stopwatch, WorkKind};
use crate::data::RowStore;
use crate::error::Result;
use crate::step::{Input, Role};
use crate::workers;

/// A trained model waiting for evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Its version.
    pub model_id: String,
    /// Hour it was trained.
    pub trained_hour: u64,
    /// First label row it never saw.
    pub heldout_from: usize,
    /// Its `ModelTrained` event (the cause of the evaluation).
    pub trained_event: Uuid,
}

/// Whether a candidate's held-out set is ready: `available` rows it never saw, `waited`
/// hours since it was trained. Both hosts (classification and ranking) judge by this.
pub(crate) fn heldout_ready(available: usize, waited: u64, settings: &HostSettings) -> bool {
    available >= settings.eval_min_rows
        || (waited >= settings.eval_max_wait_hours && available >= settings.eval_floor_rows)
}

/// With a `queue_blessed` policy (`enabled`), puts the Releaser's candidate in line back
/// into the evaluation `queue` when its verdict names an earlier champion: after a
/// promotion it must be judged against the new one before it may start a canary. Its
/// held-out set still starts where its training data ended, so neither it nor the new
/// champion (trained earlier) saw those labels. `judged` holds every candidate already
/// evaluated, by model id. Both hosts call this after a `ModelPromoted`.
pub(crate) fn requeue_in_line(
    queue: &mut Vec<Candidate>,
    judged: &BTreeMap<String, Candidate>,
    releaser: &ReleaserState,
    enabled: bool,
) {
    let Some(waiting) = releaser.stale_in_line().filter(|_| enabled) else {
        return;
    };
    if queue.iter().any(|c| c.model_id == waiting) {
        return;
    }
    if let Some(c) = judged.get(waiting) {
        tracing::debug!(model_id = waiting, "judging the candidate in line again");
        queue.push(c.clone());
    }
}

impl GovernedPolicy {
    /// Evaluates every candidate whose held-out set is ready, oldest first.
    pub(super) fn evaluate_ready(&mut self, hour: u64) -> Result<()> {
        let settings = self.config.host.clone();
        let mut waiting = Vec::new();
        for c in std::mem::take(&mut self.candidates) {
            let available = workers::heldout_rows(
                &self.labels,
                c.heldout_from,
                self.labels.len(),
                self.n_classes,
                &settings,
            )
            .len();
            let waited = hour.saturating_sub(c.trained_hour);
            if heldout_ready(available, waited, &settings) {
                self.evaluate_one(hour, &c)?;
                self.judged.insert(c.model_id.clone(), c);
            } else {
                waiting.push(c);
            }
        }
        // Candidates that became ready while evaluating stay queued in order.
        waiting.append(&mut self.candidates);
        self.candidates = waiting;
        Ok(())
    }

    fn heldout(&self, from: usize) -> RowStore {
        workers::heldout(
            &self.labels,
            from,
            self.labels.len(),
            self.n_classes,
            &self.config.host,
        )
    }

    fn evaluate_one(&mut self, hour: u64, c: &Candidate) -> Result<()> {
        let (Some(candidate), Some(champion)) = (self.models.get(&c.model_id), self.champion())
        else {
            return Ok(());
        };
        if candidate.model_id == champion.model_id {
            return Ok(());
        }
        let watch = Stopwatch::start();
        let heldout = self.heldout(c.heldout_from);
        let report = workers::evaluate(
            candidate,
            &champion,
            &heldout,
            &self.old_holdout,
            &self.slice_names,
            &self.config.host.costs,
        )?;
        let modelled = report.spent.as_ref().map_or(0.0, |c| c.cpu_seconds);
        self.measured
            .push(watch.stop(hour, WorkKind::Evaluation, &c.model_id, modelled));
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

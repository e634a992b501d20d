//! The Releaser's state: the registry of versions and aliases, folded from events.
//!
//! Besides the Releaser's own decisions the fold reads three foreign events: the first
//! `BaselineTrained` in the log seeds the champion (later ones are the oracle's daily
//! retrains, which never serve), every `VerdictIssued` records whether a candidate is
//! blessed and against which champion (and puts a candidate blessed while a canary runs
//! in line), and every `ApprovalGranted` records an approval.

use std::collections::{BTreeMap, BTreeSet};

use ledgerloop_events::Event;
use serde::{Deserialize, Serialize};

use super::ServedCounts;
use crate::evaluator::BLESSED;

/// The running canary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CanaryRun {
    /// The candidate serving the canary share.
    pub model_id: String,
    /// Index into the policy's steps of the step now running.
    pub step_index: u32,
    /// The share of traffic the canary serves.
    pub fraction: f64,
    /// Hour the current step began.
    pub step_started_hour: u64,
    /// The canary's cumulative counts when the step began.
    pub baseline_canary: ServedCounts,
    /// The champion's cumulative counts when the step began.
    pub baseline_champion: ServedCounts,
}

/// The registry: aliases (champion, canary, previous), blessings, approvals, lineage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReleaserState {
    /// The version serving all traffic outside the canary; empty before a baseline.
    pub champion: String,
    /// Earlier champions, oldest first; the last is the `previous` alias.
    pub previous: Vec<String>,
    /// The running canary, if any (at most one at a time).
    pub canary: Option<CanaryRun>,
    /// Blessed candidate -> the champion its verdict compared it with.
    pub blessed: BTreeMap<String, String>,
    /// Subjects an operator approved.
    pub approvals: BTreeSet<String>,
    /// Versions rolled back; they never serve again.
    pub retired: BTreeSet<String>,
    /// Promoted version -> the champion it replaced.
    pub lineage: BTreeMap<String, String>,
    /// The newest candidate blessed while another canary ran and not started since: the
    /// one a `queue_blessed` policy starts after a rollback, or has judged again after a
    /// promotion. Folded whatever the policy, so the state never depends on it.
    #[serde(default)]
    pub waiting: Option<String>,
}

impl ReleaserState {
    /// The `previous` alias: the champion a rollback would restore.
    pub fn previous_champion(&self) -> Option<&str> {
        self.previous.last().map(String::as_str)
    }

    /// Folds one event (the body of `Releaser::evolve`).
    pub(super) fn apply(&mut self, event: &Event) {
        match event {
            Event::BaselineTrained(b) if self.champion.is_empty() => {
                self.champion = b.model_id.clone();
            }
            Event::VerdictIssued(v) if v.verdict == BLESSED => {
                let against = v.champion_model_id.clone().unwrap_or_default();
                self.blessed.insert(v.candidate_model_id.clone(), against);
                if self.canary.is_some() {
                    self.waiting = Some(v.candidate_model_id.clone());
                }
            }
            // A candidate judged again and rejected leaves the line.
            Event::VerdictIssued(v) if self.waiting.as_ref() == Some(&v.candidate_model_id) => {
                self.waiting = None;
            }
            Event::ApprovalGranted(a) => {
                self.approvals.insert(a.subject_id.clone());
            }
            Event::CanaryStarted(c) => {
                // Whatever starts now is at least as fresh as the one in line.
                self.waiting = None;
                self.canary = Some(CanaryRun {
                    model_id: c.model_id.clone(),
                    step_index: 0,
                    fraction: c.fraction,
                    step_started_hour: c.hour,
                    baseline_canary: counts(c.baseline_canary_served, c.baseline_canary_errors),
                    baseline_champion: counts(
                        c.baseline_champion_served,
                        c.baseline_champion_errors,
                    ),
                });
            }
            Event::CanaryStepAdvanced(s) => {
                if let Some(run) = self.canary.as_mut().filter(|r| r.model_id == s.model_id) {
                    run.step_index = s.step_index;
                    run.fraction = s.to_fraction;
                    run.step_started_hour = s.hour;
                    run.baseline_canary =
                        counts(s.baseline_canary_served, s.baseline_canary_errors);
                    run.baseline_champion =
                        counts(s.baseline_champion_served, s.baseline_champion_errors);
                }
            }
            Event::ModelPromoted(p) => {
                let old = std::mem::replace(&mut self.champion, p.model_id.clone());
                if !old.is_empty() {
                    self.previous.push(old);
                }
                self.lineage
                    .insert(p.model_id.clone(), p.previous_model_id.clone());
                self.canary = None;
            }
            Event::RolledBack(r) => self.apply_rollback(&r.model_id, &r.restored_model_id),
            _ => {}
        }
    }

    /// The candidate in line, when its verdict names the current champion and nothing
    /// has retired it: the one that may start a canary now.
    pub fn ready_in_line(&self) -> Option<&str> {
        self.in_line().filter(|(_, fresh)| *fresh).map(|(id, _)| id)
    }

    /// The candidate in line whose verdict names an earlier champion: the one a host
    /// with a `queue_blessed` policy has judged again against the current champion.
    pub fn stale_in_line(&self) -> Option<&str> {
        self.in_line().filter(|(_, fresh)| !fresh).map(|(id, _)| id)
    }

    /// The candidate in line that nothing has retired, and whether its verdict names the
    /// current champion.
    fn in_line(&self) -> Option<(&str, bool)> {
        let waiting = self.waiting.as_deref()?;
        let live = !self.retired.contains(waiting) && waiting != self.champion;
        live.then(|| (waiting, self.blessed.get(waiting) == Some(&self.champion)))
    }

    fn apply_rollback(&mut self, model_id: &str, restored: &str) {
        self.retired.insert(model_id.to_string());
        if self.canary.as_ref().is_some_and(|c| c.model_id == model_id) {
            self.canary = None;
        } else if self.champion == model_id {
            if self.previous_champion() == Some(restored) {
                self.previous.pop();
            }
            self.champion = restored.to_string();
        }
    }
}

fn counts(served: u64, errors: u64) -> ServedCounts {
    ServedCounts { served, errors }
}

/// The serving route the state implies: the champion, and the canary with its fraction.
/// Hosts turn this into the simulator's `ServingRoute`.
pub fn route(state: &ReleaserState) -> (String, Option<(String, f64)>) {
    let canary = state
        .canary
        .as_ref()
        .map(|c| (c.model_id.clone(), c.fraction));
    (state.champion.clone(), canary)
}

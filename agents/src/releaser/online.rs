//! The Releaser's decisions: starting a canary, judging a step on online statistics,
//! and rolling back.

use ledgerloop_events::catalogue::{CanaryStarted, CanaryStepAdvanced, ModelPromoted, RolledBack};
use ledgerloop_events::{Event, Evidence};

use super::{
    bad_input, refused, CanaryRun, OnlineStats, Releaser, ReleaserPolicy, ReleaserState,
    RollbackCommand, ServedCounts, ShortStep, POINTS_PER_UNIT, REASON_GUARD, REASON_OPERATOR,
    REASON_STALLED,
};
use crate::error::Result;

/// What happened within the current step: the counts since it began and their gap.
#[derive(Debug, Clone, Copy, PartialEq)]
struct StepWindow {
    hours: u64,
    canary: ServedCounts,
    champion: ServedCounts,
    gap_points: f64,
}

/// Error rate of a count pair; zero before anything was served, which the sample
/// minimums keep from ever deciding anything.
fn error_rate(c: ServedCounts) -> f64 {
    if c.served == 0 {
        0.0
    } else {
        c.errors as f64 / c.served as f64
    }
}

fn since(now: ServedCounts, base: ServedCounts, who: &str) -> Result<ServedCounts> {
    match (
        now.served.checked_sub(base.served),
        now.errors.checked_sub(base.errors),
    ) {
        (Some(served), Some(errors)) => Ok(ServedCounts { served, errors }),
        _ => Err(bad_input(format!(
            "{who}: cumulative counts {now:?} fell below the step's baseline {base:?}"
        ))),
    }
}

impl StepWindow {
    fn measure(run: &CanaryRun, champion: &str, online: &OnlineStats) -> Result<Self> {
        let hours = online
            .hour
            .checked_sub(run.step_started_hour)
            .ok_or_else(|| {
                bad_input(format!(
                    "hour {} precedes the step's start at hour {}",
                    online.hour, run.step_started_hour
                ))
            })?;
        let canary = since(
            online.counts(&run.model_id),
            run.baseline_canary,
            &run.model_id,
        )?;
        let champion = since(online.counts(champion), run.baseline_champion, champion)?;
        let gap_points = (error_rate(canary) - error_rate(champion)) * POINTS_PER_UNIT;
        Ok(StepWindow {
            hours,
            canary,
            champion,
            gap_points,
        })
    }

    /// Two-proportion z statistic of the canary's error rate above the champion's
    /// (pooled variance); 0 when the pooled rate leaves no variance.
    fn gap_z(&self) -> f64 {
        let (n1, n2) = (self.canary.served as f64, self.champion.served as f64);
        if n1 == 0.0 || n2 == 0.0 {
            return 0.0;
        }
        let pooled = (self.canary.errors + self.champion.errors) as f64 / (n1 + n2);
        let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
        if se > 0.0 {
            (error_rate(self.canary) - error_rate(self.champion)) / se
        } else {
            0.0
        }
    }

    fn guard_ready(&self, p: &ReleaserPolicy) -> bool {
        self.canary.served >= p.guard_min_samples && self.champion.served >= p.guard_min_samples
    }

    fn exposure_met(&self, p: &ReleaserPolicy) -> bool {
        self.hours >= p.min_step_hours
            && self.canary.served >= p.min_step_samples
            && self.champion.served >= p.min_step_samples
    }

    /// Significantly better than the champion, with the guard's sample minimum and the
    /// step's minimum hours behind it (`early_promote_min_z`; never when it is 0).
    fn clearly_better(&self, p: &ReleaserPolicy) -> bool {
        p.early_promote_min_z > 0.0
            && self.hours >= p.min_step_hours
            && self.guard_ready(p)
            && -self.gap_z() >= p.early_promote_min_z
    }

    /// Out of time short of the minimum outcomes, but with a canary that served something
    /// and is within tolerance: the step `short_step = "advance"` lets go on.
    fn short_but_within_tolerance(&self, p: &ReleaserPolicy) -> bool {
        let short =
            self.canary.served < p.min_step_samples || self.champion.served < p.min_step_samples;
        short
            && self.hours >= p.max_step_hours
            && self.canary.served > 0
            && self.gap_points <= p.advance_tolerance_points
    }

    fn evidence(&self, run: &CanaryRun, p: &ReleaserPolicy, hour: u64) -> Evidence {
        Evidence::new()
            .with("online.hour", hour as f64)
            .with("step.index", f64::from(run.step_index))
            .with("step.fraction", run.fraction)
            .with("step.exposure_hours", self.hours as f64)
            .with("step.canary_served", self.canary.served as f64)
            .with("step.canary_errors", self.canary.errors as f64)
            .with("step.canary_error_rate", error_rate(self.canary))
            .with("step.champion_served", self.champion.served as f64)
            .with("step.champion_errors", self.champion.errors as f64)
            .with("step.champion_error_rate", error_rate(self.champion))
            .with("step.error_gap_points", self.gap_points)
            .with("step.error_gap_z", self.gap_z())
            .with("threshold.rollback_margin_points", p.rollback_margin_points)
            .with(
                "threshold.advance_tolerance_points",
                p.advance_tolerance_points,
            )
            .with("threshold.guard_min_samples", p.guard_min_samples as f64)
            .with("threshold.guard_min_z", p.guard_min_z)
            .with("threshold.min_step_hours", p.min_step_hours as f64)
            .with("threshold.min_step_samples", p.min_step_samples as f64)
            .with("threshold.max_step_hours", p.max_step_hours as f64)
    }
}

fn flag(value: bool) -> f64 {
    crate::evaluator::gates::flag(value)
}

impl Releaser {
    /// Starts a canary at the first step, or says why policy forbids it.
    pub(super) fn start_canary(
        &self,
        state: &ReleaserState,
        model_id: &str,
        judged_against: &str,
        online: &OnlineStats,
    ) -> Result<Event> {
        let champion = &state.champion;
        let reason = if champion.is_empty() {
            Some("no champion to compare with yet".to_string())
        } else if let Some(run) = &state.canary {
            Some(format!("canary `{}` is already running", run.model_id))
        } else if model_id == champion {
            Some("it is already the champion".to_string())
        } else if state.retired.contains(model_id) {
            Some("it was rolled back before".to_string())
        } else if judged_against != champion {
            Some(format!(
                "its verdict compared it with `{judged_against}` but the champion is `{champion}`"
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(refused(model_id, reason));
        }
        let p = &self.policy;
        // Validation guarantees a first step within (0, max]; the fallback only keeps
        // this total should a caller build a policy without validating it.
        let fraction = p
            .steps
            .first()
            .copied()
            .unwrap_or(p.max_canary_fraction)
            .min(p.max_canary_fraction);
        let canary = online.counts(model_id);
        let base = online.counts(champion);
        let evidence = Evidence::new()
            .with("online.hour", online.hour as f64)
            .with("step.index", 0.0)
            .with("step.fraction", fraction)
            .with("threshold.max_canary_fraction", p.max_canary_fraction)
            .with("baseline.canary_served", canary.served as f64)
            .with("baseline.champion_served", base.served as f64)
            .with("baseline.champion_error_rate", error_rate(base));
        Ok(Event::CanaryStarted(CanaryStarted {
            model_id: model_id.to_string(),
            champion_model_id: champion.clone(),
            fraction,
            hour: online.hour,
            baseline_canary_served: canary.served,
            baseline_canary_errors: canary.errors,
            baseline_champion_served: base.served,
            baseline_champion_errors: base.errors,
            evidence,
            rule: p.rule(),
        }))
    }

    /// Judges the running step: guard first, then early promotion of a clearly better
    /// canary, then advance or promote, then stall.
    pub(super) fn on_tick(
        &self,
        state: &ReleaserState,
        online: &OnlineStats,
    ) -> Result<Vec<Event>> {
        let Some(run) = &state.canary else {
            return Ok(Vec::new());
        };
        let p = &self.policy;
        let window = StepWindow::measure(run, &state.champion, online)?;
        let evidence = window.evidence(run, p, online.hour);
        let rollback = |reason: &str, evidence: Evidence| {
            self.rolled_back(
                &run.model_id,
                &state.champion,
                reason,
                online.hour,
                evidence,
                p.rule(),
            )
        };
        let significant = window.gap_z() >= p.guard_min_z;
        if window.guard_ready(p) && window.gap_points > p.rollback_margin_points && significant {
            return Ok(self.then_next_in_line(state, rollback(REASON_GUARD, evidence), online));
        }
        let next = run.step_index as usize + 1;
        let next_fraction = p.steps.get(next).copied();
        let advance = |to: f64, evidence: Evidence| {
            self.advance(run, to, next, online, &state.champion, evidence)
        };
        // A step that would promote anyway does so on the ordinary path below, and a
        // canary still waiting for its approval walks on through the steps meanwhile.
        let ordinary_promotion = next_fraction.is_none() && window.exposure_met(p);
        let approved = !p.require_approval || state.approvals.contains(&run.model_id);
        if !ordinary_promotion && approved && window.clearly_better(p) {
            let evidence = evidence
                .with("step.promoted_early", 1.0)
                .with("threshold.early_promote_min_z", p.early_promote_min_z);
            return Ok(self.promote_or_hold(state, run, online, evidence));
        }
        if window.exposure_met(p) && window.gap_points <= p.advance_tolerance_points {
            if let Some(to) = next_fraction {
                return Ok(vec![advance(to, evidence)]);
            }
            return Ok(self.promote_or_hold(state, run, online, evidence));
        }
        if window.hours >= p.max_step_hours {
            let go_on = p.short_step == ShortStep::Advance && window.short_but_within_tolerance(p);
            if let (true, Some(to)) = (go_on, next_fraction) {
                return Ok(vec![advance(to, evidence.with("step.advanced_short", 1.0))]);
            }
            return Ok(self.then_next_in_line(state, rollback(REASON_STALLED, evidence), online));
        }
        Ok(Vec::new())
    }

    /// A rollback, followed (with `queue_blessed`) by the canary of the candidate in line
    /// when its verdict names the champion the rollback leaves serving. The slot is free
    /// and the candidate passed every gate against that champion, so waiting for the next
    /// retrain would only keep the fleet on the model the drift degraded.
    fn then_next_in_line(
        &self,
        state: &ReleaserState,
        rolled_back: Event,
        online: &OnlineStats,
    ) -> Vec<Event> {
        let mut events = vec![rolled_back];
        if !self.policy.queue_blessed {
            return events;
        }
        let mut after = state.clone();
        after.apply(&events[0]);
        let Some(next) = after.ready_in_line().map(str::to_string) else {
            return events;
        };
        let judged_against = after.champion.clone();
        if let Ok(Event::CanaryStarted(mut started)) =
            self.start_canary(&after, &next, &judged_against, online)
        {
            started.evidence = started.evidence.with("canary.from_line", 1.0);
            events.push(Event::CanaryStarted(started));
        }
        events
    }

    /// Promotes the canary, or holds it (no events) while the policy waits for an
    /// operator's approval; a held canary's wait never counts as a stalled step.
    fn promote_or_hold(
        &self,
        state: &ReleaserState,
        run: &CanaryRun,
        online: &OnlineStats,
        evidence: Evidence,
    ) -> Vec<Event> {
        let p = &self.policy;
        let approved = state.approvals.contains(&run.model_id);
        if p.require_approval && !approved {
            return Vec::new();
        }
        let evidence = evidence
            .with("approval.required", flag(p.require_approval))
            .with("approval.granted", flag(approved));
        vec![Event::ModelPromoted(ModelPromoted {
            model_id: run.model_id.clone(),
            previous_model_id: state.champion.clone(),
            hour: online.hour,
            evidence,
            rule: p.rule(),
        })]
    }

    fn advance(
        &self,
        run: &CanaryRun,
        to: f64,
        next: usize,
        online: &OnlineStats,
        champion: &str,
        evidence: Evidence,
    ) -> Event {
        let to_fraction = to.min(self.policy.max_canary_fraction);
        let canary = online.counts(&run.model_id);
        let base = online.counts(champion);
        Event::CanaryStepAdvanced(CanaryStepAdvanced {
            model_id: run.model_id.clone(),
            from_fraction: run.fraction,
            to_fraction,
            step_index: u32::try_from(next).unwrap_or(u32::MAX),
            hour: online.hour,
            baseline_canary_served: canary.served,
            baseline_canary_errors: canary.errors,
            baseline_champion_served: base.served,
            baseline_champion_errors: base.errors,
            evidence: evidence.with(
                "threshold.max_canary_fraction",
                self.policy.max_canary_fraction,
            ),
            rule: self.policy.rule(),
        })
    }

    /// An operator's rollback: the canary if one runs, else the champion.
    pub(super) fn on_rollback(
        &self,
        state: &ReleaserState,
        command: &RollbackCommand,
        online: &OnlineStats,
    ) -> Result<Event> {
        let rule = self
            .policy
            .rule()
            .with("operator", command.operator.clone());
        if let Some(run) = &state.canary {
            // An operator's rollback must never be blocked by odd counts; the window is
            // evidence only when it can be measured.
            let evidence = StepWindow::measure(run, &state.champion, online)
                .map(|w| w.evidence(run, &self.policy, online.hour))
                .unwrap_or_else(|_| Evidence::new().with("online.hour", online.hour as f64));
            return Ok(self.rolled_back(
                &run.model_id,
                &state.champion,
                REASON_OPERATOR,
                online.hour,
                evidence,
                rule,
            ));
        }
        let Some(previous) = state.previous_champion() else {
            return Err(refused(
                &state.champion,
                "no canary runs and no previous champion to restore".to_string(),
            ));
        };
        let current = online.counts(&state.champion);
        let evidence = Evidence::new()
            .with("online.hour", online.hour as f64)
            .with("champion.served", current.served as f64)
            .with("champion.error_rate", error_rate(current));
        Ok(self.rolled_back(
            &state.champion,
            previous,
            REASON_OPERATOR,
            online.hour,
            evidence,
            rule,
        ))
    }

    fn rolled_back(
        &self,
        model_id: &str,
        restored: &str,
        reason: &str,
        hour: u64,
        evidence: Evidence,
        rule: ledgerloop_events::Rule,
    ) -> Event {
        Event::RolledBack(RolledBack {
            model_id: model_id.to_string(),
            restored_model_id: restored.to_string(),
            reason: reason.to_string(),
            hour,
            evidence,
            rule,
        })
    }
}

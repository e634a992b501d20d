//! The Releaser: the registry of model versions and the only agent that changes the
//! serving route.
//!
//! A blessed candidate starts a canary at the policy's first step; each hourly tick of
//! online statistics compares the canary's error rate with the champion's over the
//! current step. The canary is rolled back at once when it is clearly worse (the guard),
//! advances to the next step when it stayed within tolerance for the step's minimum
//! exposure, is promoted after the last step (after an `ApprovalGranted` naming it, when
//! the policy asks for one) or from any step once it is significantly better
//! (`early_promote_min_z`, off by default), and is rolled back as stalled when a step
//! never met its criteria in time. An operator's rollback command withdraws the canary,
//! or, when none runs, restores the previous champion at once. With `queue_blessed`, the
//! newest candidate blessed while a canary ran waits in line (`ReleaserState::waiting`)
//! and starts its canary as soon as the running one is rolled back by the guard or as
//! stalled.
//!
//! Refusals: routine inputs that call for nothing (a rejected verdict, a blessed verdict
//! while another canary runs, a tick with no canary) yield no events. An *explicit*
//! request the policy forbids ([`ReleaserInput::CanaryRequest`] for an unblessed or stale
//! candidate, a rollback with nothing to restore) returns [`Error::Refused`], so the
//! caller learns why and nothing is written.
//!
//! Online statistics are cumulative per version (the sum of `FeedbackRecorded` since
//! the log began); each step records the counts at its start in its event, so the
//! state, a pure fold of events, knows each step's exposure.

mod online;
mod state;

use std::collections::BTreeMap;

use ledgerloop_events::catalogue::VerdictIssued;
use ledgerloop_events::{Event, Rule};
use serde::{Deserialize, Serialize};

use crate::decider::Decider;
use crate::error::{invalid, Error, Result};
pub use state::{route, CanaryRun, ReleaserState};

/// Component name used in errors.
const COMPONENT: &str = "releaser";
/// `RolledBack.reason` when the online guard fired.
pub const REASON_GUARD: &str = "guard";
/// `RolledBack.reason` when a step never met its advance criteria in time.
pub const REASON_STALLED: &str = "stalled";
/// `RolledBack.reason` for an operator's rollback command.
pub const REASON_OPERATOR: &str = "operator";
/// Error rates in [0, 1] times this are percentage points.
const POINTS_PER_UNIT: f64 = 100.0;

/// The Releaser's canary policy, read from the `[releaser]` table of a policy file.
///
/// Unknown keys are rejected; missing keys take the defaults shown on each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReleaserPolicy {
    /// Policy name written into every decision's rule (default `releaser.canary.v1`).
    pub name: String,
    /// Canary traffic fractions, strictly increasing, each in (0, `max_canary_fraction`];
    /// promotion to 100% follows the last (default [0.05, 0.25, 0.5]).
    pub steps: Vec<f64>,
    /// Largest fraction of traffic a canary may ever serve, in (0, 1] (default 0.5).
    pub max_canary_fraction: f64,
    /// Minimum hours a step runs before it may advance or promote (default 6).
    pub min_step_hours: u64,
    /// Minimum outcomes both canary and champion must serve within a step before it may
    /// advance or promote (default 200).
    pub min_step_samples: u64,
    /// A step that has not met its advance criteria after this many hours is rolled
    /// back as stalled; >= `min_step_hours` (default 72).
    pub max_step_hours: u64,
    /// Advance when the canary's error rate exceeds the champion's by at most this many
    /// points over the step, >= 0 (default 1.0).
    pub advance_tolerance_points: f64,
    /// Roll back at once when the canary's error rate exceeds the champion's by more than
    /// this many points, >= `advance_tolerance_points` (default 5.0).
    pub rollback_margin_points: f64,
    /// Outcomes both canary and champion must have served within the step before the
    /// guard may fire, >= 1, so that a handful of early errors cannot kill a canary
    /// (default 100).
    pub guard_min_samples: u64,
    /// The guard also needs the gap to be significant: the two-proportion z statistic
    /// of canary vs champion error rates over the step must reach this, >= 0. The guard
    /// looks every hour, so a one-off 5-point gap on a few hundred outcomes is often noise;
    /// 3.0 (one-sided p ~ 0.0013 per look) keeps false rollbacks rare over a step's
    /// dozens of looks. 0 (the default) lets the margin alone decide.
    pub guard_min_z: f64,
    /// Hold promotion after the last step until an `ApprovalGranted` names the canary
    /// (default false).
    pub require_approval: bool,
    /// What becomes of a step that reaches `max_step_hours` short of `min_step_samples`
    /// (default `roll_back`). On a small fleet the first step's few devices may never
    /// serve the minimum in time, so every canary would stall however good it is.
    pub short_step: ShortStep,
    /// Promote at once, from any step, a canary that is significantly *better* than the
    /// champion: once both have served `guard_min_samples` outcomes in the step and the
    /// step ran `min_step_hours`, a canary error rate below the champion's with a
    /// two-proportion z of at least this promotes (still after an approval when
    /// `require_approval`). The steps exist to limit the harm of a worse canary; after a
    /// drift the canary is the fix, and every further day on the degraded champion costs
    /// the whole fleet. 0 (the default) never shortcuts the steps; when set, >=
    /// `guard_min_z`, so that better needs at least the evidence that worse does.
    pub early_promote_min_z: f64,
    /// Keep in line the newest candidate blessed while another canary ran, instead of
    /// dropping it (default false). It starts its canary when the running one is rolled
    /// back by the guard or as stalled (its verdict still names the champion); when the
    /// running one is promoted instead, the host has it judged again against the new
    /// champion, and a blessed verdict then starts it. Without this, a candidate trained
    /// on fresher data than the canary is never served, and the next retrain is days away.
    pub queue_blessed: bool,
}

/// The fate of a canary step that ran out of time before it served its minimum outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShortStep {
    /// Rolled back as stalled, like a step that missed its criteria on the error gap.
    #[default]
    RollBack,
    /// Advanced to the next step (more devices, so more outcomes for the guard and the
    /// next judgement) when the canary served something and its error rate is within
    /// `advance_tolerance_points` of the champion's; the last step is never promoted
    /// short, and a canary outside the tolerance still stalls.
    Advance,
}

impl ShortStep {
    fn as_str(self) -> &'static str {
        match self {
            ShortStep::RollBack => "roll_back",
            ShortStep::Advance => "advance",
        }
    }
}

impl Default for ReleaserPolicy {
    fn default() -> Self {
        ReleaserPolicy {
            name: "releaser.canary.v1".to_string(),
            steps: vec![0.05, 0.25, 0.5],
            max_canary_fraction: 0.5,
            min_step_hours: 6,
            min_step_samples: 200,
            max_step_hours: 72,
            advance_tolerance_points: 1.0,
            rollback_margin_points: 5.0,
            guard_min_samples: 100,
            guard_min_z: 0.0,
            require_approval: false,
            short_step: ShortStep::RollBack,
            early_promote_min_z: 0.0,
            queue_blessed: false,
        }
    }
}

impl ReleaserPolicy {
    /// Checks the policy describes a canary that can run, so that a bad policy file is
    /// rejected before a run.
    pub fn validate(&self) -> Result<()> {
        let p = "releaser policy";
        let max = self.max_canary_fraction;
        if !(max > 0.0 && max <= 1.0) {
            return Err(invalid(p, "max_canary_fraction", max, "must lie in (0, 1]"));
        }
        if self.steps.is_empty() {
            return Err(invalid(p, "steps", "[]", "needs at least one step"));
        }
        let mut last = 0.0;
        for &step in &self.steps {
            if !(step > last && step <= max) {
                return Err(invalid(
                    p,
                    "steps",
                    format!("{:?}", self.steps),
                    "must increase strictly within (0, max_canary_fraction]",
                ));
            }
            last = step;
        }
        if self.max_step_hours == 0 || self.max_step_hours < self.min_step_hours {
            return Err(invalid(
                p,
                "max_step_hours",
                self.max_step_hours,
                "must be >= 1 and >= min_step_hours",
            ));
        }
        let tolerance = self.advance_tolerance_points;
        if !(tolerance.is_finite() && tolerance >= 0.0) {
            return Err(invalid(
                p,
                "advance_tolerance_points",
                tolerance,
                "must be finite and >= 0",
            ));
        }
        let margin = self.rollback_margin_points;
        if !(margin.is_finite() && margin >= tolerance) {
            return Err(invalid(
                p,
                "rollback_margin_points",
                margin,
                "must be finite and >= advance_tolerance_points",
            ));
        }
        if self.guard_min_samples == 0 {
            return Err(invalid(p, "guard_min_samples", 0, "must be >= 1"));
        }
        if !(self.guard_min_z.is_finite() && self.guard_min_z >= 0.0) {
            return Err(invalid(
                p,
                "guard_min_z",
                self.guard_min_z,
                "must be finite and >= 0",
            ));
        }
        let early = self.early_promote_min_z;
        if !(early.is_finite() && (early == 0.0 || (early > 0.0 && early >= self.guard_min_z))) {
            return Err(invalid(
                p,
                "early_promote_min_z",
                early,
                "must be 0 (off) or finite, > 0 and >= guard_min_z",
            ));
        }
        Ok(())
    }

    /// The rule recorded with every decision: the policy name and all its parameters
    /// (`short_step`, `early_promote_min_z` and `queue_blessed` only when they are not the
    /// default, so that logs written before they existed re-derive to the same rule).
    pub fn rule(&self) -> Rule {
        let rule = Rule::new(self.name.clone())
            .with("steps", self.steps.clone())
            .with("max_canary_fraction", self.max_canary_fraction)
            .with("min_step_hours", self.min_step_hours)
            .with("min_step_samples", self.min_step_samples)
            .with("max_step_hours", self.max_step_hours)
            .with("advance_tolerance_points", self.advance_tolerance_points)
            .with("rollback_margin_points", self.rollback_margin_points)
            .with("guard_min_samples", self.guard_min_samples)
            .with("guard_min_z", self.guard_min_z)
            .with("require_approval", self.require_approval);
        let rule = match self.short_step {
            ShortStep::RollBack => rule,
            short => rule.with("short_step", short.as_str()),
        };
        let rule = if self.early_promote_min_z > 0.0 {
            rule.with("early_promote_min_z", self.early_promote_min_z)
        } else {
            rule
        };
        if self.queue_blessed {
            rule.with("queue_blessed", true)
        } else {
            rule
        }
    }
}

/// Cumulative outcomes one model version served and how many of them were errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedCounts {
    /// Outcomes observed for predictions this version served.
    pub served: u64,
    /// Of those, the wrong ones.
    pub errors: u64,
}

/// Online statistics at one hour: cumulative counts per serving version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OnlineStats {
    /// The hour these counts are current at.
    pub hour: u64,
    /// Model version -> cumulative counts; a version absent here has served nothing.
    pub versions: BTreeMap<String, ServedCounts>,
}

impl OnlineStats {
    /// The counts of `version`, zero when it has served nothing yet.
    pub fn counts(&self, version: &str) -> ServedCounts {
        self.versions.get(version).copied().unwrap_or_default()
    }

    fn validate(&self) -> Result<()> {
        match self.versions.iter().find(|(_, c)| c.errors > c.served) {
            Some((version, c)) => Err(bad_input(format!(
                "{version}: {} errors exceed {} served",
                c.errors, c.served
            ))),
            None => Ok(()),
        }
    }
}

/// An operator's command to roll back (recorded by the host as the input it is).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RollbackCommand {
    /// Who asked; written into the rule of the resulting `RolledBack`.
    pub operator: String,
}

/// What the Releaser reacts to. Each input carries the current online statistics,
/// because any decision may start a step and must record its baseline.
#[derive(Debug, Clone, PartialEq)]
pub enum ReleaserInput {
    /// The Evaluator issued a verdict (the host also folds the event into the state).
    Verdict {
        /// The verdict.
        verdict: VerdictIssued,
        /// Online statistics when it arrived.
        online: OnlineStats,
    },
    /// An explicit request to canary `model_id`, e.g. a blessed candidate that arrived
    /// while another canary ran. Refused unless blessed against the current champion.
    CanaryRequest {
        /// The model to canary.
        model_id: String,
        /// Online statistics now.
        online: OnlineStats,
    },
    /// An hourly tick: advance, promote, hold or roll back the running canary.
    Tick(OnlineStats),
    /// An operator's rollback command.
    Rollback {
        /// The command.
        command: RollbackCommand,
        /// Online statistics now.
        online: OnlineStats,
    },
}

fn bad_input(reason: String) -> Error {
    Error::InvalidInput {
        component: COMPONENT,
        reason,
    }
}

fn refused(subject: &str, reason: String) -> Error {
    Error::Refused {
        component: COMPONENT,
        subject: subject.to_string(),
        reason,
    }
}

/// The Releaser decider: a validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Releaser {
    policy: ReleaserPolicy,
}

impl Releaser {
    /// Builds the decider, refusing an invalid policy.
    pub fn new(policy: ReleaserPolicy) -> Result<Self> {
        policy.validate()?;
        Ok(Releaser { policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> &ReleaserPolicy {
        &self.policy
    }
}

impl Decider for Releaser {
    type State = ReleaserState;
    type Input = ReleaserInput;

    fn decide(&self, state: &ReleaserState, input: &ReleaserInput) -> Result<Vec<Event>> {
        match input {
            ReleaserInput::Verdict { verdict, online } => {
                online.validate()?;
                Ok(self.on_verdict(state, verdict, online))
            }
            ReleaserInput::CanaryRequest { model_id, online } => {
                online.validate()?;
                let judged_against = state.blessed.get(model_id).ok_or_else(|| {
                    refused(model_id, "no blessed verdict for this model".to_string())
                })?;
                let event = self.start_canary(state, model_id, judged_against, online)?;
                Ok(vec![event])
            }
            ReleaserInput::Tick(online) => {
                online.validate()?;
                self.on_tick(state, online)
            }
            ReleaserInput::Rollback { command, online } => {
                online.validate()?;
                self.on_rollback(state, command, online).map(|e| vec![e])
            }
        }
    }

    fn evolve(state: &mut ReleaserState, event: &Event) {
        state.apply(event);
    }
}

impl Releaser {
    /// A blessed verdict starts a canary when the slot is free; anything else is routine
    /// and yields nothing (the blessing itself is recorded by `evolve`).
    fn on_verdict(
        &self,
        state: &ReleaserState,
        verdict: &VerdictIssued,
        online: &OnlineStats,
    ) -> Vec<Event> {
        if verdict.verdict != crate::evaluator::BLESSED || state.canary.is_some() {
            return Vec::new();
        }
        let judged_against = verdict.champion_model_id.clone().unwrap_or_default();
        self.start_canary(state, &verdict.candidate_model_id, &judged_against, online)
            .map(|e| vec![e])
            .unwrap_or_default()
    }
}

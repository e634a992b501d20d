//! The Evaluator: judges a trained candidate against the serving champion.
//!
//! A worker scores both models on the time-held-out set (which training never saw), on
//! the old-distribution holdout (to catch forgetting), per slice, and measures the
//! candidate's size and latency; it reports the numbers as an [`EvaluationReport`]. The
//! Evaluator applies the gates of its [`EvaluatorPolicy`] to that report and issues one
//! `VerdictIssued`, `blessed` only when every gate passes. The verdict names every gate
//! with its observed value, threshold and outcome (see [`gates`]), and its rule carries
//! every policy parameter, so an auditor can re-derive it from the report alone.
//!
//! A report with impossible numbers (accuracy outside [0, 1], NaN, more discordant pairs
//! than samples) is refused with [`Error::InvalidInput`] instead of judged: a verdict on
//! garbage would look like evidence. A candidate gets one verdict per champion it is
//! judged against, so a re-delivered report is harmless, while a candidate judged again
//! after the champion changed (a Releaser's `queue_blessed` line) gets a fresh verdict.

pub mod gates;
pub mod mcnemar;

use std::collections::{BTreeMap, BTreeSet};

use ledgerloop_events::catalogue::VerdictIssued;
use ledgerloop_events::{Event, Evidence, Rule};
use serde::{Deserialize, Serialize};

use crate::decider::Decider;
use crate::error::{invalid, Error, Result};
pub use mcnemar::{mcnemar, McNemarResult, McNemarTest};

/// Component name used in errors.
const COMPONENT: &str = "evaluator";
/// The verdict of a candidate that passed every gate.
pub const BLESSED: &str = "blessed";
/// The verdict of a candidate that failed at least one gate.
pub const REJECTED: &str = "rejected";
/// Percentage points span at most this much; thresholds beyond it are meaningless.
const MAX_POINTS: f64 = 100.0;

/// What the significance test must show about the candidate on the held-out set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignificanceRequirement {
    /// Fail only when the candidate is significantly *worse* than the champion; a tie
    /// passes. Right when a retrain is triggered by drift and must merely not regress.
    #[default]
    NotWorse,
    /// Pass only when the candidate is significantly *better* than the champion.
    Better,
}

impl SignificanceRequirement {
    /// The name recorded in a verdict's rule parameters.
    pub fn name(self) -> &'static str {
        match self {
            SignificanceRequirement::NotWorse => "not_worse",
            SignificanceRequirement::Better => "better",
        }
    }
}

/// The Evaluator's gates, read from the `[evaluator]` table of a policy file.
///
/// Unknown keys are rejected; missing keys take the defaults shown on each field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluatorPolicy {
    /// Policy name written into every verdict's rule (default `evaluator.gates.v1`).
    pub name: String,
    /// Held-out gate: lowest accepted candidate-minus-champion accuracy change, in
    /// percentage points. Negative allows a bounded regression (-0.5: at most half a
    /// point worse), positive demands an improvement (default 0.0).
    pub heldout_min_delta_points: f64,
    /// Significance gate: which McNemar test runs on the held-out discordant pairs,
    /// `exact` or `chi_square` (default `exact`).
    pub significance_test: McNemarTest,
    /// Significance gate: the test's level alpha, in (0, 1) (default 0.05).
    pub significance_alpha: f64,
    /// Significance gate: `not_worse` fails a significantly worse candidate, `better`
    /// passes only a significantly better one (default `not_worse`).
    pub significance_requirement: SignificanceRequirement,
    /// Forgetting gate: largest accepted accuracy drop of the candidate below the
    /// champion on the old-distribution holdout, in points, >= 0 (default 2.0).
    pub forgetting_max_drop_points: f64,
    /// Slice gate: largest accepted accuracy drop of the candidate below the champion on
    /// any one slice, in points, >= 0 (default 5.0).
    pub slice_max_drop_points: f64,
    /// Slice gate: slices with fewer samples than this are reported but not gated,
    /// because their accuracy is too noisy to judge (default 50).
    pub slice_min_samples: u64,
    /// Size gate (edge students): largest accepted artifact size in bytes; absent means
    /// the gate is not applied (default absent).
    pub max_size_bytes: Option<u64>,
    /// Latency gate (edge students): largest accepted per-prediction latency in
    /// microseconds, > 0; absent means the gate is not applied (default absent).
    pub max_latency_us: Option<f64>,
}

impl Default for EvaluatorPolicy {
    fn default() -> Self {
        EvaluatorPolicy {
            name: "evaluator.gates.v1".to_string(),
            heldout_min_delta_points: 0.0,
            significance_test: McNemarTest::Exact,
            significance_alpha: 0.05,
            significance_requirement: SignificanceRequirement::NotWorse,
            forgetting_max_drop_points: 2.0,
            slice_max_drop_points: 5.0,
            slice_min_samples: 50,
            max_size_bytes: None,
            max_latency_us: None,
        }
    }
}

impl EvaluatorPolicy {
    /// Checks every threshold lies in the range where the gate means something, so that
    /// a bad policy file is rejected before a run rather than silently blessing all.
    pub fn validate(&self) -> Result<()> {
        let p = "evaluator policy";
        let delta = self.heldout_min_delta_points;
        if !(delta.is_finite() && delta.abs() <= MAX_POINTS) {
            return Err(invalid(
                p,
                "heldout_min_delta_points",
                delta,
                "must lie in [-100, 100]",
            ));
        }
        let alpha = self.significance_alpha;
        if !(alpha > 0.0 && alpha < 1.0) {
            return Err(invalid(
                p,
                "significance_alpha",
                alpha,
                "must lie in (0, 1)",
            ));
        }
        for (name, value) in [
            (
                "forgetting_max_drop_points",
                self.forgetting_max_drop_points,
            ),
            ("slice_max_drop_points", self.slice_max_drop_points),
        ] {
            if !(value.is_finite() && (0.0..=MAX_POINTS).contains(&value)) {
                return Err(invalid(p, name, value, "must lie in [0, 100]"));
            }
        }
        if let Some(latency) = self.max_latency_us {
            if !(latency.is_finite() && latency > 0.0) {
                return Err(invalid(
                    p,
                    "max_latency_us",
                    latency,
                    "must be finite and > 0",
                ));
            }
        }
        Ok(())
    }

    /// The rule recorded with every verdict: the policy name and all its parameters.
    pub fn rule(&self) -> Rule {
        Rule::new(self.name.clone())
            .with("heldout_min_delta_points", self.heldout_min_delta_points)
            .with("significance_test", self.significance_test.name())
            .with("significance_alpha", self.significance_alpha)
            .with(
                "significance_requirement",
                self.significance_requirement.name(),
            )
            .with(
                "forgetting_max_drop_points",
                self.forgetting_max_drop_points,
            )
            .with("slice_max_drop_points", self.slice_max_drop_points)
            .with("slice_min_samples", self.slice_min_samples)
            .with("max_size_bytes", self.max_size_bytes)
            .with("max_latency_us", self.max_latency_us)
    }
}

/// Accuracy of candidate and champion on one evaluation set or slice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairedAccuracy {
    /// Candidate accuracy in [0, 1].
    pub candidate_accuracy: f64,
    /// Champion accuracy in [0, 1].
    pub champion_accuracy: f64,
    /// Number of examples scored.
    pub samples: u64,
}

/// The numbers an evaluation worker measured for one candidate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    /// The candidate under judgement.
    pub candidate_model_id: String,
    /// The champion it was compared with.
    pub champion_model_id: String,
    /// Both models on the time-held-out set.
    pub heldout: PairedAccuracy,
    /// Held-out examples only the candidate classified correctly (McNemar's `b`).
    pub candidate_only_correct: u64,
    /// Held-out examples only the champion classified correctly (McNemar's `c`).
    pub champion_only_correct: u64,
    /// Both models on the old-distribution holdout.
    pub old_holdout: PairedAccuracy,
    /// Both models per slice (device model, firmware, intent, ...), by slice name.
    pub slices: BTreeMap<String, PairedAccuracy>,
    /// Candidate artifact size in bytes.
    pub candidate_size_bytes: u64,
    /// Candidate mean per-prediction latency in microseconds.
    pub candidate_latency_us: f64,
    /// What the evaluation cost (absent in logs written before costs were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent: Option<ledgerloop_events::catalogue::Cost>,
}

impl EvaluationReport {
    /// Refuses numbers no real measurement can produce.
    pub fn validate(&self) -> Result<()> {
        check_set("heldout", &self.heldout, true)?;
        check_set("old_holdout", &self.old_holdout, true)?;
        for (name, slice) in &self.slices {
            check_set(name, slice, false)?;
        }
        let discordant = self
            .candidate_only_correct
            .saturating_add(self.champion_only_correct);
        if discordant > self.heldout.samples {
            return Err(bad_input(format!(
                "{discordant} discordant pairs exceed {} held-out samples",
                self.heldout.samples
            )));
        }
        let latency = self.candidate_latency_us;
        if !(latency.is_finite() && latency >= 0.0) {
            return Err(bad_input(format!("candidate_latency_us = {latency}")));
        }
        Ok(())
    }
}

fn check_set(name: &str, set: &PairedAccuracy, needs_samples: bool) -> Result<()> {
    for (which, acc) in [
        ("candidate", set.candidate_accuracy),
        ("champion", set.champion_accuracy),
    ] {
        if !(0.0..=1.0).contains(&acc) {
            return Err(bad_input(format!(
                "{name}: {which} accuracy {acc} outside [0, 1]"
            )));
        }
    }
    if needs_samples && set.samples == 0 {
        return Err(bad_input(format!("{name}: no samples")));
    }
    Ok(())
}

fn bad_input(reason: String) -> Error {
    Error::InvalidInput {
        component: COMPONENT,
        reason,
    }
}

/// The Evaluator's fold: the verdicts already issued.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvaluatorState {
    /// Candidate model id -> its latest verdict, `blessed` or `rejected`.
    pub verdicts: BTreeMap<String, String>,
    /// Candidate model id -> the champions it was judged against. A candidate gets one
    /// verdict per champion: judged again after the champion changed, it gets a new one.
    #[serde(default)]
    pub judged_against: BTreeMap<String, BTreeSet<String>>,
}

impl EvaluatorState {
    /// Whether `candidate` already has a verdict against `champion`. A state folded
    /// before `judged_against` existed knows only that some verdict was issued, and
    /// counts it as this one, as the Evaluator did then.
    pub fn has_verdict(&self, candidate: &str, champion: &str) -> bool {
        match self.judged_against.get(candidate) {
            Some(champions) => champions.contains(champion),
            None => self.verdicts.contains_key(candidate),
        }
    }
}

/// The Evaluator decider: a validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluator {
    policy: EvaluatorPolicy,
}

impl Evaluator {
    /// Builds the decider, refusing an invalid policy.
    pub fn new(policy: EvaluatorPolicy) -> Result<Self> {
        policy.validate()?;
        Ok(Evaluator { policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> &EvaluatorPolicy {
        &self.policy
    }
}

impl Decider for Evaluator {
    type State = EvaluatorState;
    type Input = EvaluationReport;

    fn decide(&self, state: &EvaluatorState, report: &EvaluationReport) -> Result<Vec<Event>> {
        if state.has_verdict(&report.candidate_model_id, &report.champion_model_id) {
            return Ok(Vec::new());
        }
        report.validate()?;
        let outcomes = gates::run_all(&self.policy, report);
        let failed_gates: Vec<String> = outcomes
            .iter()
            .filter(|g| !g.passed)
            .map(|g| g.name.to_string())
            .collect();
        let blessed = failed_gates.is_empty();
        let mut evidence = Evidence::new()
            .with("verdict.blessed", gates::flag(blessed))
            .with("verdict.failed_gates", failed_gates.len() as f64);
        for outcome in outcomes {
            evidence.0.extend(outcome.evidence);
        }
        Ok(vec![Event::VerdictIssued(VerdictIssued {
            candidate_model_id: report.candidate_model_id.clone(),
            champion_model_id: Some(report.champion_model_id.clone()),
            verdict: if blessed { BLESSED } else { REJECTED }.to_string(),
            failed_gates,
            evidence,
            rule: self.policy.rule(),
        })])
    }

    fn evolve(state: &mut EvaluatorState, event: &Event) {
        if let Event::VerdictIssued(v) = event {
            state
                .verdicts
                .insert(v.candidate_model_id.clone(), v.verdict.clone());
            let champions = state
                .judged_against
                .entry(v.candidate_model_id.clone())
                .or_default();
            champions.insert(v.champion_model_id.clone().unwrap_or_default());
        }
    }
}

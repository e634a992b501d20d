//! The Evaluator's gates: each turns the report into a pass/fail and the named numbers
//! that justify it.
//!
//! Evidence keys follow one scheme so that `explain` can print any gate the same way:
//! `gate.<name>.<quantity>` for the gate's observed values and thresholds and
//! `gate.<name>.passed` (1 = passed, 0 = failed); slice details are
//! `slice.<slice name>.<quantity>`. Gates run in a fixed order (held-out, significance,
//! forgetting, slices, size, latency), which is also the order of `failed_gates`.

use std::collections::BTreeMap;

use super::mcnemar::mcnemar;
use super::{EvaluationReport, EvaluatorPolicy, PairedAccuracy, SignificanceRequirement};

/// Accuracy in [0, 1] times this is percentage points.
const POINTS_PER_UNIT: f64 = 100.0;

/// One gate's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct GateOutcome {
    /// The gate's name, as listed in `failed_gates`.
    pub name: &'static str,
    /// Whether the candidate passed.
    pub passed: bool,
    /// The gate's observed values, thresholds and outcome, keyed as described above.
    pub evidence: BTreeMap<String, f64>,
}

impl GateOutcome {
    fn new(name: &'static str, passed: bool) -> Self {
        let mut evidence = BTreeMap::new();
        evidence.insert(format!("gate.{name}.passed"), flag(passed));
        GateOutcome {
            name,
            passed,
            evidence,
        }
    }

    fn with(mut self, quantity: &str, value: f64) -> Self {
        self.evidence
            .insert(format!("gate.{}.{quantity}", self.name), value);
        self
    }
}

/// 1.0 for true, 0.0 for false: how evidence records a yes/no.
pub fn flag(value: bool) -> f64 {
    if value {
        1.0
    } else {
        0.0
    }
}

/// Runs every gate in order.
pub fn run_all(policy: &EvaluatorPolicy, report: &EvaluationReport) -> Vec<GateOutcome> {
    vec![
        heldout(policy, &report.heldout),
        significance(policy, report),
        forgetting(policy, &report.old_holdout),
        slices(policy, &report.slices),
        size(policy, report.candidate_size_bytes),
        latency(policy, report.candidate_latency_us),
    ]
}

/// Candidate-minus-champion accuracy in points.
fn delta_points(set: &PairedAccuracy) -> f64 {
    (set.candidate_accuracy - set.champion_accuracy) * POINTS_PER_UNIT
}

/// Held-out gate: the accuracy change must reach `heldout_min_delta_points`.
pub fn heldout(policy: &EvaluatorPolicy, set: &PairedAccuracy) -> GateOutcome {
    let delta = delta_points(set);
    let threshold = policy.heldout_min_delta_points;
    GateOutcome::new("heldout", delta >= threshold)
        .with("candidate_accuracy", set.candidate_accuracy)
        .with("champion_accuracy", set.champion_accuracy)
        .with("samples", set.samples as f64)
        .with("delta_points", delta)
        .with("threshold_points", threshold)
}

/// Significance gate: McNemar's test on the held-out discordant pairs.
///
/// The two-sided p-value says whether the models differ at all; the direction comes
/// from which discordant count is larger.
pub fn significance(policy: &EvaluatorPolicy, report: &EvaluationReport) -> GateOutcome {
    let b = report.candidate_only_correct;
    let c = report.champion_only_correct;
    let result = mcnemar(b, c, policy.significance_test);
    let significant = result.p_value < policy.significance_alpha;
    let passed = match policy.significance_requirement {
        SignificanceRequirement::NotWorse => !(significant && c > b),
        SignificanceRequirement::Better => significant && b > c,
    };
    GateOutcome::new("significance", passed)
        .with("candidate_only_correct", b as f64)
        .with("champion_only_correct", c as f64)
        .with("statistic", result.statistic)
        .with("p_value", result.p_value)
        .with("alpha", policy.significance_alpha)
}

/// Forgetting gate: the drop on the old-distribution holdout must stay within bounds.
pub fn forgetting(policy: &EvaluatorPolicy, set: &PairedAccuracy) -> GateOutcome {
    let drop = -delta_points(set);
    let threshold = policy.forgetting_max_drop_points;
    GateOutcome::new("forgetting", drop <= threshold)
        .with("candidate_accuracy", set.candidate_accuracy)
        .with("champion_accuracy", set.champion_accuracy)
        .with("samples", set.samples as f64)
        .with("drop_points", drop)
        .with("threshold_points", threshold)
}

/// Slice gate: no slice with enough samples may drop more than the threshold.
///
/// Every slice is reported (`slice.<name>.drop_points`, `.samples`, `.gated`) so that an
/// ignored small slice with a large drop is still visible to a reader of the verdict.
/// `worst_drop_points` is the largest drop among gated slices (negative when every gated
/// slice improved) and 0 when no slice has enough samples to be gated.
pub fn slices(policy: &EvaluatorPolicy, slices: &BTreeMap<String, PairedAccuracy>) -> GateOutcome {
    let threshold = policy.slice_max_drop_points;
    let mut worst: Option<f64> = None;
    let mut gated = 0_u64;
    let mut per_slice = BTreeMap::new();
    for (name, set) in slices {
        let drop = -delta_points(set);
        let is_gated = set.samples >= policy.slice_min_samples;
        if is_gated {
            gated += 1;
            worst = Some(worst.map_or(drop, |w: f64| w.max(drop)));
        }
        per_slice.insert(format!("slice.{name}.drop_points"), drop);
        per_slice.insert(format!("slice.{name}.samples"), set.samples as f64);
        per_slice.insert(format!("slice.{name}.gated"), flag(is_gated));
    }
    let ignored = slices.len() as u64 - gated;
    let worst = worst.unwrap_or(0.0);
    let mut outcome = GateOutcome::new("slices", worst <= threshold)
        .with("worst_drop_points", worst)
        .with("threshold_points", threshold)
        .with("min_samples", policy.slice_min_samples as f64)
        .with("gated", gated as f64)
        .with("ignored", ignored as f64);
    outcome.evidence.extend(per_slice);
    outcome
}

/// Size gate: the artifact must fit the edge device, when the policy sets a limit.
pub fn size(policy: &EvaluatorPolicy, bytes: u64) -> GateOutcome {
    let passed = policy.max_size_bytes.is_none_or(|max| bytes <= max);
    let outcome = GateOutcome::new("size", passed)
        .with("observed_bytes", bytes as f64)
        .with("applied", flag(policy.max_size_bytes.is_some()));
    match policy.max_size_bytes {
        Some(max) => outcome.with("threshold_bytes", max as f64),
        None => outcome,
    }
}

/// Latency gate: the candidate must answer fast enough, when the policy sets a limit.
pub fn latency(policy: &EvaluatorPolicy, latency_us: f64) -> GateOutcome {
    let passed = policy.max_latency_us.is_none_or(|max| latency_us <= max);
    let outcome = GateOutcome::new("latency", passed)
        .with("observed_us", latency_us)
        .with("applied", flag(policy.max_latency_us.is_some()));
    match policy.max_latency_us {
        Some(max) => outcome.with("threshold_us", max),
        None => outcome,
    }
}

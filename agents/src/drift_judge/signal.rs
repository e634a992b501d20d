//! Signals: one number per watched quantity (a feature's test, the error stream, the
//! confidence), normalised so that 1 is the alarm threshold, with the evidence behind it.
//!
//! Normalised scores make severities comparable across kinds: a distance test scores
//! `distance / threshold`, a p-value test `ln p / ln threshold` (1 at the threshold, 2 at
//! its square), concept drift `error-rate increase / error_increase_unit` and the
//! performance estimate `confidence drop / confidence_drop_threshold`.

use ledgerloop_events::catalogue::{Evidence, Rule};

use super::policy::DriftJudgePolicy;
use super::state::{DriftJudgeState, Sample};
use crate::drift::data_drift::{feature_drift, Column, DriftTest};
use crate::drift::ks::ks_2samp;
use crate::drift::DriftDetector;

/// Cap of a normalised score, so a p-value of zero still gives a finite number.
pub const MAX_SCORE: f64 = 100.0;

/// One watched quantity after an input.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// `data`, `concept` or `performance`.
    pub kind: &'static str,
    /// Test or detector name (`ks`, `wasserstein`, `adwin`, `cbpe`, ...).
    pub detector: String,
    /// The feature, for data drift.
    pub feature: Option<String>,
    /// Normalised score; 1 is the threshold.
    pub score: f64,
    /// Whether the signal crossed its threshold on this input.
    pub fired: bool,
    /// The numbers behind it (all finite).
    pub evidence: Evidence,
    /// The rule that judged it.
    pub rule: Rule,
    /// For data drift: features drifted and features tested in the round.
    pub drifted_share: Option<(usize, usize)>,
}

impl Signal {
    /// The hysteresis key: `concept`, `performance` or `data:<feature>`.
    pub fn key(&self) -> String {
        signal_key(self.kind, self.feature.as_deref())
    }
}

/// The hysteresis key of a kind and feature.
pub fn signal_key(kind: &str, feature: Option<&str>) -> String {
    match feature {
        Some(f) => format!("{kind}:{f}"),
        None => kind.to_owned(),
    }
}

/// Adds `value` under `name` when it is finite: evidence never holds NaN or infinities.
pub fn with_finite(evidence: Evidence, name: &str, value: f64) -> Evidence {
    if value.is_finite() {
        evidence.with(name, value)
    } else {
        evidence
    }
}

fn test_name(test: DriftTest) -> &'static str {
    match test {
        DriftTest::Ks => "ks",
        DriftTest::Wasserstein => "wasserstein",
        DriftTest::Chisquare => "chi2",
        DriftTest::Jensenshannon => "jensen_shannon",
        DriftTest::Z => "z_test",
    }
}

/// The concept signal after an error stream; `flag` is the outcome index at which the
/// detector flagged drift (if it did) with the detector's evidence then.
pub fn concept_signal(
    policy: &DriftJudgePolicy,
    state: &DriftJudgeState,
    flag: Option<(u64, Evidence)>,
) -> Signal {
    let t = &state.errors;
    let (baseline, recent) = (t.baseline_rate(), t.recent_rate());
    let score = match (baseline, recent) {
        (Some(b), Some(r)) => ((r - b) / policy.error_increase_unit).min(MAX_SCORE),
        _ => 0.0,
    };
    let fired = flag.is_some();
    let (at, mut evidence) = flag.unwrap_or_default();
    evidence = evidence
        .with("score", score)
        .with("outcomes_seen", t.seen as f64)
        .with("recent_window", t.recent.len() as f64);
    evidence = with_finite(
        evidence,
        "baseline_error_rate",
        baseline.unwrap_or(f64::NAN),
    );
    evidence = with_finite(evidence, "recent_error_rate", recent.unwrap_or(f64::NAN));
    if fired {
        evidence = evidence.with("flagged_at_outcome", at as f64);
    }
    let mut rule = Rule::new(policy.rule_name("concept"))
        .with("detector", policy.detector.name())
        .with("error_increase_unit", policy.error_increase_unit);
    if let Some(d) = &state.detector {
        for p in d.describe().params {
            rule = rule.with(p.name, serde_json::to_value(&p.value).unwrap_or_default());
        }
    }
    Signal {
        kind: "concept",
        detector: policy.detector.name().to_owned(),
        feature: None,
        score,
        fired,
        evidence,
        rule,
        drifted_share: None,
    }
}

/// One data-drift round: every feature of the current window against the reference.
/// Features whose samples cannot be tested (empty, non-finite) are skipped. A feature
/// fires only when at least `min_drifted_features` drifted in the round.
pub fn data_signals(
    policy: &DriftJudgePolicy,
    reference: &Sample,
    current: &Sample,
) -> Vec<Signal> {
    let mut out: Vec<Signal> = current
        .values
        .iter()
        .filter_map(|(name, cur)| {
            let reference_values = reference.values.get(name)?;
            feature_signal(policy, name, reference_values, cur)
        })
        .collect();
    let (drifted, tested) = (out.iter().filter(|s| s.fired).count(), out.len());
    for s in &mut out {
        s.fired &= drifted >= policy.min_drifted_features;
        s.drifted_share = Some((drifted, tested));
        s.evidence = s
            .evidence
            .clone()
            .with("features_drifted", drifted as f64)
            .with("features_tested", tested as f64);
    }
    out
}

/// One feature's test, chosen as Evidently does, judged with the policy's thresholds.
fn feature_signal(
    policy: &DriftJudgePolicy,
    name: &str,
    reference: &[f64],
    current: &[f64],
) -> Option<Signal> {
    let v = feature_drift(Column::Numeric(reference), Column::Numeric(current)).ok()?;
    let pvalue = v.test.is_pvalue();
    let threshold = if pvalue {
        policy.pvalue_threshold
    } else {
        policy.distance_threshold
    };
    let score = match (pvalue, v.score > 0.0) {
        (true, true) => v.score.ln() / threshold.ln(),
        (true, false) => MAX_SCORE,
        (false, _) => v.score / threshold,
    }
    .clamp(0.0, MAX_SCORE);
    let mut evidence = Evidence::new()
        .with("threshold", threshold)
        .with("score", score)
        .with("reference_size", v.reference_size as f64)
        .with("current_size", v.current_size as f64)
        .with("n_unique", v.n_unique as f64);
    evidence = with_finite(evidence, "psi", v.psi);
    evidence = with_finite(
        evidence,
        if pvalue { "p_value" } else { "statistic" },
        v.score,
    );
    // The chosen test reports KS's p-value only; its D statistic is worth recording too.
    if v.test == DriftTest::Ks {
        if let Ok(ks) = ks_2samp(reference, current) {
            evidence = with_finite(evidence, "statistic", ks.statistic);
        }
    }
    let rule = Rule::new(policy.rule_name("data"))
        .with("test", test_name(v.test))
        .with("threshold", threshold)
        .with("min_drifted_features", policy.min_drifted_features as u64)
        .with("reference_size", policy.reference_size as u64)
        .with("current_window", policy.current_window as u64);
    Some(Signal {
        kind: "data",
        detector: test_name(v.test).to_owned(),
        feature: Some(name.to_owned()),
        score,
        fired: v.test.drifted(v.score, threshold),
        evidence,
        rule,
        drifted_share: None,
    })
}

/// The label-free performance estimate (CBPE's idea): with calibrated probabilities the
/// expected accuracy is the mean top-class probability, so its drop from the reference
/// estimates the accuracy lost before any label arrives.
pub fn performance_signal(
    policy: &DriftJudgePolicy,
    reference: &Sample,
    current: &Sample,
) -> Option<Signal> {
    let (r, c) = (reference.confidence()?, current.confidence()?);
    let drop = r - c;
    let score = (drop / policy.confidence_drop_threshold).min(MAX_SCORE);
    let evidence = Evidence::new()
        .with("reference_expected_accuracy", r)
        .with("current_expected_accuracy", c)
        .with("statistic", drop)
        .with("threshold", policy.confidence_drop_threshold)
        .with("score", score)
        .with("reference_rows", reference.confidence_rows as f64)
        .with("current_rows", current.confidence_rows as f64);
    let rule = Rule::new(policy.rule_name("performance"))
        .with("threshold", policy.confidence_drop_threshold);
    Some(Signal {
        kind: "performance",
        detector: "cbpe".to_owned(),
        feature: None,
        score,
        fired: score >= 1.0,
        evidence,
        rule,
        drifted_share: None,
    })
}

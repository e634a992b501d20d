//! Given-events / when-report / then-verdict tests of the Evaluator.

use std::collections::BTreeMap;

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::evaluator::{
    mcnemar, EvaluationReport, Evaluator, EvaluatorPolicy, EvaluatorState, McNemarTest,
    PairedAccuracy, SignificanceRequirement,
};
use ledgerloop_events::catalogue::VerdictIssued;
use ledgerloop_events::{Event, Evidence};

fn set(candidate: f64, champion: f64, samples: u64) -> PairedAccuracy {
    PairedAccuracy {
        candidate_accuracy: candidate,
        champion_accuracy: champion,
        samples,
    }
}

/// A report every default gate passes; numbers are exact in binary so that evidence can
/// be compared exactly. Held-out: +12.5 points from 150 wins and 25 losses of 1000.
fn good_report() -> EvaluationReport {
    let mut slices = BTreeMap::new();
    slices.insert("fw-1".to_string(), set(0.875, 0.8125, 200));
    slices.insert("fw-2".to_string(), set(0.5, 0.625, 10));
    EvaluationReport {
        candidate_model_id: "cand-1".into(),
        champion_model_id: "champ-0".into(),
        heldout: set(0.875, 0.75, 1000),
        candidate_only_correct: 150,
        champion_only_correct: 25,
        old_holdout: set(0.75, 0.765625, 400),
        slices,
        candidate_size_bytes: 1000,
        candidate_latency_us: 250.0,
        spent: None,
    }
}

fn verdict_of(
    policy: EvaluatorPolicy,
    given: &[Event],
    report: &EvaluationReport,
) -> VerdictIssued {
    let evaluator = Evaluator::new(policy).expect("valid policy");
    let state: EvaluatorState = fold::<Evaluator>(given);
    let events = evaluator.decide(&state, report).expect("decides");
    assert_eq!(events.len(), 1, "one verdict per report");
    match events.into_iter().next() {
        Some(Event::VerdictIssued(v)) => v,
        other => panic!("expected a verdict, got {other:?}"),
    }
}

fn ev(v: &VerdictIssued, key: &str) -> f64 {
    v.evidence
        .get(key)
        .unwrap_or_else(|| panic!("evidence lacks {key}"))
}

/// A report passing every gate is blessed, and the verdict names every gate with its
/// observed values, thresholds and outcome, plus every policy parameter in the rule.
#[test]
fn all_gates_pass_blesses_with_full_evidence() {
    let policy = EvaluatorPolicy::default();
    let verdict = verdict_of(policy.clone(), &[], &good_report());
    let p = mcnemar(150, 25, McNemarTest::Exact).p_value;
    let evidence = Evidence::new()
        .with("verdict.blessed", 1.0)
        .with("verdict.failed_gates", 0.0)
        .with("gate.heldout.passed", 1.0)
        .with("gate.heldout.candidate_accuracy", 0.875)
        .with("gate.heldout.champion_accuracy", 0.75)
        .with("gate.heldout.samples", 1000.0)
        .with("gate.heldout.delta_points", 12.5)
        .with("gate.heldout.threshold_points", 0.0)
        .with("gate.significance.passed", 1.0)
        .with("gate.significance.candidate_only_correct", 150.0)
        .with("gate.significance.champion_only_correct", 25.0)
        .with("gate.significance.statistic", 25.0)
        .with("gate.significance.p_value", p)
        .with("gate.significance.alpha", 0.05)
        .with("gate.forgetting.passed", 1.0)
        .with("gate.forgetting.candidate_accuracy", 0.75)
        .with("gate.forgetting.champion_accuracy", 0.765625)
        .with("gate.forgetting.samples", 400.0)
        .with("gate.forgetting.drop_points", 1.5625)
        .with("gate.forgetting.threshold_points", 2.0)
        .with("gate.slices.passed", 1.0)
        .with("gate.slices.worst_drop_points", -6.25)
        .with("gate.slices.threshold_points", 5.0)
        .with("gate.slices.min_samples", 50.0)
        .with("gate.slices.gated", 1.0)
        .with("gate.slices.ignored", 1.0)
        .with("slice.fw-1.drop_points", -6.25)
        .with("slice.fw-1.samples", 200.0)
        .with("slice.fw-1.gated", 1.0)
        .with("slice.fw-2.drop_points", 12.5)
        .with("slice.fw-2.samples", 10.0)
        .with("slice.fw-2.gated", 0.0)
        .with("gate.size.passed", 1.0)
        .with("gate.size.observed_bytes", 1000.0)
        .with("gate.size.applied", 0.0)
        .with("gate.latency.passed", 1.0)
        .with("gate.latency.observed_us", 250.0)
        .with("gate.latency.applied", 0.0);
    let expected = VerdictIssued {
        candidate_model_id: "cand-1".into(),
        champion_model_id: Some("champ-0".into()),
        verdict: "blessed".into(),
        failed_gates: vec![],
        evidence,
        rule: policy.rule(),
    };
    assert_eq!(verdict, expected);
    assert!(
        p > 0.0 && p < 1e-20,
        "a 150:25 split is overwhelmingly significant"
    );
    let params = &verdict.rule.params;
    for key in [
        "heldout_min_delta_points",
        "significance_test",
        "significance_alpha",
        "significance_requirement",
        "forgetting_max_drop_points",
        "slice_max_drop_points",
        "slice_min_samples",
        "max_size_bytes",
        "max_latency_us",
    ] {
        assert!(params.contains_key(key), "rule lacks parameter {key}");
    }
    assert_eq!(verdict.rule.policy, "evaluator.gates.v1");
}

/// A candidate below the held-out minimum change is rejected by the `heldout` gate.
#[test]
fn heldout_gate_fails_below_min_delta() {
    let policy = EvaluatorPolicy {
        heldout_min_delta_points: 15.0,
        ..EvaluatorPolicy::default()
    };
    let v = verdict_of(policy, &[], &good_report());
    assert_eq!(v.verdict, "rejected");
    assert_eq!(v.failed_gates, vec!["heldout".to_string()]);
    assert_eq!(ev(&v, "gate.heldout.passed"), 0.0);
    assert_eq!(ev(&v, "gate.heldout.threshold_points"), 15.0);
    assert_eq!(ev(&v, "verdict.failed_gates"), 1.0);
}

/// A negative minimum change admits a bounded, statistically insignificant regression.
#[test]
fn heldout_gate_allows_bounded_regression() {
    let policy = EvaluatorPolicy {
        heldout_min_delta_points: -1.0,
        ..EvaluatorPolicy::default()
    };
    let report = EvaluationReport {
        heldout: set(0.75, 0.755, 1000),
        candidate_only_correct: 20,
        champion_only_correct: 25,
        ..good_report()
    };
    let v = verdict_of(policy.clone(), &[], &report);
    assert_eq!(v.verdict, "blessed", "{:?}", v.failed_gates);
    let worse = EvaluationReport {
        heldout: set(0.75, 0.7625, 1000),
        ..report
    };
    let v = verdict_of(policy, &[], &worse);
    assert_eq!(v.failed_gates, vec!["heldout".to_string()]);
}

/// Under `not_worse`, a significantly worse candidate fails the `significance` gate even
/// when the held-out change is within the allowed regression.
#[test]
fn significance_not_worse_fails_significant_regression() {
    let policy = EvaluatorPolicy {
        heldout_min_delta_points: -5.0,
        ..EvaluatorPolicy::default()
    };
    let report = EvaluationReport {
        heldout: set(0.72, 0.75, 1000),
        candidate_only_correct: 10,
        champion_only_correct: 40,
        ..good_report()
    };
    let v = verdict_of(policy, &[], &report);
    assert_eq!(v.failed_gates, vec!["significance".to_string()]);
    let p = ev(&v, "gate.significance.p_value");
    assert!(p < 0.05, "10 vs 40 is significant: p = {p}");
    assert_eq!(ev(&v, "gate.significance.statistic"), 10.0);
}

/// Under `better`, a tie fails and a significant improvement passes.
#[test]
fn significance_better_requires_significant_improvement() {
    let policy = EvaluatorPolicy {
        significance_requirement: SignificanceRequirement::Better,
        significance_test: McNemarTest::ChiSquare,
        ..EvaluatorPolicy::default()
    };
    let tie = EvaluationReport {
        heldout: set(0.752, 0.75, 1000),
        candidate_only_correct: 12,
        champion_only_correct: 10,
        ..good_report()
    };
    let v = verdict_of(policy.clone(), &[], &tie);
    assert_eq!(v.failed_gates, vec!["significance".to_string()]);
    let v = verdict_of(policy, &[], &good_report());
    assert_eq!(v.verdict, "blessed");
    assert_eq!(ev(&v, "gate.significance.statistic"), 124.0 * 124.0 / 175.0);
}

/// A drop on the old-distribution holdout beyond the limit fails the `forgetting` gate.
#[test]
fn forgetting_gate_fails_on_large_drop() {
    let report = EvaluationReport {
        old_holdout: set(0.75, 0.8125, 400),
        ..good_report()
    };
    let v = verdict_of(EvaluatorPolicy::default(), &[], &report);
    assert_eq!(v.failed_gates, vec!["forgetting".to_string()]);
    assert_eq!(ev(&v, "gate.forgetting.drop_points"), 6.25);
    assert_eq!(ev(&v, "gate.forgetting.threshold_points"), 2.0);
}

/// A gated slice dropping more than the limit fails the `slices` gate, reporting the
/// worst drop.
#[test]
fn slice_gate_fails_on_large_slice_drop() {
    let mut report = good_report();
    report
        .slices
        .insert("intent-new".into(), set(0.625, 0.75, 80));
    let v = verdict_of(EvaluatorPolicy::default(), &[], &report);
    assert_eq!(v.failed_gates, vec!["slices".to_string()]);
    assert_eq!(ev(&v, "gate.slices.worst_drop_points"), 12.5);
    assert_eq!(ev(&v, "slice.intent-new.gated"), 1.0);
    assert_eq!(ev(&v, "gate.slices.gated"), 2.0);
}

/// Slices with fewer samples than the minimum are reported but never fail the gate.
#[test]
fn slice_gate_ignores_small_slices() {
    let policy = EvaluatorPolicy {
        slice_min_samples: 300,
        ..EvaluatorPolicy::default()
    };
    let mut report = good_report();
    report.slices.insert("tiny".into(), set(0.0, 1.0, 299));
    let v = verdict_of(policy, &[], &report);
    assert_eq!(v.verdict, "blessed");
    assert_eq!(ev(&v, "slice.tiny.drop_points"), 100.0);
    assert_eq!(ev(&v, "gate.slices.ignored"), 3.0);
    assert_eq!(ev(&v, "gate.slices.worst_drop_points"), 0.0);
}

/// The size gate passes at the limit and fails one byte above it.
#[test]
fn size_gate_pass_and_fail() {
    let policy = EvaluatorPolicy {
        max_size_bytes: Some(1000),
        ..EvaluatorPolicy::default()
    };
    let v = verdict_of(policy.clone(), &[], &good_report());
    assert_eq!(v.verdict, "blessed");
    assert_eq!(ev(&v, "gate.size.threshold_bytes"), 1000.0);
    assert_eq!(ev(&v, "gate.size.applied"), 1.0);
    let big = EvaluationReport {
        candidate_size_bytes: 1001,
        ..good_report()
    };
    let v = verdict_of(policy, &[], &big);
    assert_eq!(v.failed_gates, vec!["size".to_string()]);
}

/// The latency gate fails above the limit and passes below it.
#[test]
fn latency_gate_pass_and_fail() {
    let policy = EvaluatorPolicy {
        max_latency_us: Some(200.0),
        ..EvaluatorPolicy::default()
    };
    let v = verdict_of(policy.clone(), &[], &good_report());
    assert_eq!(v.failed_gates, vec!["latency".to_string()]);
    assert_eq!(ev(&v, "gate.latency.threshold_us"), 200.0);
    let fast = EvaluationReport {
        candidate_latency_us: 199.5,
        ..good_report()
    };
    assert_eq!(verdict_of(policy, &[], &fast).verdict, "blessed");
}

/// Several failing gates are all named, in gate order.
#[test]
fn every_failing_gate_is_named_in_order() {
    let policy = EvaluatorPolicy {
        max_size_bytes: Some(10),
        ..EvaluatorPolicy::default()
    };
    let report = EvaluationReport {
        heldout: set(0.70, 0.75, 1000),
        candidate_only_correct: 10,
        champion_only_correct: 60,
        old_holdout: set(0.5, 0.75, 400),
        ..good_report()
    };
    let v = verdict_of(policy, &[], &report);
    assert_eq!(
        v.failed_gates,
        vec!["heldout", "significance", "forgetting", "size"]
    );
    assert_eq!(ev(&v, "verdict.blessed"), 0.0);
}

//! McNemar against reference values, refusals of bad reports and policies, and replay
//! determinism of the Evaluator.

use std::collections::BTreeMap;

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::evaluator::{
    mcnemar, EvaluationReport, Evaluator, EvaluatorPolicy, EvaluatorState, McNemarTest,
    PairedAccuracy,
};
use ledgerloop_agents::Error;
use ledgerloop_events::Event;
use serde_json::Value;

/// Relative tolerance against the exact (fraction-based) reference values.
const REL_TOL: f64 = 1e-9;

fn set(candidate: f64, champion: f64, samples: u64) -> PairedAccuracy {
    PairedAccuracy {
        candidate_accuracy: candidate,
        champion_accuracy: champion,
        samples,
    }
}

fn report(id: &str) -> EvaluationReport {
    EvaluationReport {
        candidate_model_id: id.into(),
        champion_model_id: "champ-0".into(),
        heldout: set(0.875, 0.75, 1000),
        candidate_only_correct: 150,
        champion_only_correct: 25,
        old_holdout: set(0.75, 0.75, 400),
        slices: BTreeMap::new(),
        candidate_size_bytes: 1000,
        candidate_latency_us: 250.0,
        spent: None,
    }
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= REL_TOL * expected.abs().max(1e-300)
}

/// Both McNemar forms match the reference values written by make_mcnemar_fixture.py
/// (exact binomial sums and erfc), across small and large discordant counts.
#[test]
fn mcnemar_matches_reference_fixture() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mcnemar_reference.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture present");
    let doc: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 10);
    let mut chi2_checked = 0;
    for case in cases {
        let b = case["b"].as_u64().expect("b");
        let c = case["c"].as_u64().expect("c");
        let exact = mcnemar(b, c, McNemarTest::Exact);
        let want = case["exact_p"].as_f64().expect("exact_p");
        assert!(
            close(exact.p_value, want),
            "exact b={b} c={c}: {} vs {want}",
            exact.p_value
        );
        assert_eq!(
            exact.statistic,
            case["exact_statistic"].as_f64().expect("stat")
        );
        if let Some(want) = case.get("chi2_p").and_then(Value::as_f64) {
            let chi = mcnemar(b, c, McNemarTest::ChiSquare);
            let stat = case["chi2_statistic"].as_f64().expect("chi2 stat");
            assert!(
                close(chi.statistic, stat) || chi.statistic == stat,
                "chi2 stat b={b} c={c}"
            );
            assert!(
                close(chi.p_value, want),
                "chi2 b={b} c={c}: {} vs {want}",
                chi.p_value
            );
            chi2_checked += 1;
        }
    }
    assert!(chi2_checked >= 10);
}

/// Reports with impossible numbers are refused with a typed error, not judged.
#[test]
fn impossible_reports_are_refused() {
    let evaluator = Evaluator::new(EvaluatorPolicy::default()).expect("valid");
    let state = EvaluatorState::default();
    let mut nan = report("c1");
    nan.heldout.candidate_accuracy = f64::NAN;
    let mut discordant = report("c2");
    discordant.champion_only_correct = 900;
    let mut empty = report("c3");
    empty.old_holdout.samples = 0;
    let mut slice = report("c4");
    slice.slices.insert("s".into(), set(1.5, 0.5, 100));
    let mut latency = report("c5");
    latency.candidate_latency_us = f64::INFINITY;
    for bad in [nan, discordant, empty, slice, latency] {
        let result = evaluator.decide(&state, &bad);
        assert!(
            matches!(result, Err(Error::InvalidInput { .. })),
            "{}: {result:?}",
            bad.candidate_model_id
        );
    }
}

/// Policies with impossible thresholds or unknown keys are rejected before any run.
#[test]
fn invalid_policies_are_rejected() {
    let bad = [
        EvaluatorPolicy {
            significance_alpha: 0.0,
            ..Default::default()
        },
        EvaluatorPolicy {
            significance_alpha: 1.0,
            ..Default::default()
        },
        EvaluatorPolicy {
            forgetting_max_drop_points: -1.0,
            ..Default::default()
        },
        EvaluatorPolicy {
            slice_max_drop_points: f64::NAN,
            ..Default::default()
        },
        EvaluatorPolicy {
            heldout_min_delta_points: 101.0,
            ..Default::default()
        },
        EvaluatorPolicy {
            max_latency_us: Some(0.0),
            ..Default::default()
        },
    ];
    for policy in bad {
        assert!(
            matches!(
                Evaluator::new(policy.clone()),
                Err(Error::InvalidParameter { .. })
            ),
            "{policy:?} was accepted"
        );
    }
    let unknown = serde_json::from_str::<EvaluatorPolicy>(r#"{"heldout_min_delta": 1.0}"#);
    assert!(unknown.is_err(), "unknown key accepted");
    let partial: EvaluatorPolicy =
        serde_json::from_str(r#"{"significance_test": "chi_square", "max_size_bytes": 4096}"#)
            .expect("partial policy");
    assert_eq!(partial.significance_test, McNemarTest::ChiSquare);
    assert_eq!(partial.max_size_bytes, Some(4096));
    assert_eq!(
        partial.slice_min_samples,
        EvaluatorPolicy::default().slice_min_samples
    );
}

/// Given a verdict already issued for a candidate, a re-delivered report yields nothing.
#[test]
fn judged_candidate_gets_no_second_verdict() {
    let evaluator = Evaluator::new(EvaluatorPolicy::default()).expect("valid");
    let first = evaluator
        .decide(&EvaluatorState::default(), &report("c1"))
        .expect("decides");
    let state = fold::<Evaluator>(&first);
    assert_eq!(
        state.verdicts.get("c1").map(String::as_str),
        Some("blessed")
    );
    assert_eq!(
        evaluator.decide(&state, &report("c1")).expect("decides"),
        vec![]
    );
    assert_eq!(
        evaluator
            .decide(&state, &report("c2"))
            .expect("decides")
            .len(),
        1
    );
}

/// Folding the produced events reproduces the state, re-deciding the recorded reports
/// reproduces the recorded events, and every verdict encodes (finite evidence).
#[test]
fn replay_is_deterministic() {
    let evaluator = Evaluator::new(EvaluatorPolicy::default()).expect("valid");
    let mut reports = vec![report("a"), report("b"), report("a")];
    reports[1].old_holdout = set(0.5, 0.75, 400);
    let mut state = EvaluatorState::default();
    let mut recorded: Vec<Vec<Event>> = Vec::new();
    for r in &reports {
        recorded.push(evaluator.decide_and_evolve(&mut state, r).expect("decides"));
    }
    let log: Vec<Event> = recorded.iter().flatten().cloned().collect();
    assert_eq!(log.len(), 2);
    assert_eq!(fold::<Evaluator>(&log), state);
    let mut replayed = EvaluatorState::default();
    for (r, events) in reports.iter().zip(&recorded) {
        assert_eq!(
            &evaluator
                .decide_and_evolve(&mut replayed, r)
                .expect("decides"),
            events
        );
    }
    for event in &log {
        event.to_payload_json().expect("verdict encodes");
    }
}

/// Judged again against a new champion, a candidate gets a fresh verdict; the same
/// report delivered twice still gets one.
#[test]
fn candidate_judged_against_a_new_champion_gets_a_new_verdict() {
    let evaluator = Evaluator::new(EvaluatorPolicy::default()).expect("valid");
    let first = evaluator
        .decide(&EvaluatorState::default(), &report("c1"))
        .expect("decides");
    let state = fold::<Evaluator>(&first);
    let again = EvaluationReport {
        champion_model_id: "champ-1".into(),
        ..report("c1")
    };
    let second = evaluator.decide(&state, &again).expect("decides");
    let [Event::VerdictIssued(v)] = &second[..] else {
        panic!("expected a verdict, got {second:?}");
    };
    assert_eq!(v.champion_model_id.as_deref(), Some("champ-1"));
    let state = fold::<Evaluator>(&[first, second].concat());
    assert_eq!(evaluator.decide(&state, &again).expect("decides"), vec![]);
    assert!(state.has_verdict("c1", "champ-0") && state.has_verdict("c1", "champ-1"));
}

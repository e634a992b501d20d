//! Given-events / when-input / then-events tests of the DriftJudge.

use ledgerloop_agents::decider::fold;
use ledgerloop_agents::drift_judge::{
    DriftJudge, DriftJudgePolicy, DriftJudgeState, Severity, SmallShiftStrategy,
};
use ledgerloop_events::Event;
use proptest::prelude::*;

#[path = "support/drift_judge_inputs.rs"]
mod inputs;
use inputs::*;

fn count(events: &[Event], name: &str) -> usize {
    events.iter().filter(|e| e.event_type() == name).count()
}

fn notice_reasons(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::DriftNoticed(n) if n.reason != "watch_started" => Some(n.reason.clone()),
            _ => None,
        })
        .collect()
}

/// Feedback at 50 outcomes an hour following `(hours, error rate)` phases.
fn error_phases(seed: u64, phases: &[(u64, f64)]) -> Vec<Event> {
    let mut inputs = vec![baseline()];
    let mut hour = 0;
    for &(hours, rate) in phases {
        for _ in 0..hours {
            inputs.push(feedback(seed, hour, 50, rate));
            hour += 1;
        }
    }
    inputs
}

/// Given `estimate_gain`, when errors jump from 10% to 40%, then the retrain request
/// carries the online error increase in points as its expected gain; without it (the
/// default) the request carries no gain evidence and the watch rule does not name it.
#[test]
fn retrain_request_carries_the_expected_gain() {
    let inputs = error_phases(7, &[(30, 0.1), (15, 0.4)]);
    let with = DriftJudge::new(DriftJudgePolicy {
        estimate_gain: true,
        ..DriftJudgePolicy::default()
    })
    .expect("valid");
    let (_, _, out) = run(&with, &inputs);
    let Some(Event::RetrainRequested(r)) =
        out.iter().find(|e| e.event_type() == "RetrainRequested")
    else {
        panic!("no retrain request: {out:#?}");
    };
    let increase = r
        .evidence
        .get("gain.error_increase_points")
        .expect("increase");
    let expected = (r.evidence.get("recent_error_rate").expect("recent")
        - r.evidence.get("baseline_error_rate").expect("baseline"))
        * 100.0;
    assert!(
        (increase - expected).abs() < 1e-9,
        "{increase} vs {expected}"
    );
    assert!(increase > 5.0, "{increase}");
    assert_eq!(r.evidence.get("gain.points"), Some(increase.max(0.0)));
    let (_, _, plain) = run(
        &DriftJudge::new(DriftJudgePolicy::default()).expect("valid"),
        &inputs,
    );
    for e in &plain {
        if let Event::RetrainRequested(r) = e {
            assert!(r.evidence.get("gain.points").is_none());
        }
        if let Event::DriftNoticed(n) = e {
            assert!(!n.rule.params.contains_key("estimate_gain"));
        }
    }
}

/// Given a champion at 10% errors, when errors jump to 40% and later 70% within the cool-down, then one alarm and only notices after it.
#[test]
fn abrupt_error_change_raises_exactly_one_alarm() {
    let judge = DriftJudge::new(DriftJudgePolicy::default()).expect("valid");
    let (state, _, out) = run(&judge, &error_phases(7, &[(30, 0.1), (15, 0.4), (15, 0.7)]));
    assert_eq!(count(&out, "DriftDetected"), 1, "{out:#?}");
    assert_eq!(count(&out, "RetrainRequested"), 1);
    let Some(Event::DriftDetected(d)) = out.iter().find(|e| e.event_type() == "DriftDetected")
    else {
        unreachable!()
    };
    assert_eq!(
        (
            d.drift_kind.as_str(),
            d.detector.as_str(),
            d.model_id.as_str()
        ),
        ("concept", "adwin", MODEL)
    );
    assert!(d.evidence.0.values().all(|v| v.is_finite()));
    let reasons = notice_reasons(&out);
    assert!(!reasons.is_empty(), "the second change is noticed");
    assert!(
        reasons.iter().all(|r| r == "hysteresis" || r == "cooldown"),
        "{reasons:?}"
    );
    assert_eq!(state.alarms, 1);
}

/// Given an alarm, when errors recover and jump again inside the cool-down, then it is noticed as `cooldown`; with a short cool-down it alarms again.
#[test]
fn cooldown_suppresses_a_second_shift_until_it_expires() {
    let phases = [(20, 0.1), (10, 0.5), (15, 0.1), (15, 0.5)];
    let judge = DriftJudge::new(DriftJudgePolicy::default()).expect("valid");
    let (_, _, out) = run(&judge, &error_phases(11, &phases));
    assert_eq!(count(&out, "DriftDetected"), 1, "{out:#?}");
    assert!(
        notice_reasons(&out).contains(&"cooldown".to_owned()),
        "{:?}",
        notice_reasons(&out)
    );
    let short = DriftJudge::new(DriftJudgePolicy {
        cooldown_hours: 10,
        ..DriftJudgePolicy::default()
    })
    .expect("valid");
    let (_, _, out) = run(&short, &error_phases(11, &phases));
    assert_eq!(
        count(&out, "DriftDetected"),
        2,
        "{:?}",
        notice_reasons(&out)
    );
}

/// Given a champion at 40% errors, when errors fall to 5%, then the detector's flag is noticed as too small to act on.
#[test]
fn falling_error_rate_is_not_acted_on() {
    let judge = DriftJudge::new(DriftJudgePolicy::default()).expect("valid");
    let (_, _, out) = run(&judge, &error_phases(5, &[(20, 0.4), (20, 0.05)]));
    assert_eq!(count(&out, "DriftDetected"), 0, "{out:#?}");
    assert!(notice_reasons(&out).contains(&"below_action_threshold".to_owned()));
}

/// Given a stable seeded world for 60 days, when every hour brings feedback and a batch, then no alarm is raised.
#[test]
fn stable_stream_raises_no_alarm_over_sixty_days() {
    let judge = DriftJudge::new(DriftJudgePolicy::default()).expect("valid");
    let mut inputs = vec![baseline()];
    for hour in 0..60 * 24 {
        inputs.push(feedback(21, hour, 50, 0.1));
        let confidence = 0.9 + 0.01 * (uniform(22, hour) - 0.5);
        inputs.push(batch(
            23,
            hour,
            50,
            &[("rx_power_dbm", 0.0), ("temp_c", 0.0)],
            confidence,
        ));
    }
    let (state, _, out) = run(&judge, &inputs);
    assert_eq!(count(&out, "DriftDetected"), 0, "{out:#?}");
    assert_eq!(
        state.rounds, 58,
        "one data round per day after the reference day"
    );
}

/// Given the mapping, when scores and drifted shares vary, then severities and strategies follow the documented table.
#[test]
fn severity_and_strategy_mapping() {
    let p = DriftJudgePolicy::default();
    let cases = [
        (1.0, None, Severity::Low, "head_only"),
        (2.5, None, Severity::Medium, "fine_tune"),
        (4.0, None, Severity::High, "full"),
        (1.2, Some((2, 3)), Severity::Medium, "fine_tune"),
        (1.2, Some((1, 1)), Severity::Low, "head_only"),
        (3.0, Some((4, 4)), Severity::High, "full"),
    ];
    for (score, share, severity, strategy) in cases {
        assert_eq!(p.severity(score, share), severity, "{score} {share:?}");
        assert_eq!(p.strategy(severity), strategy);
    }
    let lora = DriftJudgePolicy {
        small_shift_strategy: SmallShiftStrategy::Lora,
        ..p
    };
    assert_eq!(lora.strategy(Severity::Low), "lora");
}

/// Given unusable policies, when the judge is built, then each is rejected.
#[test]
fn bad_policies_are_rejected() {
    let d = DriftJudgePolicy::default;
    assert!(DriftJudge::new(DriftJudgePolicy {
        reference_size: 0,
        ..d()
    })
    .is_err());
    assert!(DriftJudge::new(DriftJudgePolicy {
        pvalue_threshold: 1.5,
        ..d()
    })
    .is_err());
    assert!(DriftJudge::new(DriftJudgePolicy {
        rearm_score: 1.0,
        ..d()
    })
    .is_err());
    assert!(DriftJudge::new(DriftJudgePolicy {
        high_score: 1.0,
        ..d()
    })
    .is_err());
    assert!(serde_json::from_str::<DriftJudgePolicy>(r#"{"cooldown": 3}"#).is_err());
    let ddm = serde_json::from_str::<DriftJudgePolicy>(
        r#"{"detector": {"kind": "ddm", "warm_start": 30, "warning_threshold": 2.0, "drift_threshold": 3.0}}"#,
    );
    assert!(DriftJudge::new(ddm.expect("parses")).is_ok());
}

fn mixed_inputs(seed: u64) -> Vec<Event> {
    let mut inputs = vec![baseline()];
    for hour in 0..40 {
        let rate = if hour < 20 { 0.1 } else { 0.45 };
        inputs.push(feedback(seed, hour, 40, rate));
        inputs.push(batch(
            seed,
            hour,
            60,
            &[("x", if hour < 25 { 0.0 } else { 1.5 })],
            0.9,
        ));
    }
    inputs
}

fn small_policy() -> DriftJudgePolicy {
    DriftJudgePolicy {
        reference_hours: 3,
        reference_size: 150,
        window_hours: 3,
        current_window: 120,
        ..DriftJudgePolicy::default()
    }
}

/// Given the same inputs twice, when judged, then the events are identical and folding the log reproduces the state.
#[test]
fn deterministic_and_fold_reproduces_state() {
    let judge = DriftJudge::new(small_policy()).expect("valid");
    let (state, log, out) = run(&judge, &mixed_inputs(1));
    let (_, _, again) = run(&judge, &mixed_inputs(1));
    assert_eq!(out, again);
    assert!(
        count(&out, "DriftDetected") >= 1,
        "the run has something to judge"
    );
    assert_eq!(fold::<DriftJudge>(&log), state);
    assert!(
        out.iter().all(|e| e.to_payload_json().is_ok()),
        "every decision encodes"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Given any split point, when the state is serialised there and restored, then the run continues identically.
    #[test]
    fn snapshot_mid_stream_continues_identically(seed in 0u64..1000, split in 1usize..80) {
        let judge = DriftJudge::new(small_policy()).expect("valid");
        let inputs = mixed_inputs(seed);
        let (_, _, expected) = run(&judge, &inputs);
        let mut state = DriftJudgeState::default();
        let mut out = Vec::new();
        for input in &inputs[..split] {
            out.extend(judge.step(&mut state, input).expect("decides"));
        }
        let json = serde_json::to_string(&state).expect("serialises");
        let mut restored: DriftJudgeState = serde_json::from_str(&json).expect("deserialises");
        prop_assert_eq!(&restored, &state);
        for input in &inputs[split..] {
            out.extend(judge.step(&mut restored, input).expect("decides"));
        }
        prop_assert_eq!(out, expected);
    }
}

/// Given an alarm whose signal stays high (hysteresis), when the candidate it asked for
/// is rejected, then the signals re-arm and the persisting shift alarms again after the
/// cool-down; a blessed verdict, or one about another champion, re-arms nothing.
#[test]
fn rejected_candidate_rearms_a_persisting_shift() {
    use ledgerloop_events::catalogue::VerdictIssued;
    let judge = DriftJudge::new(DriftJudgePolicy {
        cooldown_hours: 10,
        ..DriftJudgePolicy::default()
    })
    .expect("valid");
    let verdict = |verdict: &str, champion: &str| {
        Event::from(VerdictIssued {
            candidate_model_id: "m-candidate".into(),
            champion_model_id: Some(champion.into()),
            verdict: verdict.into(),
            ..Default::default()
        })
    };
    let alarm = error_phases(7, &[(30, 0.1), (15, 0.4)]);
    let (state, _, out) = run(&judge, &alarm);
    assert_eq!(count(&out, "DriftDetected"), 1, "{out:#?}");
    assert!(!state.disarmed.is_empty(), "the alarm disarmed its signal");
    // The shift goes on: errors keep rising, so the detector flags again.
    let persisting = |from: u64| -> Vec<Event> {
        (from..from + 30)
            .map(|h| feedback(7, h, 50, 0.75))
            .collect()
    };
    for (answer, alarms) in [
        (verdict("blessed", MODEL), 0),
        (verdict("rejected", "another-model"), 0),
        (verdict("rejected", MODEL), 1),
    ] {
        let mut inputs = alarm.clone();
        inputs.push(answer.clone());
        inputs.extend(persisting(45));
        let (_, _, out) = run(&judge, &inputs);
        assert_eq!(
            count(&out, "DriftDetected") - 1,
            alarms,
            "after {answer:?}: {:?}",
            notice_reasons(&out)
        );
    }
}

//! Given-events / when-input / then-events tests of the DriftJudge's data-drift and
//! label-free performance signals, and of champion changes.

use ledgerloop_agents::drift_judge::{DriftJudge, DriftJudgePolicy};
use ledgerloop_events::catalogue::ModelPromoted;
use ledgerloop_events::Event;

#[path = "support/drift_judge_inputs.rs"]
mod inputs;
use inputs::*;

fn data_inputs(
    n_per_hour: u64,
    reference_hours: u64,
    stable_hours: u64,
    shifted_hours: u64,
    shift: f64,
) -> Vec<Event> {
    let mut inputs = vec![baseline()];
    for hour in 0..reference_hours + stable_hours + shifted_hours {
        let mean = if hour < reference_hours + stable_hours {
            0.0
        } else {
            shift
        };
        inputs.push(batch(3, hour, n_per_hour, &[("rx_power_dbm", mean)], 0.9));
    }
    inputs
}

fn data_alarm(out: &[Event]) -> (String, Option<String>) {
    let detected: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            Event::DriftDetected(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(detected.len(), 1, "{out:#?}");
    assert_eq!(detected[0].drift_kind, "data");
    (detected[0].detector.clone(), detected[0].feature.clone())
}

/// Given a 200-row reference, when the feature's mean moves by one deviation, then KS flags that feature.
#[test]
fn small_reference_uses_ks() {
    let policy = DriftJudgePolicy {
        reference_hours: 2,
        reference_size: 200,
        window_hours: 2,
        current_window: 200,
        ..DriftJudgePolicy::default()
    };
    // Windows [2, 4) and [4, 6) are stable; [6, 8) is shifted and judged when hour 8 arrives.
    let (state, _, out) = run(
        &DriftJudge::new(policy).expect("valid"),
        &data_inputs(100, 2, 4, 3, 1.0),
    );
    assert_eq!(state.rounds, 3);
    assert_eq!(
        data_alarm(&out),
        ("ks".to_owned(), Some("rx_power_dbm".to_owned()))
    );
}

/// Given a 1500-row reference, when the feature's mean moves by one deviation, then Wasserstein flags it.
#[test]
fn large_reference_uses_wasserstein() {
    let policy = DriftJudgePolicy {
        reference_hours: 4,
        reference_size: 1500,
        window_hours: 1,
        current_window: 500,
        ..DriftJudgePolicy::default()
    };
    let (state, _, out) = run(
        &DriftJudge::new(policy).expect("valid"),
        &data_inputs(500, 4, 2, 2, 1.0),
    );
    assert_eq!(state.reference.len(), 1500, "the reservoir is bounded");
    assert_eq!(
        data_alarm(&out),
        ("wasserstein".to_owned(), Some("rx_power_dbm".to_owned()))
    );
}

/// Given steady confidence, when it drops by 0.12 (2.4 thresholds), then a medium performance alarm asks for fine-tuning.
#[test]
fn confidence_drop_raises_a_performance_alarm() {
    let policy = DriftJudgePolicy {
        reference_hours: 2,
        reference_size: 200,
        window_hours: 2,
        current_window: 200,
        ..DriftJudgePolicy::default()
    };
    let mut inputs = vec![baseline()];
    // Windows [2, 4) and [4, 6) are steady; [6, 8) has dropped and is judged at hour 8.
    for hour in 0..9 {
        inputs.push(batch(
            5,
            hour,
            100,
            &[("x", 0.0)],
            if hour < 6 { 0.92 } else { 0.80 },
        ));
    }
    let (_, _, out) = run(&DriftJudge::new(policy).expect("valid"), &inputs);
    let kinds: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            Event::DriftDetected(d) => Some(d.detector.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["cbpe"]);
    let Some(Event::RetrainRequested(r)) =
        out.iter().find(|e| e.event_type() == "RetrainRequested")
    else {
        unreachable!()
    };
    assert_eq!(
        (r.severity.as_str(), r.strategy.as_str()),
        ("medium", "fine_tune")
    );
}

/// Given a champion with a KS alarm, when a new model is promoted, then watching restarts with a fresh reference and every signal armed.
#[test]
fn promotion_restarts_the_watch() {
    let policy = DriftJudgePolicy {
        reference_hours: 2,
        reference_size: 200,
        window_hours: 2,
        current_window: 200,
        ..DriftJudgePolicy::default()
    };
    let judge = DriftJudge::new(policy).expect("valid");
    let (mut state, _, out) = run(&judge, &data_inputs(100, 2, 4, 3, 1.0));
    assert_eq!(data_alarm(&out).0, "ks");
    let promoted = Event::from(ModelPromoted {
        model_id: "tabular-0002".into(),
        previous_model_id: MODEL.into(),
        ..Default::default()
    });
    let out = judge.step(&mut state, &promoted).expect("decides");
    let [Event::DriftNoticed(n)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (n.reason.as_str(), n.model_id.as_str()),
        ("watch_started", "tabular-0002")
    );
    assert!(state.disarmed.is_empty() && state.reference.is_empty());
    assert_eq!(state.champion.as_deref(), Some("tabular-0002"));
    assert!(
        judge
            .step(&mut state, &promoted)
            .expect("decides")
            .is_empty(),
        "the same champion is not re-watched"
    );
}

/// Given feedback of a canary, when its errors soar, then the champion's detector never sees them.
#[test]
fn canary_feedback_is_ignored() {
    let judge = DriftJudge::new(DriftJudgePolicy::default()).expect("valid");
    let mut inputs = vec![baseline()];
    for hour in 0..40 {
        let Event::FeedbackRecorded(mut f) =
            feedback(9, hour, 50, if hour < 20 { 0.1 } else { 0.9 })
        else {
            unreachable!()
        };
        f.model_id = "canary-7".into();
        inputs.push(Event::from(f));
    }
    let (state, _, out) = run(&judge, &inputs);
    assert_eq!(out.len(), 1, "only watch_started: {out:?}");
    assert_eq!(state.errors.seen, 0);
}

/// Given a text model (no numeric features), when its confidence drops, then the performance estimate still alarms.
#[test]
fn performance_runs_without_features() {
    let policy = DriftJudgePolicy {
        reference_hours: 2,
        window_hours: 2,
        ..DriftJudgePolicy::default()
    };
    let mut inputs = vec![baseline()];
    // Window [2, 4) is stable; [4, 6) has dropped and is judged when hour 6 arrives.
    for hour in 0..7 {
        inputs.push(batch(5, hour, 100, &[], if hour < 4 { 0.95 } else { 0.70 }));
    }
    let (_, _, out) = run(&DriftJudge::new(policy).expect("valid"), &inputs);
    let Some(Event::RetrainRequested(r)) =
        out.iter().find(|e| e.event_type() == "RetrainRequested")
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        (r.severity.as_str(), r.strategy.as_str()),
        ("high", "full"),
        "a 0.25 drop is five thresholds"
    );
}

/// Given a data alarm, when the feature stays shifted, returns and shifts again, then hysteresis holds the second round and the third shift alarms anew.
#[test]
fn hysteresis_rearms_after_the_signal_returns() {
    let policy = DriftJudgePolicy {
        reference_hours: 2,
        reference_size: 200,
        window_hours: 2,
        current_window: 200,
        cooldown_hours: 1,
        ..DriftJudgePolicy::default()
    };
    let mut inputs = vec![baseline()];
    // Windows: [2, 4) stable, [4, 8) shifted, [8, 10) back, [10, 12) shifted; judged at the next window's first hour.
    for hour in 0..13 {
        let shifted = (4..8).contains(&hour) || (10..12).contains(&hour);
        let mean = if shifted { 1.5 } else { 0.0 };
        inputs.push(batch(13, hour, 100, &[("x", mean)], 0.9));
    }
    let (_, _, out) = run(&DriftJudge::new(policy).expect("valid"), &inputs);
    let decisions: Vec<String> = out
        .iter()
        .filter_map(|e| match e {
            Event::DriftDetected(d) => Some(format!("detected:{}", d.detector)),
            Event::DriftNoticed(n) if n.reason != "watch_started" => Some(n.reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(decisions, ["detected:ks", "hysteresis", "detected:ks"]);
}

/// Given an alarm on one feature, when a second feature shifts during the cool-down and stays shifted, then it is noticed as `cooldown` and alarms on its own once the cool-down ends.
#[test]
fn shift_noticed_in_cooldown_alarms_after_it() {
    let policy = DriftJudgePolicy {
        reference_hours: 2,
        reference_size: 200,
        window_hours: 2,
        current_window: 200,
        cooldown_hours: 4,
        ..DriftJudgePolicy::default()
    };
    let mut inputs = vec![baseline()];
    // Windows: [2, 4) `a` shifted (alarm at 4); `b` shifted from 4 on, judged at 6
    // (inside the cool-down) and again at 8, 10 (after it).
    for hour in 0..11 {
        let a = if hour >= 2 { 1.5 } else { 0.0 };
        let b = if hour >= 4 { 1.5 } else { 0.0 };
        inputs.push(batch(17, hour, 100, &[("a", a), ("b", b)], 0.9));
    }
    let (_, _, out) = run(&DriftJudge::new(policy).expect("valid"), &inputs);
    let decisions: Vec<String> = out
        .iter()
        .filter_map(|e| match e {
            Event::DriftDetected(d) => Some(format!("detected:{}", d.feature.clone()?)),
            Event::DriftNoticed(n) if n.reason != "watch_started" => {
                Some(format!("{}:{}", n.reason, n.feature.clone()?))
            }
            _ => None,
        })
        .collect();
    let first_b_alarm = decisions.iter().position(|d| d == "detected:b");
    let b_cooldown = decisions.iter().position(|d| d == "cooldown:b");
    assert!(
        matches!((b_cooldown, first_b_alarm), (Some(c), Some(a)) if c < a),
        "{decisions:?}"
    );
    assert_eq!(decisions[0], "detected:a", "{decisions:?}");
}

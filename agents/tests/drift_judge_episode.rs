//! Given-events / when-input / then-events tests of the DriftJudge's alarm scope: with
//! `alarm_scope = "episode"` one shift raises one alarm however many features it reaches,
//! while the retrain requests stay exactly those of the per-signal scope.

use ledgerloop_agents::drift_judge::{
    AlarmScope, DriftJudge, DriftJudgePolicy, REASON_EPISODE_CONTINUES,
};
use ledgerloop_events::Event;

#[path = "support/drift_judge_inputs.rs"]
mod inputs;
use inputs::*;

/// Two-hour windows over a two-hour reference and a four-hour cool-down, so a test can
/// place crossings inside and after the cool-down one window at a time.
fn policy(scope: AlarmScope, quiet_rounds: u32) -> DriftJudgePolicy {
    DriftJudgePolicy {
        reference_hours: 2,
        reference_size: 200,
        window_hours: 2,
        current_window: 200,
        cooldown_hours: 4,
        alarm_scope: scope,
        episode_quiet_rounds: quiet_rounds,
        ..DriftJudgePolicy::default()
    }
}

/// A world with features `a` and `b`: each two-hour window lists the shift of each (in
/// standard deviations); the first window is the champion's reference. A window is
/// judged when the first batch of the next one arrives, so one stable window closes it.
fn windows(shifts: &[(f64, f64)]) -> Vec<Event> {
    let mut inputs = vec![baseline()];
    let mut all = shifts.to_vec();
    all.push((0.0, 0.0));
    for (w, (a, b)) in all.iter().enumerate() {
        for h in 0..2 {
            let hour = 2 * w as u64 + h;
            inputs.push(batch(11, hour, 100, &[("a", *a), ("b", *b)], 0.9));
        }
    }
    inputs
}

/// The features of the alarms, in order.
fn alarms(out: &[Event]) -> Vec<String> {
    out.iter()
        .filter_map(|e| match e {
            Event::DriftDetected(d) => Some(d.feature.clone().unwrap_or_default()),
            _ => None,
        })
        .collect()
}

/// The features of the episode continuations, in order.
fn continuations(out: &[Event]) -> Vec<String> {
    out.iter()
        .filter_map(|e| match e {
            Event::DriftNoticed(n) if n.reason == REASON_EPISODE_CONTINUES => {
                Some(n.feature.clone().unwrap_or_default())
            }
            _ => None,
        })
        .collect()
}

/// The retrain requests (hour, severity, strategy), which must not depend on the scope.
fn requests(out: &[Event]) -> Vec<(u64, String, String)> {
    out.iter()
        .filter_map(|e| match e {
            Event::RetrainRequested(r) => Some((r.hour, r.severity.clone(), r.strategy.clone())),
            _ => None,
        })
        .collect()
}

/// Reference, one stable window, `a` shifts (alarm), `a` and `b` shift inside the
/// cool-down, both go on after it, then `quiet` stable windows and `a` shifts again.
fn spreading_shift(quiet: usize) -> Vec<Event> {
    let mut w = vec![(0.0, 0.0), (0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (1.0, 1.0)];
    w.extend(std::iter::repeat_n((0.0, 0.0), quiet));
    w.push((1.0, 0.0));
    windows(&w)
}

/// Given a shift that spreads from `a` to `b` and, after three quiet rounds, a new shift
/// of `a`, when judged per signal then three alarms; per episode then two alarms and
/// `b`'s crossing continues the first, with the same retrain requests either way.
#[test]
fn one_shift_reaching_two_features_raises_one_alarm_per_episode() {
    let inputs = spreading_shift(3);
    let judge = |scope| DriftJudge::new(policy(scope, 3)).expect("valid");
    let (_, _, per_signal) = run(&judge(AlarmScope::Signal), &inputs);
    let (state, _, per_episode) = run(&judge(AlarmScope::Episode), &inputs);
    assert_eq!(alarms(&per_signal), ["a", "b", "a"]);
    assert_eq!(alarms(&per_episode), ["a", "a"]);
    assert_eq!(continuations(&per_episode), ["b"]);
    assert!(continuations(&per_signal).is_empty());
    assert_eq!(requests(&per_signal).len(), 3);
    assert_eq!(requests(&per_signal), requests(&per_episode));
    assert_eq!(state.alarms, 2);
    let episode = state.episode.expect("the last alarm opened an episode");
    assert_eq!(episode.keys.len(), 1, "a new episode holds only `a`");
}

/// Given an episode on `a` and `b`, when `a` shifts again after fewer quiet rounds than
/// `episode_quiet_rounds`, then it continues the episode instead of alarming.
#[test]
fn a_shift_back_within_the_quiet_rounds_continues_the_episode() {
    let inputs = spreading_shift(2);
    let (state, _, out) = run(
        &DriftJudge::new(policy(AlarmScope::Episode, 3)).expect("valid"),
        &inputs,
    );
    assert_eq!(alarms(&out), ["a"]);
    assert_eq!(continuations(&out), ["b", "a"]);
    assert_eq!(requests(&out).len(), 3);
    assert_eq!(state.alarms, 1);
}

/// Given an episode continuation, when it is recorded, then its evidence names the
/// episode's start and its rule the scope, so `explain` shows why there was no alarm.
#[test]
fn a_continuation_records_its_episode() {
    let (_, _, out) = run(
        &DriftJudge::new(policy(AlarmScope::Episode, 3)).expect("valid"),
        &spreading_shift(3),
    );
    let Some(Event::DriftNoticed(n)) = out
        .iter()
        .find(|e| matches!(e, Event::DriftNoticed(n) if n.reason == REASON_EPISODE_CONTINUES))
    else {
        panic!("no continuation in {out:#?}");
    };
    // The alarm on `a` was judged at hour 6 (the window [4, 6) closed by hour 6's batch).
    assert_eq!(n.evidence.get("episode.opened_hour"), Some(6.0));
    assert_eq!(n.evidence.get("episode.signals"), Some(2.0));
    assert_eq!(
        n.rule.params.get("alarm_scope"),
        Some(&serde_json::json!("episode"))
    );
}

/// Given the default policy, when it is recorded, then the episode fields are left out
/// (older logs re-derive unchanged); an impossible quiet-round count is refused.
#[test]
fn episode_fields_are_recorded_only_when_set_and_checked() {
    let recorded = serde_json::to_value(DriftJudgePolicy::default()).expect("serialises");
    assert!(recorded.get("alarm_scope").is_none());
    assert!(recorded.get("episode_quiet_rounds").is_none());
    let on = serde_json::to_value(policy(AlarmScope::Episode, 5)).expect("serialises");
    assert_eq!(on["alarm_scope"], "episode");
    assert_eq!(on["episode_quiet_rounds"], 5);
    for rounds in [0, 367] {
        let err = DriftJudge::new(policy(AlarmScope::Episode, rounds)).expect_err("refused");
        assert!(err.to_string().contains("episode_quiet_rounds"), "{err}");
    }
}

/// Given an episode on `a` and two quiet rounds to close it, when the error stream jumps
/// between the two quiet rounds (the detector flags), then the episode stays open and a
/// later shift of `a` continues it; without the error stream it closes and `a` alarms.
#[test]
fn an_error_stream_crossing_keeps_the_episode_open() {
    let shifts = [
        (0.0, 0.0),
        (0.0, 0.0),
        (1.0, 0.0),
        (0.0, 0.0),
        (0.0, 0.0),
        (1.0, 0.0),
    ];
    let data = windows(&shifts);
    // The same batches with, after each from hour 8 on, an hour of outcomes whose error
    // rate jumps from 10% to 60%: the detector flags within hours 8-9, between the
    // rounds judged at hours 8 and 10.
    let mut with_errors = Vec::new();
    for input in &data {
        with_errors.push(input.clone());
        if let Event::BatchIngested(b) = input {
            if b.hour >= 8 && b.hour < 12 {
                with_errors.push(feedback(5, b.hour, 400, 0.6));
            } else if b.hour < 8 {
                with_errors.push(feedback(5, b.hour, 400, 0.1));
            }
        }
    }
    let judge = DriftJudge::new(policy(AlarmScope::Episode, 2)).expect("valid");
    let (_, _, quiet) = run(&judge, &data);
    assert_eq!(
        alarms(&quiet),
        ["a", "a"],
        "two quiet rounds closed the episode"
    );
    let (state, _, noisy) = run(&judge, &with_errors);
    assert_eq!(alarms(&noisy), ["a"], "{noisy:#?}");
    assert!(
        continuations(&noisy).contains(&"a".to_string()),
        "{noisy:#?}"
    );
    assert!(state.episode.is_some());
}

/// Given an episode opened by `a` that `a` keeps open, when `b` (never in the episode)
/// crosses after the cool-down, then by default it raises a second alarm and with
/// `episode_joins_any_feature` it continues the episode; the retrain requests are the same.
#[test]
fn any_feature_continues_an_open_episode_when_asked() {
    let inputs = windows(&[
        (0.0, 0.0),
        (0.0, 0.0),
        (1.0, 0.0),
        (1.0, 0.0),
        (1.0, 0.0),
        (1.0, 1.0),
    ]);
    let own = DriftJudge::new(policy(AlarmScope::Episode, 3)).expect("valid");
    let any = DriftJudge::new(DriftJudgePolicy {
        episode_joins_any_feature: true,
        ..policy(AlarmScope::Episode, 3)
    })
    .expect("valid");
    let (_, _, by_own) = run(&own, &inputs);
    let (state, _, by_any) = run(&any, &inputs);
    assert_eq!(alarms(&by_own), ["a", "b"]);
    assert_eq!(alarms(&by_any), ["a"]);
    assert_eq!(continuations(&by_any), ["b"]);
    assert_eq!(requests(&by_own), requests(&by_any));
    assert_eq!(state.alarms, 1);
    let continued = by_any.iter().find_map(|e| match e {
        Event::DriftNoticed(n) if n.reason == REASON_EPISODE_CONTINUES => Some(n),
        _ => None,
    });
    let rule = &continued.expect("a continuation").rule;
    assert_eq!(
        rule.params.get("episode_joins_any_feature"),
        Some(&serde_json::json!(true))
    );
}

/// Given per-signal alarms, when the policy asks episodes to join any feature, then it
/// is refused before the run (there are no episodes); off, it is left out of the record.
#[test]
fn any_feature_needs_the_episode_scope() {
    let contradictory = DriftJudgePolicy {
        episode_joins_any_feature: true,
        ..policy(AlarmScope::Signal, 3)
    };
    let err = DriftJudge::new(contradictory).expect_err("refused");
    assert!(
        err.to_string().contains("episode_joins_any_feature"),
        "{err}"
    );
    let recorded = serde_json::to_value(policy(AlarmScope::Episode, 3)).expect("serialises");
    assert!(recorded.get("episode_joins_any_feature").is_none());
}

/// Given an alarm on `a` at hour 6 and `b` crossing two hours later, when continuations
/// wait the full four-hour cool-down (the default) then `b` is only noticed; with
/// `episode_cooldown_hours = 2` it continues the episode with a retrain request of its
/// own, still without a second alarm, and the continuation's rule names the setting.
#[test]
fn a_shorter_episode_cooldown_lets_a_growing_shift_ask_for_retrains_sooner() {
    let inputs = windows(&[(0.0, 0.0), (0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]);
    let any = DriftJudgePolicy {
        episode_joins_any_feature: true,
        ..policy(AlarmScope::Episode, 3)
    };
    let sooner = DriftJudgePolicy {
        episode_cooldown_hours: 2,
        ..any.clone()
    };
    let (_, _, by_default) = run(&DriftJudge::new(any).expect("valid"), &inputs);
    let (state, _, by_sooner) = run(&DriftJudge::new(sooner).expect("valid"), &inputs);
    let hours = |out: &[Event]| requests(out).iter().map(|r| r.0).collect::<Vec<_>>();
    assert_eq!(hours(&by_default), [6]);
    assert!(continuations(&by_default).is_empty());
    assert_eq!(hours(&by_sooner), [6, 8]);
    assert_eq!(alarms(&by_sooner), ["a"]);
    assert_eq!(continuations(&by_sooner), ["b"]);
    assert_eq!(state.alarms, 1);
    let continued = by_sooner.iter().find_map(|e| match e {
        Event::DriftNoticed(n) if n.reason == REASON_EPISODE_CONTINUES => Some(n),
        _ => None,
    });
    assert_eq!(
        continued
            .expect("a continuation")
            .rule
            .params
            .get("episode_cooldown_hours"),
        Some(&serde_json::json!(2))
    );
}

/// Given an episode cool-down longer than the alarm cool-down, or without the episode
/// scope, when the policy is built, then it is refused; unset, it is left out of the
/// recorded policy.
#[test]
fn episode_cooldown_is_checked_and_recorded_only_when_set() {
    for bad in [
        DriftJudgePolicy {
            episode_cooldown_hours: 5,
            ..policy(AlarmScope::Episode, 3)
        },
        DriftJudgePolicy {
            episode_cooldown_hours: 2,
            ..policy(AlarmScope::Signal, 3)
        },
    ] {
        let err = DriftJudge::new(bad).expect_err("refused");
        assert!(err.to_string().contains("episode_cooldown_hours"), "{err}");
    }
    let recorded = serde_json::to_value(policy(AlarmScope::Episode, 3)).expect("serialises");
    assert!(recorded.get("episode_cooldown_hours").is_none());
}

//! Given-events / when-input / then-events tests of the Releaser's canary path.

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::releaser::{
    route, OnlineStats, Releaser, ReleaserInput, ReleaserPolicy, ReleaserState, RollbackCommand,
    ShortStep,
};
use ledgerloop_events::catalogue::{
    ApprovalGranted, CanaryStarted, CanaryStepAdvanced, ModelPromoted, RolledBack,
};
use ledgerloop_events::{Event, Evidence};

#[path = "support/releaser_inputs.rs"]
mod inputs;
use inputs::*;

fn policy() -> ReleaserPolicy {
    ReleaserPolicy::default()
}

/// The canary m1 (blessed against m0) started at hour 10 with m0 at 5000 served, 500 errors.
fn started(p: &ReleaserPolicy) -> CanaryStarted {
    CanaryStarted {
        model_id: "m1".into(),
        champion_model_id: "m0".into(),
        fraction: 0.05,
        hour: 10,
        baseline_canary_served: 0,
        baseline_canary_errors: 0,
        baseline_champion_served: 5000,
        baseline_champion_errors: 500,
        evidence: Evidence::new()
            .with("online.hour", 10.0)
            .with("step.index", 0.0)
            .with("step.fraction", 0.05)
            .with("threshold.max_canary_fraction", 0.5)
            .with("baseline.canary_served", 0.0)
            .with("baseline.champion_served", 5000.0)
            .with("baseline.champion_error_rate", 0.1),
        rule: p.rule(),
    }
}

fn given_canary() -> Vec<Event> {
    vec![
        baseline("m0"),
        Event::VerdictIssued(verdict("m1", "m0", "blessed")),
        Event::CanaryStarted(started(&policy())),
    ]
}

/// The evidence of a step judgement: (step index, fraction, hour, exposure hours, canary
/// served/errors, champion served/errors) over the step, with the default thresholds.
#[allow(clippy::too_many_arguments)]
fn window(
    index: f64,
    fraction: f64,
    hour: u64,
    hours: u64,
    cs: u64,
    ce: u64,
    hs: u64,
    he: u64,
) -> Evidence {
    let (cr, hr) = (ce as f64 / cs as f64, he as f64 / hs as f64);
    let pooled = (ce + he) as f64 / (cs + hs) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / cs as f64 + 1.0 / hs as f64)).sqrt();
    let z = if se > 0.0 { (cr - hr) / se } else { 0.0 };
    Evidence::new()
        .with("online.hour", hour as f64)
        .with("step.index", index)
        .with("step.fraction", fraction)
        .with("step.exposure_hours", hours as f64)
        .with("step.canary_served", cs as f64)
        .with("step.canary_errors", ce as f64)
        .with("step.canary_error_rate", cr)
        .with("step.champion_served", hs as f64)
        .with("step.champion_errors", he as f64)
        .with("step.champion_error_rate", hr)
        .with("step.error_gap_points", (cr - hr) * 100.0)
        .with("step.error_gap_z", z)
        .with("threshold.rollback_margin_points", 5.0)
        .with("threshold.advance_tolerance_points", 1.0)
        .with("threshold.guard_min_samples", 100.0)
        .with("threshold.guard_min_z", 0.0)
        .with("threshold.min_step_hours", 6.0)
        .with("threshold.min_step_samples", 200.0)
        .with("threshold.max_step_hours", 72.0)
}

fn releaser(p: ReleaserPolicy) -> Releaser {
    Releaser::new(p).expect("valid policy")
}

/// A blessed verdict against the current champion starts a canary at the first step,
/// recording the champion's counts as the step's baseline.
#[test]
fn blessed_verdict_starts_canary_at_first_step() {
    let r = releaser(policy());
    let state = fold::<Releaser>(&[
        baseline("m0"),
        Event::VerdictIssued(verdict("m1", "m0", "blessed")),
    ]);
    let input = ReleaserInput::Verdict {
        verdict: verdict("m1", "m0", "blessed"),
        online: stats(10, &[("m0", 5000, 500)]),
    };
    let events = r.decide(&state, &input).expect("decides");
    assert_eq!(events, vec![Event::CanaryStarted(started(&policy()))]);
    let mut after = state;
    Releaser::evolve(&mut after, &events[0]);
    assert_eq!(
        route(&after),
        ("m0".to_string(), Some(("m1".to_string(), 0.05)))
    );
}

/// A canary within tolerance walks 5% -> 25% -> 50% after each step's minimum exposure,
/// holds while a step is too young, and is promoted after the last step.
#[test]
fn canary_full_path_to_promotion() {
    let p = policy();
    let r = releaser(p.clone());
    let mut state = fold::<Releaser>(&given_canary());
    let tick = |s: &mut ReleaserState, online: OnlineStats| {
        r.decide_and_evolve(s, &ReleaserInput::Tick(online))
            .expect("decides")
    };
    let events = tick(&mut state, stats(16, &[("m0", 8200, 925), ("m1", 200, 25)]));
    let step1 = CanaryStepAdvanced {
        model_id: "m1".into(),
        from_fraction: 0.05,
        to_fraction: 0.25,
        step_index: 1,
        hour: 16,
        baseline_canary_served: 200,
        baseline_canary_errors: 25,
        baseline_champion_served: 8200,
        baseline_champion_errors: 925,
        evidence: window(0.0, 0.05, 16, 6, 200, 25, 3200, 425)
            .with("threshold.max_canary_fraction", 0.5),
        rule: p.rule(),
    };
    assert_eq!(events, vec![Event::CanaryStepAdvanced(step1)]);
    // Four hours into step 1: too young to judge although the numbers are fine.
    assert_eq!(
        tick(
            &mut state,
            stats(20, &[("m0", 9000, 1025), ("m1", 1200, 150)])
        ),
        vec![]
    );
    let events = tick(
        &mut state,
        stats(22, &[("m0", 11400, 1325), ("m1", 1800, 225)]),
    );
    assert!(
        matches!(&events[..], [Event::CanaryStepAdvanced(s)] if s.to_fraction == 0.5 && s.step_index == 2)
    );
    assert_eq!(route(&state).1, Some(("m1".to_string(), 0.5)));
    let events = tick(
        &mut state,
        stats(28, &[("m0", 14600, 1725), ("m1", 3800, 350)]),
    );
    let promoted = ModelPromoted {
        model_id: "m1".into(),
        previous_model_id: "m0".into(),
        hour: 28,
        evidence: window(2.0, 0.5, 28, 6, 2000, 125, 3200, 400)
            .with("approval.required", 0.0)
            .with("approval.granted", 0.0),
        rule: p.rule(),
    };
    assert_eq!(events, vec![Event::ModelPromoted(promoted)]);
    assert_eq!(route(&state), ("m1".to_string(), None));
    assert_eq!(state.previous_champion(), Some("m0"));
    assert_eq!(state.lineage.get("m1").map(String::as_str), Some("m0"));
}

/// A canary clearly worse than the champion, with enough samples, is rolled back at the
/// very next tick, before its step's minimum exposure.
#[test]
fn bad_canary_is_rolled_back_at_once() {
    let p = policy();
    let r = releaser(p.clone());
    let mut state = fold::<Releaser>(&given_canary());
    let input = ReleaserInput::Tick(stats(12, &[("m0", 6600, 660), ("m1", 160, 40)]));
    let events = r.decide_and_evolve(&mut state, &input).expect("decides");
    let expected = RolledBack {
        model_id: "m1".into(),
        restored_model_id: "m0".into(),
        reason: "guard".into(),
        hour: 12,
        evidence: window(0.0, 0.05, 12, 2, 160, 40, 1600, 160),
        rule: p.rule(),
    };
    assert_eq!(events, vec![Event::RolledBack(expected)]);
    assert_eq!(route(&state), ("m0".to_string(), None));
    assert!(state.retired.contains("m1"));
}

/// The guard does not fire on too few canary samples, however bad they look.
#[test]
fn guard_waits_for_enough_samples() {
    let r = releaser(policy());
    let state = fold::<Releaser>(&given_canary());
    let input = ReleaserInput::Tick(stats(12, &[("m0", 6600, 660), ("m1", 99, 60)]));
    assert_eq!(r.decide(&state, &input).expect("decides"), vec![]);
}

/// A canary between tolerance and margin holds, and is rolled back as stalled once its
/// step has run `max_step_hours` without meeting the advance criteria.
#[test]
fn undecided_canary_stalls_and_rolls_back() {
    let r = releaser(policy());
    let state = fold::<Releaser>(&given_canary());
    // 13% vs 10%: worse than the tolerance, within the margin.
    let hold = ReleaserInput::Tick(stats(40, &[("m0", 15000, 1500), ("m1", 1000, 130)]));
    assert_eq!(r.decide(&state, &hold).expect("decides"), vec![]);
    let late = ReleaserInput::Tick(stats(82, &[("m0", 25000, 2500), ("m1", 2000, 260)]));
    let events = r.decide(&state, &late).expect("decides");
    assert!(
        matches!(&events[..], [Event::RolledBack(rb)] if rb.reason == "stalled" && rb.model_id == "m1" && rb.restored_model_id == "m0")
    );
}

/// With the approval gate on, a ready canary is held until an ApprovalGranted names it;
/// the approval (folded from the log) then lets the next tick promote it.
#[test]
fn promotion_waits_for_approval() {
    let p = ReleaserPolicy {
        steps: vec![0.25],
        require_approval: true,
        ..policy()
    };
    let r = releaser(p);
    let mut given = given_canary();
    let ready = ReleaserInput::Tick(stats(16, &[("m0", 8200, 820), ("m1", 300, 30)]));
    let state = fold::<Releaser>(&given);
    assert_eq!(r.decide(&state, &ready).expect("decides"), vec![]);
    given.push(Event::ApprovalGranted(ApprovalGranted {
        subject_id: "other-model".into(),
        operator: "ada".into(),
        note: String::new(),
    }));
    assert_eq!(
        r.decide(&fold::<Releaser>(&given), &ready)
            .expect("decides"),
        vec![]
    );
    given.push(Event::ApprovalGranted(ApprovalGranted {
        subject_id: "m1".into(),
        operator: "ada".into(),
        note: "looks good".into(),
    }));
    let events = r
        .decide(&fold::<Releaser>(&given), &ready)
        .expect("decides");
    match &events[..] {
        [Event::ModelPromoted(mp)] => {
            assert_eq!(mp.model_id, "m1");
            assert_eq!(mp.evidence.get("approval.required"), Some(1.0));
            assert_eq!(mp.evidence.get("approval.granted"), Some(1.0));
        }
        other => panic!("expected a promotion, got {other:?}"),
    }
}

/// An operator rollback withdraws a running canary at once, and with no canary restores
/// the previous champion at once.
#[test]
fn operator_rollback_restores_at_once() {
    let r = releaser(policy());
    let command = ReleaserInput::Rollback {
        command: RollbackCommand {
            operator: "ada".into(),
        },
        online: stats(11, &[("m0", 5100, 510), ("m1", 10, 0)]),
    };
    let mut state = fold::<Releaser>(&given_canary());
    let events = r.decide_and_evolve(&mut state, &command).expect("decides");
    assert!(
        matches!(&events[..], [Event::RolledBack(rb)] if rb.reason == "operator" && rb.model_id == "m1" && rb.restored_model_id == "m0")
    );
    assert_eq!(
        events[0]
            .decision()
            .map(|(_, rule)| rule.params.get("operator").cloned()),
        Some(Some("ada".into()))
    );
    assert_eq!(route(&state), ("m0".to_string(), None));

    let mut promoted = given_canary();
    promoted.push(Event::ModelPromoted(ModelPromoted {
        model_id: "m1".into(),
        previous_model_id: "m0".into(),
        ..Default::default()
    }));
    let mut state = fold::<Releaser>(&promoted);
    assert_eq!(route(&state).0, "m1");
    let events = r.decide_and_evolve(&mut state, &command).expect("decides");
    assert!(
        matches!(&events[..], [Event::RolledBack(rb)] if rb.model_id == "m1" && rb.restored_model_id == "m0")
    );
    assert_eq!(route(&state), ("m0".to_string(), None));
    assert_eq!(state.previous_champion(), None);
}

/// With a significance bar on the guard, a 6-point gap on 110 canary outcomes is held (z < 3) while a 15-point gap on 200 fires.
#[test]
fn guard_with_min_z_ignores_an_insignificant_gap() {
    let p = ReleaserPolicy {
        guard_min_z: 3.0,
        ..policy()
    };
    let r = releaser(p);
    let state = fold::<Releaser>(&given_canary());
    // Step baseline is m0 5000/500, m1 0/0 (see `given_canary`): 16% vs 10% on 110.
    let noisy = ReleaserInput::Tick(stats(12, &[("m0", 6600, 660), ("m1", 110, 18)]));
    assert_eq!(r.decide(&state, &noisy).expect("decides"), vec![]);
    let clear = ReleaserInput::Tick(stats(12, &[("m0", 6600, 660), ("m1", 200, 50)]));
    let events = r.decide(&state, &clear).expect("decides");
    assert!(
        matches!(&events[..], [Event::RolledBack(b)] if b.reason == "guard"
            && b.evidence.get("step.error_gap_z").is_some_and(|z| z >= 3.0)),
        "{events:?}"
    );
}

/// A step short of its minimum outcomes (60 of 200) when its time runs out: the policy
/// chooses between rolling it back as stalled (the default) and advancing it.
fn short_step_input() -> ReleaserInput {
    // 72 hours after the start at hour 10; the canary served 60 outcomes, 6 wrong (10%),
    // the champion 3,600 since the step began, 540 wrong (15%).
    ReleaserInput::Tick(stats(82, &[("m0", 8600, 1040), ("m1", 60, 6)]))
}

/// By default a step that runs out of time short of its minimum outcomes is rolled back
/// as stalled, however good the canary looks: the behaviour logs were written with.
#[test]
fn short_step_rolls_back_by_default() {
    let r = releaser(policy());
    let state = fold::<Releaser>(&given_canary());
    let events = r.decide(&state, &short_step_input()).expect("decides");
    assert!(
        matches!(&events[..], [Event::RolledBack(rb)] if rb.reason == "stalled"),
        "{events:?}"
    );
    assert!(!policy().rule().params.contains_key("short_step"));
}

/// With `short_step = "advance"`, the same short step whose canary is within tolerance
/// advances to the next fraction, says so in its evidence, and records the option in
/// its rule.
#[test]
fn short_step_within_tolerance_advances_when_asked() {
    let p = ReleaserPolicy {
        short_step: ShortStep::Advance,
        ..policy()
    };
    let r = releaser(p.clone());
    let state = fold::<Releaser>(&given_canary());
    let events = r.decide(&state, &short_step_input()).expect("decides");
    let expected = CanaryStepAdvanced {
        model_id: "m1".into(),
        from_fraction: 0.05,
        to_fraction: 0.25,
        step_index: 1,
        hour: 82,
        baseline_canary_served: 60,
        baseline_canary_errors: 6,
        baseline_champion_served: 8600,
        baseline_champion_errors: 1040,
        evidence: window(0.0, 0.05, 82, 72, 60, 6, 3600, 540)
            .with("step.advanced_short", 1.0)
            .with("threshold.max_canary_fraction", 0.5),
        rule: p.rule(),
    };
    assert_eq!(events, vec![Event::CanaryStepAdvanced(expected)]);
    assert_eq!(p.rule().params["short_step"], "advance");
}

/// `short_step = "advance"` never lets a canary outside the tolerance go on (it stalls),
/// and never promotes from a short last step.
#[test]
fn short_step_advance_has_limits() {
    let p = ReleaserPolicy {
        short_step: ShortStep::Advance,
        ..policy()
    };
    let r = releaser(p.clone());
    let mut state = fold::<Releaser>(&given_canary());
    // 20% against 15%: short, and 5 points worse (the guard waits for 100 samples).
    let worse = ReleaserInput::Tick(stats(82, &[("m0", 8600, 1040), ("m1", 60, 12)]));
    let events = r.decide(&state, &worse).expect("decides");
    assert!(
        matches!(&events[..], [Event::RolledBack(rb)] if rb.reason == "stalled"),
        "{events:?}"
    );
    // Advance short twice, to the last step (0.5), then run out of time there short too.
    for (hour, m0, m1) in [(82, (8600, 1040), (60, 6)), (154, (12200, 1580), (120, 12))] {
        let tick = ReleaserInput::Tick(stats(hour, &[("m0", m0.0, m0.1), ("m1", m1.0, m1.1)]));
        let events = r.decide_and_evolve(&mut state, &tick).expect("decides");
        assert!(
            matches!(&events[..], [Event::CanaryStepAdvanced(_)]),
            "{events:?}"
        );
    }
    assert_eq!(route(&state).1, Some(("m1".to_string(), 0.5)));
    let last = ReleaserInput::Tick(stats(226, &[("m0", 12300, 1595), ("m1", 180, 18)]));
    let events = r.decide(&state, &last).expect("decides");
    assert!(
        matches!(&events[..], [Event::RolledBack(rb)] if rb.reason == "stalled"),
        "{events:?}"
    );
}

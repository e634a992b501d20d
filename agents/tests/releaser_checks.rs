//! Refusals, policy validation, bad online statistics and replay determinism of the
//! Releaser.

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::releaser::{
    route, Releaser, ReleaserInput, ReleaserPolicy, ReleaserState, RollbackCommand,
};
use ledgerloop_agents::Error;
use ledgerloop_events::catalogue::ApprovalGranted;
use ledgerloop_events::Event;

#[path = "support/releaser_inputs.rs"]
mod inputs;
use inputs::*;

fn releaser() -> Releaser {
    Releaser::new(ReleaserPolicy::default()).expect("valid policy")
}

fn request(model: &str) -> ReleaserInput {
    ReleaserInput::CanaryRequest {
        model_id: model.into(),
        online: stats(5, &[("m0", 100, 10)]),
    }
}

fn is_refused(result: ledgerloop_agents::Result<Vec<Event>>) -> bool {
    matches!(result, Err(Error::Refused { .. }))
}

/// A rejected verdict starts nothing; a canary request for a model without a blessed
/// verdict, or blessed against a former champion, is refused with a typed error.
#[test]
fn unblessed_candidates_are_refused() {
    let r = releaser();
    let rejected = verdict("m1", "m0", "rejected");
    let state = fold::<Releaser>(&[baseline("m0"), Event::VerdictIssued(rejected.clone())]);
    let input = ReleaserInput::Verdict {
        verdict: rejected,
        online: stats(5, &[("m0", 100, 10)]),
    };
    assert_eq!(r.decide(&state, &input).expect("decides"), vec![]);
    assert!(is_refused(r.decide(&state, &request("m1"))));
    assert!(is_refused(r.decide(&state, &request("never-evaluated"))));
    let stale = fold::<Releaser>(&[
        baseline("m0"),
        Event::VerdictIssued(verdict("m1", "m-old", "blessed")),
    ]);
    assert!(is_refused(r.decide(&stale, &request("m1"))));
    let fresh = fold::<Releaser>(&[
        baseline("m0"),
        Event::VerdictIssued(verdict("m1", "m0", "blessed")),
    ]);
    assert!(matches!(
        &r.decide(&fresh, &request("m1")).expect("decides")[..],
        [Event::CanaryStarted(_)]
    ));
}

/// While a canary runs, a second blessed verdict starts nothing and an explicit request
/// is refused: never two canaries.
#[test]
fn never_two_canaries() {
    let r = releaser();
    let mut state = fold::<Releaser>(&[
        baseline("m0"),
        Event::VerdictIssued(verdict("m1", "m0", "blessed")),
        Event::VerdictIssued(verdict("m2", "m0", "blessed")),
    ]);
    let started = r
        .decide_and_evolve(&mut state, &request("m1"))
        .expect("decides");
    assert_eq!(started.len(), 1);
    let second = ReleaserInput::Verdict {
        verdict: verdict("m2", "m0", "blessed"),
        online: stats(6, &[("m0", 110, 11)]),
    };
    assert_eq!(r.decide(&state, &second).expect("decides"), vec![]);
    assert!(is_refused(r.decide(&state, &request("m2"))));
    assert_eq!(route(&state).1.map(|(m, _)| m), Some("m1".to_string()));
}

/// A rolled-back model can never canary again, and a rollback with nothing to restore is
/// refused.
#[test]
fn retired_models_and_empty_rollbacks_are_refused() {
    let r = releaser();
    let mut state = fold::<Releaser>(&[
        baseline("m0"),
        Event::VerdictIssued(verdict("m1", "m0", "blessed")),
    ]);
    let rollback = ReleaserInput::Rollback {
        command: RollbackCommand {
            operator: "ada".into(),
        },
        online: stats(7, &[("m0", 120, 12)]),
    };
    assert!(is_refused(r.decide(&state, &rollback)));
    r.decide_and_evolve(&mut state, &request("m1"))
        .expect("starts");
    r.decide_and_evolve(&mut state, &rollback)
        .expect("rolls back");
    assert!(is_refused(r.decide(&state, &request("m1"))));
    assert!(
        is_refused(r.decide(&ReleaserState::default(), &request("m1"))),
        "no champion yet"
    );
}

/// Policies with impossible steps or thresholds, or unknown keys, are rejected.
#[test]
fn invalid_policies_are_rejected() {
    let d = ReleaserPolicy::default;
    let bad = [
        ReleaserPolicy {
            steps: vec![],
            ..d()
        },
        ReleaserPolicy {
            steps: vec![0.25, 0.05],
            ..d()
        },
        ReleaserPolicy {
            steps: vec![0.05, 0.05],
            ..d()
        },
        ReleaserPolicy {
            steps: vec![0.0, 0.5],
            ..d()
        },
        ReleaserPolicy {
            steps: vec![0.05, 0.75],
            ..d()
        },
        ReleaserPolicy {
            steps: vec![f64::NAN],
            ..d()
        },
        ReleaserPolicy {
            max_canary_fraction: 1.5,
            ..d()
        },
        ReleaserPolicy {
            max_canary_fraction: 0.0,
            ..d()
        },
        ReleaserPolicy {
            max_step_hours: 3,
            ..d()
        },
        ReleaserPolicy {
            rollback_margin_points: 0.5,
            ..d()
        },
        ReleaserPolicy {
            advance_tolerance_points: -1.0,
            ..d()
        },
        ReleaserPolicy {
            guard_min_samples: 0,
            ..d()
        },
    ];
    for policy in bad {
        assert!(
            matches!(
                Releaser::new(policy.clone()),
                Err(Error::InvalidParameter { .. })
            ),
            "{policy:?} was accepted"
        );
    }
    assert!(serde_json::from_str::<ReleaserPolicy>(r#"{"step": [0.1]}"#).is_err());
    let ok: ReleaserPolicy =
        serde_json::from_str(r#"{"steps": [0.1, 1.0], "max_canary_fraction": 1.0}"#)
            .expect("parses");
    assert!(Releaser::new(ok).is_ok());
}

/// Online statistics no real count can produce are refused as invalid input.
#[test]
fn impossible_online_stats_are_refused() {
    let r = releaser();
    let mut state = fold::<Releaser>(&[
        baseline("m0"),
        Event::VerdictIssued(verdict("m1", "m0", "blessed")),
    ]);
    r.decide_and_evolve(&mut state, &request("m1"))
        .expect("starts");
    let bad = [
        stats(8, &[("m0", 100, 101)]),
        stats(4, &[("m0", 200, 20)]),
        stats(8, &[("m0", 50, 5)]),
    ];
    for online in bad {
        let result = r.decide(&state, &ReleaserInput::Tick(online.clone()));
        assert!(
            matches!(result, Err(Error::InvalidInput { .. })),
            "{online:?}: {result:?}"
        );
    }
}

/// Folding the produced (and foreign) events reproduces the state, and re-running decide
/// over the recorded inputs reproduces the recorded events.
#[test]
fn replay_is_deterministic() {
    let r = Releaser::new(ReleaserPolicy {
        require_approval: true,
        ..ReleaserPolicy::default()
    })
    .expect("valid");
    let approval = Event::ApprovalGranted(ApprovalGranted {
        subject_id: "m1".into(),
        operator: "ada".into(),
        note: String::new(),
    });
    let blessed = verdict("m1", "m0", "blessed");
    let script: Vec<(Option<Event>, ReleaserInput)> = vec![
        (Some(baseline("m0")), ReleaserInput::Tick(stats(0, &[]))),
        (
            Some(Event::VerdictIssued(blessed.clone())),
            ReleaserInput::Verdict {
                verdict: blessed,
                online: stats(1, &[("m0", 100, 10)]),
            },
        ),
        (
            None,
            ReleaserInput::Tick(stats(7, &[("m0", 1000, 100), ("m1", 300, 30)])),
        ),
        (
            None,
            ReleaserInput::Tick(stats(13, &[("m0", 2000, 200), ("m1", 900, 90)])),
        ),
        (
            None,
            ReleaserInput::Tick(stats(19, &[("m0", 3000, 300), ("m1", 1900, 190)])),
        ),
        (
            Some(approval),
            ReleaserInput::Tick(stats(20, &[("m0", 3100, 310), ("m1", 2000, 200)])),
        ),
    ];
    let mut state = ReleaserState::default();
    let mut log = Vec::new();
    let mut recorded = Vec::new();
    for (foreign, input) in &script {
        if let Some(event) = foreign {
            Releaser::evolve(&mut state, event);
            log.push(event.clone());
        }
        let events = r.decide_and_evolve(&mut state, input).expect("decides");
        log.extend(events.iter().cloned());
        recorded.push(events);
    }
    let kinds: Vec<&str> = log.iter().map(Event::event_type).collect();
    assert_eq!(
        kinds,
        [
            "BaselineTrained",
            "VerdictIssued",
            "CanaryStarted",
            "CanaryStepAdvanced",
            "CanaryStepAdvanced",
            "ApprovalGranted",
            "ModelPromoted"
        ]
    );
    assert_eq!(fold::<Releaser>(&log), state);
    let mut replay = ReleaserState::default();
    for ((foreign, input), events) in script.iter().zip(&recorded) {
        if let Some(event) = foreign {
            Releaser::evolve(&mut replay, event);
        }
        assert_eq!(
            &r.decide_and_evolve(&mut replay, input).expect("decides"),
            events
        );
    }
    for event in &log {
        event.to_payload_json().expect("finite evidence encodes");
    }
}

//! Given-events / when-input / then-events tests of the Releaser's early promotion of a
//! canary that is significantly better than the champion (`early_promote_min_z`).

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::releaser::{Releaser, ReleaserInput, ReleaserPolicy};
use ledgerloop_events::catalogue::ApprovalGranted;
use ledgerloop_events::Event;

#[path = "support/releaser_inputs.rs"]
mod inputs;
use inputs::*;

/// The default policy with early promotion at z >= 3 behind a guard of z >= 3.
fn early_policy() -> ReleaserPolicy {
    ReleaserPolicy {
        guard_min_z: 3.0,
        early_promote_min_z: 3.0,
        ..ReleaserPolicy::default()
    }
}

fn given_canary(p: &ReleaserPolicy) -> Vec<Event> {
    inputs::given_canary(p.rule())
}

fn tick(hour: u64, canary: (u64, u64), champion: (u64, u64)) -> ReleaserInput {
    ReleaserInput::Tick(stats(
        hour,
        &[
            ("m0", 5000 + champion.0, 500 + champion.1),
            ("m1", canary.0, canary.1),
        ],
    ))
}

fn decide(p: &ReleaserPolicy, given: &[Event], input: &ReleaserInput) -> Vec<Event> {
    let r = Releaser::new(p.clone()).expect("valid policy");
    r.decide(&fold::<Releaser>(given), input).expect("decides")
}

/// A canary at 4% errors against a champion at 10% (z ~ -3.1 on 250 vs 3,000 outcomes)
/// is promoted from the 5% step, with the evidence saying so.
#[test]
fn clearly_better_canary_is_promoted_from_the_first_step() {
    let p = early_policy();
    let events = decide(&p, &given_canary(&p), &tick(16, (250, 10), (3000, 300)));
    let [Event::ModelPromoted(promoted)] = &events[..] else {
        panic!("expected one promotion, got {events:?}");
    };
    assert_eq!((promoted.model_id.as_str(), promoted.hour), ("m1", 16));
    assert_eq!(promoted.evidence.get("step.promoted_early"), Some(1.0));
    assert_eq!(promoted.evidence.get("step.index"), Some(0.0));
    let z = promoted
        .evidence
        .get("step.error_gap_z")
        .expect("z recorded");
    assert!(z <= -3.0, "z {z}");
    assert_eq!(
        promoted.rule.params.get("early_promote_min_z"),
        Some(&serde_json::json!(3.0))
    );
}

/// With early promotion off (the default) the same numbers only advance the step.
#[test]
fn default_policy_walks_the_steps() {
    let p = ReleaserPolicy {
        guard_min_z: 3.0,
        ..ReleaserPolicy::default()
    };
    let events = decide(&p, &given_canary(&p), &tick(16, (250, 10), (3000, 300)));
    assert!(
        matches!(&events[..], [Event::CanaryStepAdvanced(s)] if s.to_fraction == 0.25),
        "{events:?}"
    );
    assert!(!p.rule().params.contains_key("early_promote_min_z"));
}

/// Better but not significantly (z ~ -1.6), too few outcomes for the guard, or too
/// young a step: none of them promotes early.
#[test]
fn early_promotion_needs_significance_samples_and_hours() {
    let p = early_policy();
    let given = given_canary(&p);
    let not_significant = decide(&p, &given, &tick(16, (250, 17), (3000, 300)));
    assert!(
        matches!(&not_significant[..], [Event::CanaryStepAdvanced(_)]),
        "{not_significant:?}"
    );
    let few = decide(&p, &given, &tick(16, (90, 0), (3000, 300)));
    assert_eq!(few, vec![], "90 canary outcomes < guard_min_samples 100");
    let young = decide(&p, &given, &tick(14, (250, 10), (3000, 300)));
    assert_eq!(young, vec![], "4 hours < min_step_hours 6");
}

/// With the approval gate on, a clearly better canary walks on through the steps until
/// an approval names it; then the next clearly better look promotes it early.
#[test]
fn early_promotion_waits_for_approval() {
    let p = ReleaserPolicy {
        require_approval: true,
        ..early_policy()
    };
    let mut given = given_canary(&p);
    let input = tick(16, (250, 10), (3000, 300));
    let unapproved = decide(&p, &given, &input);
    assert!(
        matches!(&unapproved[..], [Event::CanaryStepAdvanced(s)] if s.to_fraction == 0.25),
        "{unapproved:?}"
    );
    given.push(Event::ApprovalGranted(ApprovalGranted {
        subject_id: "m1".into(),
        operator: "alice".into(),
        note: String::new(),
    }));
    let events = decide(&p, &given, &input);
    assert!(
        matches!(&events[..], [Event::ModelPromoted(m)] if m.evidence.get("approval.granted") == Some(1.0)
            && m.evidence.get("step.promoted_early") == Some(1.0)),
        "{events:?}"
    );
}

/// An early-promotion threshold below the guard's, negative or not finite is refused.
#[test]
fn impossible_early_threshold_is_refused() {
    for z in [1.0, -1.0, f64::NAN, f64::INFINITY] {
        let p = ReleaserPolicy {
            early_promote_min_z: z,
            ..early_policy()
        };
        let err = Releaser::new(p).expect_err("refused");
        assert!(err.to_string().contains("early_promote_min_z"), "{err}");
    }
}

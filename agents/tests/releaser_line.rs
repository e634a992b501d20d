//! Given-events / when-input / then-events tests of the Releaser's line
//! (`queue_blessed`): a candidate blessed while another canary runs waits, starts after
//! a rollback, and needs a verdict against the new champion after a promotion.

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::releaser::{Releaser, ReleaserInput, ReleaserPolicy};
use ledgerloop_events::catalogue::ModelPromoted;
use ledgerloop_events::{Event, Evidence};

#[path = "support/releaser_inputs.rs"]
mod inputs;
use inputs::*;

fn line_policy(on: bool) -> ReleaserPolicy {
    ReleaserPolicy {
        queue_blessed: on,
        ..ReleaserPolicy::default()
    }
}

/// m1 canaried against m0 (see `inputs::given_canary`), and m2 blessed against m0
/// while it runs.
fn given_canary_and_line(p: &ReleaserPolicy) -> Vec<Event> {
    let mut given = given_canary(p.rule());
    given.push(Event::VerdictIssued(verdict("m2", "m0", "blessed")));
    given
}

/// m1 at 20% errors over 300 outcomes against m0 at 10%: the guard fires.
fn guard_tick() -> ReleaserInput {
    ReleaserInput::Tick(stats(20, &[("m0", 8000, 800), ("m1", 300, 60)]))
}

fn decide(p: &ReleaserPolicy, given: &[Event], input: &ReleaserInput) -> Vec<Event> {
    let r = Releaser::new(p.clone()).expect("valid policy");
    r.decide(&fold::<Releaser>(given), input).expect("decides")
}

/// The guard rolls m1 back and, in the same decision, m2 (blessed against m0, which
/// serves on) starts its canary at the first step, marked as coming from the line.
#[test]
fn rollback_starts_the_candidate_in_line() {
    let p = line_policy(true);
    let given = given_canary_and_line(&p);
    assert_eq!(fold::<Releaser>(&given).waiting.as_deref(), Some("m2"));
    let events = decide(&p, &given, &guard_tick());
    let [Event::RolledBack(r), Event::CanaryStarted(c)] = &events[..] else {
        panic!("expected a rollback then a canary, got {events:?}");
    };
    assert_eq!((r.model_id.as_str(), r.reason.as_str()), ("m1", "guard"));
    assert_eq!(
        (c.model_id.as_str(), c.champion_model_id.as_str()),
        ("m2", "m0")
    );
    assert_eq!((c.fraction, c.hour), (0.05, 20));
    assert_eq!(
        (c.baseline_champion_served, c.baseline_canary_served),
        (8000, 0)
    );
    assert_eq!(c.evidence.get("canary.from_line"), Some(1.0));
    assert_eq!(
        c.rule.params.get("queue_blessed"),
        Some(&serde_json::json!(true))
    );
    let after = fold::<Releaser>(&[given, events].concat());
    assert_eq!(after.waiting, None);
    assert_eq!(after.canary.map(|c| c.model_id).as_deref(), Some("m2"));
}

/// Without `queue_blessed` (the default) the rollback stands alone and the rule does not
/// mention the setting, so older logs re-derive unchanged.
#[test]
fn default_policy_drops_the_candidate_in_line() {
    let p = line_policy(false);
    let events = decide(&p, &given_canary_and_line(&p), &guard_tick());
    assert!(matches!(&events[..], [Event::RolledBack(_)]), "{events:?}");
    assert!(!p.rule().params.contains_key("queue_blessed"));
}

/// After m1 is promoted, m2's verdict names a stale champion: it is in line but not
/// ready, so a later rollback of another canary could not start it; a fresh verdict
/// against m1 starts it at once.
#[test]
fn promotion_leaves_the_line_waiting_for_a_new_verdict() {
    let p = line_policy(true);
    let mut given = given_canary_and_line(&p);
    given.push(Event::ModelPromoted(ModelPromoted {
        model_id: "m1".into(),
        previous_model_id: "m0".into(),
        hour: 40,
        evidence: Evidence::new(),
        rule: p.rule(),
    }));
    let state = fold::<Releaser>(&given);
    assert_eq!(state.stale_in_line(), Some("m2"));
    assert_eq!(state.ready_in_line(), None);
    let input = ReleaserInput::Verdict {
        verdict: verdict("m2", "m1", "blessed"),
        online: stats(45, &[("m1", 900, 80)]),
    };
    given.push(Event::VerdictIssued(verdict("m2", "m1", "blessed")));
    let events = decide(&p, &given, &input);
    assert!(
        matches!(&events[..], [Event::CanaryStarted(c)] if c.model_id == "m2" && c.champion_model_id == "m1"),
        "{events:?}"
    );
}

/// A candidate in line that is judged again and rejected leaves the line: the next
/// rollback starts nothing.
#[test]
fn rejected_rejudgement_empties_the_line() {
    let p = line_policy(true);
    let mut given = given_canary_and_line(&p);
    given.push(Event::VerdictIssued(verdict("m2", "m0", "rejected")));
    assert_eq!(fold::<Releaser>(&given).waiting, None);
    let events = decide(&p, &given, &guard_tick());
    assert!(matches!(&events[..], [Event::RolledBack(_)]), "{events:?}");
}

/// A stalled step's rollback starts the line too; an operator's rollback does not,
/// because the operator stopped releases on purpose.
#[test]
fn stall_starts_the_line_but_operator_rollback_does_not() {
    let p = line_policy(true);
    let given = given_canary_and_line(&p);
    // 72 hours into the step, short of the 200 outcomes the step needs.
    let stalled = decide(
        &p,
        &given,
        &ReleaserInput::Tick(stats(82, &[("m0", 9000, 900), ("m1", 50, 5)])),
    );
    assert!(
        matches!(&stalled[..], [Event::RolledBack(r), Event::CanaryStarted(c)]
            if r.reason == "stalled" && c.model_id == "m2"),
        "{stalled:?}"
    );
    let operator = decide(
        &p,
        &given,
        &ReleaserInput::Rollback {
            command: ledgerloop_agents::releaser::RollbackCommand {
                operator: "alice".into(),
            },
            online: stats(30, &[("m0", 8000, 800), ("m1", 100, 10)]),
        },
    );
    assert!(
        matches!(&operator[..], [Event::RolledBack(r)] if r.reason == "operator"),
        "{operator:?}"
    );
}

//! Operators over the agents: a scheduled rollback withdraws a canary or restores the
//! previous champion within the hour, and with approval required nothing is promoted
//! until an operator approves.

#[path = "support/governed.rs"]
mod governed;

use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Result};
use governed::*;
use ledgerloop_events::catalogue::{CanaryStepAdvanced, ModelPromoted, RolledBack};
use ledgerloop_events::{Event, RecordedEvent};
use ledgerloop_runtime::config::GovernedConfig;
use ledgerloop_runtime::host::{OperatorAction, OperatorCommand};
use ledgerloop_sim::policy::ServingRoute;

type Events = Vec<(RecordedEvent, Event)>;
type Routes = Arc<Mutex<Vec<(u64, ServingRoute)>>>;

/// Records the route the host publishes each hour.
#[derive(Debug)]
struct RouteLog(Routes);

impl Hooks for RouteLog {
    fn after_observe(&mut self, hour: u64, route: &ServingRoute) {
        self.0.lock().expect("lock").push((hour, route.clone()));
    }
}

/// A finished run: its folder, its events and the route after every hour.
type Finished = (tempfile::TempDir, Events, Vec<(u64, ServingRoute)>);

/// Runs with `config`, returning the events and the published routes.
fn run(config: GovernedConfig) -> Result<Finished> {
    let dir = tempfile::tempdir()?;
    let routes: Routes = Arc::default();
    let hooks = RouteLog(routes.clone());
    run_governed_with(dir.path(), &small_overrides(), config, |p| {
        Box::new(Wrapped { inner: p, hooks })
    })?;
    let events = read_events(&log_dir(dir.path()))?;
    let routes = routes.lock().expect("lock").clone();
    Ok((dir, events, routes))
}

fn route_at(routes: &[(u64, ServingRoute)], hour: u64) -> Result<&ServingRoute> {
    routes
        .iter()
        .find(|(h, _)| *h == hour)
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("no route published at hour {hour}"))
}

fn promotions(events: &Events) -> Vec<ModelPromoted> {
    pick(events, |e| match e {
        Event::ModelPromoted(p) => Some(p),
        _ => None,
    })
}

fn rollbacks(events: &Events) -> Vec<RolledBack> {
    pick(events, |e| match e {
        Event::RolledBack(r) => Some(r),
        _ => None,
    })
}

fn command(hour: u64, action: OperatorAction) -> OperatorCommand {
    OperatorCommand {
        hour,
        action,
        operator: "alice".to_string(),
        model_id: String::new(),
    }
}

/// An operator rollback withdraws a running canary, or undoes a promotion, within the hour.
#[test]
fn operator_rollback_takes_effect_within_the_hour() -> Result<()> {
    let (_base_dir, base, _) = run(fast_release_config()?)?;
    let promoted = promotions(&base)
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("the base run promoted nothing:\n{}", timeline(&base)))?;
    let started = pick(&base, |e| match e {
        Event::CanaryStarted(c) if c.model_id == promoted.model_id => Some(&c.hour),
        _ => None,
    });
    let canary_hour = started
        .first()
        .copied()
        .ok_or_else(|| anyhow!("no canary"))?
        + 3;
    let after_promotion = promoted.hour + 2;

    // (1) While the canary runs.
    let mut config = fast_release_config()?;
    config.host.operator_commands = vec![command(canary_hour, OperatorAction::Rollback)];
    let (dir, events, routes) = run(config)?;
    let tl = timeline(&events);
    assert!(
        route_at(&routes, canary_hour - 1)?.canary.is_some(),
        "no canary before:\n{tl}"
    );
    let r = rollbacks(&events)
        .into_iter()
        .find(|r| r.reason == "operator")
        .ok_or_else(|| anyhow!("no operator rollback:\n{tl}"))?;
    assert_eq!(r.hour, canary_hour);
    assert_eq!(r.model_id, promoted.model_id);
    assert_eq!(r.restored_model_id, promoted.previous_model_id);
    let route = route_at(&routes, canary_hour)?;
    assert_eq!(route.canary, None, "canary still routed after the rollback");
    assert_eq!(route.champion, promoted.previous_model_id);
    // A withdrawn canary is never promoted.
    assert!(
        promotions(&events)
            .iter()
            .all(|p| p.model_id != promoted.model_id),
        "\n{tl}"
    );
    let report = audit_run(dir.path())?;
    assert!(report.passed(), "{:?}", report.mismatches);

    // (2) After the promotion.
    let mut config = fast_release_config()?;
    config.host.operator_commands = vec![command(after_promotion, OperatorAction::Rollback)];
    let (dir, events, routes) = run(config)?;
    let tl = timeline(&events);
    assert_eq!(
        route_at(&routes, after_promotion - 1)?.champion,
        promoted.model_id,
        "\n{tl}"
    );
    let r = rollbacks(&events)
        .into_iter()
        .find(|r| r.reason == "operator")
        .ok_or_else(|| anyhow!("no operator rollback:\n{tl}"))?;
    assert_eq!(r.hour, after_promotion);
    assert_eq!(r.model_id, promoted.model_id);
    assert_eq!(r.restored_model_id, promoted.previous_model_id);
    assert_eq!(
        route_at(&routes, after_promotion)?.champion,
        promoted.previous_model_id
    );
    let report = audit_run(dir.path())?;
    assert!(report.passed(), "{:?}", report.mismatches);
    Ok(())
}

/// A rollback with nothing to roll back is refused with a note, and the run goes on.
#[test]
fn operator_rollback_with_nothing_to_restore_is_noted() -> Result<()> {
    let mut config = fast_release_config()?;
    config.host.operator_commands = vec![command(170, OperatorAction::Rollback)];
    let (_dir, events, routes) = run(config)?;
    let notes: Vec<String> = pick(&events, |e| match e {
        Event::OperatorNoted(n) => Some(&n.text),
        _ => None,
    });
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("rollback refused"), "{notes:?}");
    assert!(rollbacks(&events).iter().all(|r| r.hour != 170));
    assert!(routes.len() > 24 * 10, "the run stopped early");
    Ok(())
}

/// With approval required a ready canary is held until an operator approves, then promoted.
#[test]
fn promotion_waits_for_approval() -> Result<()> {
    let mut config = fast_release_config()?;
    config.releaser.require_approval = true;
    let last_step = config.releaser.steps.len() as u32 - 1;
    let (_dir, held, _) = run(config.clone())?;
    let tl = timeline(&held);
    let at_last: Vec<CanaryStepAdvanced> = pick(&held, |e| match e {
        Event::CanaryStepAdvanced(s) if s.step_index == last_step => Some(s),
        _ => None,
    });
    let first = at_last
        .first()
        .ok_or_else(|| anyhow!("no canary reached the last step:\n{tl}"))?
        .clone();
    assert!(
        promotions(&held).is_empty(),
        "promoted without approval:\n{tl}"
    );
    // The held canary is neither promoted nor stalled out while it waits.
    assert!(
        rollbacks(&held)
            .iter()
            .all(|r| !(r.model_id == first.model_id && r.reason == "stalled")),
        "a canary waiting for approval was rolled back as stalled:\n{tl}"
    );

    let approve_at = first.hour + 12;
    config.host.operator_commands = vec![command(approve_at, OperatorAction::Approve)];
    let (dir, events, routes) = run(config)?;
    let tl = timeline(&events);
    let (granted_at, granted) = events
        .iter()
        .find_map(|(r, e)| match e {
            Event::ApprovalGranted(a) => Some((r.position, a.clone())),
            _ => None,
        })
        .ok_or_else(|| anyhow!("no approval recorded:\n{tl}"))?;
    assert_eq!(
        granted.subject_id, first.model_id,
        "the approval named another model"
    );
    let (promoted_at, promoted) = events
        .iter()
        .find_map(|(r, e)| match e {
            Event::ModelPromoted(p) => Some((r.position, p.clone())),
            _ => None,
        })
        .ok_or_else(|| anyhow!("approved but never promoted:\n{tl}"))?;
    assert_eq!(promoted.model_id, first.model_id);
    assert!(
        promoted_at > granted_at && promoted.hour >= approve_at,
        "\n{tl}"
    );
    assert_eq!(promoted.evidence.0.get("approval.granted"), Some(&1.0));
    assert_eq!(promoted.evidence.0.get("approval.required"), Some(&1.0));
    assert_eq!(route_at(&routes, promoted.hour)?.champion, first.model_id);
    let report = audit_run(dir.path())?;
    assert!(report.passed(), "{:?}", report.mismatches);
    Ok(())
}

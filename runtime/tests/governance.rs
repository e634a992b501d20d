//! The Releaser's online safeguard in a governed run: a canary that serves badly is
//! rolled back by the guard. (Corrupted labels are judged in `flipped_labels.rs`: in a
//! governed run the blessed candidates beat a champion broken by drift by tens of points,
//! so even noisy labels rightly win there.)

#[path = "support/governed.rs"]
mod governed;

use std::sync::Arc;

use anyhow::{anyhow, Result};
use governed::*;
use ledgerloop_events::catalogue::{CanaryStarted, RolledBack};
use ledgerloop_events::Event;
use ledgerloop_sim::data::Inputs;
use ledgerloop_sim::learner::Classifier;
use ledgerloop_sim::policy::ServingRoute;

/// A classifier that predicts the other class of a binary task.
#[derive(Debug)]
struct Inverted(Arc<dyn Classifier>);

impl Classifier for Inverted {
    fn predict(&self, inputs: &Inputs, out: &mut Vec<u32>) -> ledgerloop_sim::Result<()> {
        self.0.predict(inputs, out)?;
        for p in out.iter_mut() {
            *p = 1 - (*p).min(1);
        }
        Ok(())
    }
}

/// Serves every version but the first champion inverted.
#[derive(Debug)]
struct InvertNewModels {
    first: Option<String>,
}

impl Hooks for InvertNewModels {
    fn model(
        &self,
        version: &str,
        _route: &ServingRoute,
        served: Option<Arc<dyn Classifier>>,
    ) -> Option<Arc<dyn Classifier>> {
        match (&self.first, served) {
            (Some(first), Some(model)) if first != version => Some(Arc::new(Inverted(model))),
            (_, served) => served,
        }
    }

    fn after_observe(&mut self, _hour: u64, route: &ServingRoute) {
        self.first.get_or_insert_with(|| route.champion.clone());
    }
}

/// An inverted canary is rolled back by the guard as soon as guard_min_samples outcomes arrive.
#[test]
fn inverted_canary_is_rolled_back_by_guard() -> Result<()> {
    let config = fast_release_config()?;
    let min = config.releaser.guard_min_samples as f64;
    let dir = tempfile::tempdir()?;
    let out = dir.path();
    let hooks = InvertNewModels { first: None };
    run_governed_with(out, &small_overrides(), config, |p| {
        Box::new(Wrapped { inner: p, hooks })
    })?;
    let events = read_events(&log_dir(out))?;
    let tl = timeline(&events);
    let canary: CanaryStarted = pick(&events, |e| match e {
        Event::CanaryStarted(c) => Some(c),
        _ => None,
    })
    .into_iter()
    .next()
    .ok_or_else(|| anyhow!("no canary started:\n{tl}"))?;
    let rollback: RolledBack = pick(&events, |e| match e {
        Event::RolledBack(r) if r.model_id == canary.model_id => Some(r),
        _ => None,
    })
    .into_iter()
    .next()
    .ok_or_else(|| anyhow!("the inverted canary was never rolled back:\n{tl}"))?;
    assert_eq!(rollback.reason, "guard", "\n{tl}");
    assert_eq!(rollback.restored_model_id, canary.champion_model_id);
    assert_eq!(count(&events, "ModelPromoted"), 0, "\n{tl}");
    let ev = &rollback.evidence.0;
    let served = ev["step.canary_served"];
    assert!(served >= min, "guard fired on {served} < {min} outcomes");
    assert!(ev["step.canary_error_rate"] > 0.5, "{ev:?}");
    assert!(ev["step.error_gap_points"] > ev["threshold.rollback_margin_points"]);

    // At the analysis one hour earlier, fewer than guard_min_samples had arrived.
    let outcomes_until = |hour: u64| -> u64 {
        pick(&events, |e| match e {
            Event::FeedbackRecorded(f) if f.model_id == canary.model_id && f.hour <= hour => {
                Some(&f.outcomes)
            }
            _ => None,
        })
        .iter()
        .sum::<u64>()
            - canary.baseline_canary_served
    };
    assert_eq!(
        outcomes_until(rollback.hour) as f64,
        served,
        "tally and evidence differ"
    );
    assert!(
        (outcomes_until(rollback.hour - 1) as f64) < min,
        "the guard could have fired before hour {}",
        rollback.hour
    );

    // Without the inversion the same canary is not stopped by the guard.
    let clean_dir = tempfile::tempdir()?;
    run_governed(clean_dir.path(), &small_overrides(), fast_release_config()?)?;
    let clean = read_events(&log_dir(clean_dir.path()))?;
    let guarded = clean.iter().any(|(_, e)| {
        matches!(e, Event::RolledBack(r) if r.model_id == canary.model_id && r.reason == "guard")
    });
    assert!(
        !guarded,
        "the clean canary was guarded too:\n{}",
        timeline(&clean)
    );

    let report = audit_run(out)?;
    assert!(report.passed(), "{:?}", report.mismatches);
    Ok(())
}

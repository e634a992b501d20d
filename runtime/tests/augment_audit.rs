//! A governed run whose Trainer augments its tabular jobs (`[trainer.augment]`): every
//! job records what it added on `ModelTrained`, the audit re-derives the decisions that
//! asked for it, and the deep audit re-runs every job and reproduces both the record and
//! the artifact hash.

#[path = "support/governed.rs"]
mod governed;

use anyhow::{anyhow, Result};
use governed::*;
use ledgerloop_agents::trainer::{AugmentClassWeights, AugmentMethod, AugmentPolicy};
use ledgerloop_events::catalogue::{ModelTrained, TrainingStarted};
use ledgerloop_events::Event;
use ledgerloop_runtime::workers::augment::AUGMENT_STREAM;

/// Augmented jobs record method, counts and seed; `audit --deep` reproduces artifacts and records.
#[test]
fn augmented_jobs_are_recorded_and_reproduced_by_the_deep_audit() -> Result<()> {
    let mut config = small_config()?;
    // Raising the minority class to half the rows makes every job augment (the two ONT
    // classes are never exactly balanced), so the test cannot pass vacuously.
    config.trainer.augment = Some(AugmentPolicy {
        method: AugmentMethod::SmoteJitter,
        target_share: 0.5,
        neighbours: 5,
        jitter_std: 0.05,
        max_synthetic_per_real: 5.0,
        class_weights: AugmentClassWeights::AugmentedCounts,
    });
    let dir = tempfile::tempdir()?;
    let out = dir.path();
    run_governed(out, &small_overrides(), config)?;

    let events = read_events(&log_dir(out))?;
    let started: Vec<TrainingStarted> = pick(&events, |e| match e {
        Event::TrainingStarted(s) => Some(s),
        _ => None,
    });
    let trained: Vec<ModelTrained> = pick(&events, |e| match e {
        Event::ModelTrained(m) => Some(m),
        _ => None,
    });
    assert!(!trained.is_empty(), "no job trained");
    for s in &started {
        assert_eq!(s.evidence.get("augment.method"), Some(3.0), "{}", s.job_id);
        assert!(s.rule.params.contains_key("augment"), "{}", s.job_id);
    }
    for m in &trained {
        let a = m
            .augmentation
            .as_ref()
            .ok_or_else(|| anyhow!("{} has no augmentation record", m.job_id))?;
        assert_eq!(a.method, "smote_jitter");
        assert_eq!(a.class_weights, "augmented_counts");
        assert!(a.synthetic_rows > 0, "{}: no synthetic rows", m.job_id);
        assert_eq!(a.synthetic_rows, a.synthetic_per_class.iter().sum::<u64>());
        let s = started
            .iter()
            .find(|s| s.job_id == m.job_id)
            .ok_or_else(|| anyhow!("{} was never started", m.job_id))?;
        let job = ledgerloop_agents::trainer::TrainingJob::from_started(s)?;
        assert_eq!(a.seed, job.seed ^ AUGMENT_STREAM);
    }

    let report = ledgerloop_runtime::audit::audit(&log_dir(out), &inputs_dir(out), true)?;
    assert!(report.passed(), "{:?} {:?}", report.mismatches, report.deep);
    let deep = report.deep.ok_or_else(|| anyhow!("no deep report"))?;
    assert!(deep.models_checked > trained.len() as u64, "{deep:?}");
    assert_eq!(deep.models_reproduced, deep.models_checked, "{deep:?}");
    Ok(())
}

//! A training worker that fails (warm-started jobs diverge) is recorded as a fact, the
//! champion keeps serving, the run completes, and the audit still passes.

#[path = "support/governed.rs"]
mod governed;

use std::collections::BTreeSet;

use anyhow::Result;
use governed::*;
use ledgerloop_events::Event;
use ledgerloop_runtime::config::GovernedConfig;

/// Warm-started jobs (every severity mapped to fine-tuning) train with a learning rate
/// that makes the loss overflow; the initial from-scratch fit keeps a sane one.
fn diverging_config() -> Result<GovernedConfig> {
    let mut config = small_config()?;
    config.host.fine_tune_learning_rate = 1e30;
    config.trainer.low = ledgerloop_agents::trainer::Strategy::FineTune;
    config.trainer.medium = config.trainer.low;
    config.trainer.high = config.trainer.low;
    // A suggested heavier strategy (`full`, from scratch) would train with the sane rate.
    config.trainer.follow_suggestion = false;
    Ok(config)
}

/// Diverging jobs are recorded as TrainingFailed, the baseline serves on, the audit passes.
#[test]
fn diverging_training_is_recorded_and_champion_serves_on() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path();
    let summary = run_governed(out, &small_overrides(), diverging_config()?)?;
    assert!(!summary.days.is_empty(), "the run did not complete");

    let events = read_events(&log_dir(out))?;
    let tl = timeline(&events);
    let started: Vec<(uuid::Uuid, String, String)> = events
        .iter()
        .filter_map(|(r, e)| match e {
            Event::TrainingStarted(s) => Some((r.id, s.job_id.clone(), s.strategy.clone())),
            _ => None,
        })
        .collect();
    assert!(!started.is_empty(), "no job started:\n{tl}");
    assert!(
        started.iter().all(|(_, _, s)| s != "full"),
        "a from-scratch job ran, the test needs warm starts only:\n{tl}"
    );

    let diverged = ledgerloop_models::Error::Diverged {
        epoch: 1,
        loss: f64::NAN,
    }
    .to_string();
    let diverged = diverged
        .split(" at epoch")
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(!diverged.is_empty());
    let failed: Vec<_> = events
        .iter()
        .filter_map(|(r, e)| match e {
            Event::TrainingFailed(f) => Some((r.clone(), f.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), started.len(), "every job must fail:\n{tl}");
    for ((started_id, job, _), (r, f)) in started.iter().zip(&failed) {
        assert_eq!(&f.job_id, job);
        assert_eq!(r.stream.as_str(), "workers");
        assert_eq!(
            r.causation_id,
            Some(*started_id),
            "failure not caused by its start"
        );
        // The models crate's `Error::Diverged` (a NaN or infinite epoch loss).
        assert!(
            f.reason.contains(&diverged) && (f.reason.contains("NaN") || f.reason.contains("inf")),
            "{job} failed for another reason: {}",
            f.reason
        );
    }

    // No failed job produced a model; nothing reached a canary or promotion.
    let failed_jobs: BTreeSet<&str> = failed.iter().map(|(_, f)| f.job_id.as_str()).collect();
    for (_, e) in &events {
        if let Event::ModelTrained(m) = e {
            assert!(
                !failed_jobs.contains(m.job_id.as_str()),
                "{} both failed and trained",
                m.job_id
            );
        }
    }
    assert_eq!(count(&events, "ModelTrained"), 0, "\n{tl}");
    assert_eq!(count(&events, "CanaryStarted"), 0, "\n{tl}");
    assert_eq!(count(&events, "ModelPromoted"), 0, "\n{tl}");

    // Only the baseline's predictions were ever judged online: it served throughout.
    let baseline: Vec<String> = pick(&events, |e| match e {
        Event::BaselineTrained(b) if b.arm == "governed" => Some(&b.model_id),
        _ => None,
    });
    assert_eq!(baseline.len(), 1);
    let served: BTreeSet<String> = events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::FeedbackRecorded(f) => Some(f.model_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(served, BTreeSet::from([baseline[0].clone()]), "\n{tl}");

    // The Trainer saw the failures: it retried with back-off and then gave up.
    assert!(started.len() >= 2, "no retry after a failure:\n{tl}");
    assert!(count(&events, "RetrainDeferred") >= 1, "\n{tl}");

    let report = audit_run(out)?;
    assert!(report.passed(), "{:?}", report.mismatches);
    assert!(report.agents["trainer"].decisions_recorded > 0);
    Ok(())
}

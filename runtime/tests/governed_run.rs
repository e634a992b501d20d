//! A small governed ONT run end to end: the log verifies, the audit re-derives every
//! decision, drift leads to training and verdicts, `explain` walks back to the evidence,
//! and the same seed writes the same log.

#[path = "support/governed.rs"]
mod governed;

use std::collections::BTreeSet;

use anyhow::{ensure, Result};
use governed::*;
use ledgerloop_events::verify::{verify, VerifyOptions};
use ledgerloop_events::Event;
use ledgerloop_runtime::explain::explain;
use ledgerloop_runtime::step::Role;

/// A governed run's log verifies, audits clean, trains and judges, and explains its models.
#[test]
fn governed_run_verifies_audits_and_explains() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path();
    run_governed(out, &small_overrides(), small_config()?)?;
    let log = log_dir(out);

    let verified = verify(
        &log,
        VerifyOptions {
            decode_payloads: true,
        },
    )?;
    assert!(verified.events > 0, "empty log");

    let events = read_events(&log)?;
    let report = audit_run(out)?;
    assert!(
        report.passed(),
        "audit failed: {:?}",
        &report.mismatches[..report.mismatches.len().min(5)]
    );
    assert_eq!(report.mismatch_count, 0);
    assert!(report.decisions_recorded() > 0);
    assert_eq!(report.decisions_rederived(), report.decisions_recorded());
    assert_eq!(report.events, events.len() as u64);
    for role in Role::ALL {
        let agent = report
            .agents
            .get(role.name())
            .ok_or_else(|| anyhow::anyhow!("no audit entry for {}", role.name()))?;
        assert!(
            agent.inputs > 0,
            "{} got no inputs: {report:?}",
            role.name()
        );
    }

    let tl = timeline(&events);
    assert!(count(&events, "TrainingStarted") >= 1, "no training:\n{tl}");
    assert!(
        count(&events, "ModelTrained") >= 1,
        "no trained model:\n{tl}"
    );
    assert!(count(&events, "VerdictIssued") >= 1, "no verdict:\n{tl}");

    let trained: Vec<String> = pick(&events, |e| match e {
        Event::ModelTrained(m) => Some(&m.model_id),
        _ => None,
    });
    let mut reaches_request = Vec::new();
    for model in &trained {
        let chain = explain(&log, model)?;
        let types: Vec<&str> = chain.iter().map(|l| l.event_type.as_str()).collect();
        assert!(chain.len() >= 3, "chain of {model} too short: {types:?}");
        // The chain starts at the model's promotion or its training.
        assert_eq!(
            chain[0].payload["model_id"].as_str(),
            Some(model.as_str()),
            "{types:?}"
        );
        assert!(types.contains(&"TrainingStarted"), "{model}: {types:?}");
        // The causal walk ends at an input; a retrain that continued an alarm episode
        // adds the alarm that opened it after that, marked with a note.
        let causal: Vec<&str> = chain
            .iter()
            .filter(|l| l.note.is_none())
            .map(|l| l.event_type.as_str())
            .collect();
        assert_eq!(causal.last(), Some(&"InputRecorded"), "{model}: {types:?}");
        for opener in chain.iter().filter(|l| l.note.is_some()) {
            assert_eq!(opener.event_type, "DriftDetected", "{model}: {types:?}");
        }
        // Newest first: each link's cause was written before it.
        for pair in chain.windows(2) {
            assert!(pair[0].position > pair[1].position, "{model}: {types:?}");
        }
        if types.contains(&"RetrainRequested") {
            reaches_request.push(model.clone());
        }
    }
    assert!(
        !reaches_request.is_empty(),
        "no trained model explains back to a RetrainRequested:\n{tl}"
    );
    Ok(())
}

/// Two runs with the same seed write identical (stream, type, payload) sequences.
#[test]
fn same_seed_writes_same_log() -> Result<()> {
    let a = tempfile::tempdir()?;
    let b = tempfile::tempdir()?;
    let overrides = overrides_with(&["scenario.days=12"]);
    run_governed(a.path(), &overrides, small_config()?)?;
    run_governed(b.path(), &overrides, small_config()?)?;
    let a = read_events(&log_dir(a.path()))?;
    let b = read_events(&log_dir(b.path()))?;
    ensure!(
        count(&a, "ModelTrained") >= 1,
        "the run trained nothing, so training determinism is not exercised:\n{}",
        timeline(&a)
    );
    let key = |(r, _): &(ledgerloop_events::RecordedEvent, Event)| {
        (
            r.stream.as_str().to_string(),
            r.event_type.clone(),
            r.payload.clone(),
        )
    };
    let ka: Vec<_> = a.iter().map(key).collect();
    let kb: Vec<_> = b.iter().map(key).collect();
    if let Some(i) = (0..ka.len().min(kb.len())).find(|&i| ka[i] != kb[i]) {
        panic!(
            "runs diverge at position {i}: {} {} {}\n vs {} {} {}",
            ka[i].0,
            ka[i].1,
            String::from_utf8_lossy(&ka[i].2),
            kb[i].0,
            kb[i].1,
            String::from_utf8_lossy(&kb[i].2)
        );
    }
    assert_eq!(ka.len(), kb.len(), "one log is a prefix of the other");
    // Ids, times and hashes are deterministic too (UUID v7 from virtual time and seed).
    let ids_a: Vec<_> = a.iter().map(|(r, _)| (r.id, r.hash)).collect();
    let ids_b: Vec<_> = b.iter().map(|(r, _)| (r.id, r.hash)).collect();
    assert_eq!(ids_a, ids_b, "same payloads but different ids or hashes");
    let streams: BTreeSet<&str> = a.iter().map(|(r, _)| r.stream.as_str()).collect();
    assert!(
        streams.contains("trainer") && streams.contains("workers"),
        "{streams:?}"
    );
    Ok(())
}

/// Every trained model explains back to its RetrainRequested, also for label-deferred jobs.
#[test]
fn every_trained_model_explains_back_to_its_request() -> Result<()> {
    let dir = tempfile::tempdir()?;
    run_governed(dir.path(), &small_overrides(), small_config()?)?;
    let log = log_dir(dir.path());
    let events = read_events(&log)?;
    let trained: Vec<String> = pick(&events, |e| match e {
        Event::ModelTrained(m) => Some(&m.model_id),
        _ => None,
    });
    assert!(!trained.is_empty(), "{}", timeline(&events));
    for model in &trained {
        let chain = explain(&log, model)?;
        let types: Vec<&str> = chain.iter().map(|l| l.event_type.as_str()).collect();
        assert!(types.contains(&"RetrainRequested"), "{model}: {types:?}");
    }
    Ok(())
}

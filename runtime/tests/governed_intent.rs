//! The governed loop on the intent world (text): a hashed n-gram classifier serves, the
//! agents notice the new intent, retrain and release, and the auditor re-derives every
//! decision and re-trains every model.

use std::path::Path;

use anyhow::{anyhow, Result};
use ledgerloop_events::{Event, FileLog};
use ledgerloop_runtime::audit::audit;
use ledgerloop_runtime::config::GovernedConfig;
use ledgerloop_runtime::host::{GovernedPolicy, INPUTS_DIR};
use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::run::{open_fresh_log, run_with_log};

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ has a parent")
        .to_path_buf()
}

/// F1 of class `k` from a day's served confusion (`counts[truth * n + predicted]`).
fn f1(day: &serde_json::Value, k: usize) -> Option<f64> {
    let c = &day["served"]["confusion"];
    let n = c["n_classes"].as_u64()? as usize;
    let m: Vec<u64> = c["counts"]
        .as_array()?
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    let tp = m[k * n + k];
    let fn_ = (0..n).map(|j| m[k * n + j]).sum::<u64>() - tp;
    let fp = (0..n).map(|i| m[i * n + k]).sum::<u64>() - tp;
    Some(2.0 * tp as f64 / (2 * tp + fn_ + fp).max(1) as f64)
}

/// Within 7 days of its launch the new intent is recognised (F1 >= 0.85), by a model the agents trained and released; the audit re-derives every decision and re-trains every model.
#[test]
fn new_intent_is_learnt_within_a_week_and_audits() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path();
    let overrides = vec!["scenario.days=30".to_string()];
    let scenario_file = repo().join("scenarios/intent.toml");
    let scenario = Scenario::load(&scenario_file, &overrides)?;
    let config = GovernedConfig::load(&repo().join("scenarios/agents/intent.toml"))?;
    let log: ledgerloop_events::SharedLog = std::sync::Arc::new(open_fresh_log(out)?);
    let mut host = GovernedPolicy::new(config, "tests", log.clone(), out)?;
    run_with_log(&scenario, &overrides, &mut host, out, log)?;

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json"))?)?;
    let intents = scenario
        .intent
        .as_ref()
        .ok_or_else(|| anyhow!("no [intent]"))?;
    let new = &intents.drift.new_intent;
    let k = intents
        .intents
        .iter()
        .position(|i| i.name == new.intent)
        .ok_or_else(|| anyhow!("new intent not listed"))?;
    let days = summary["days"]
        .as_array()
        .ok_or_else(|| anyhow!("no days"))?;
    let deadline = new.start_day as usize + 7;
    let learnt = days[..=deadline]
        .iter()
        .filter_map(|d| f1(d, k))
        .fold(0.0f64, f64::max);
    assert!(
        learnt >= 0.85,
        "new intent F1 by day {deadline}: {learnt:.3}"
    );

    let log = FileLog::open_read_only(out.join("log"))?;
    let mut promoted = 0;
    for r in log.read_all(0)? {
        if let Event::ModelPromoted(p) = r?.decode()? {
            assert!(p.model_id.starts_with("text-"), "{}", p.model_id);
            promoted += 1;
        }
    }
    assert!(promoted >= 1, "no text model was promoted");

    let report = audit(&out.join("log"), &out.join(INPUTS_DIR), true)?;
    assert!(report.passed(), "{:?}", report.mismatches);
    let deep = report.deep.ok_or_else(|| anyhow!("no deep report"))?;
    assert!(deep.models_checked >= 2 && deep.models_reproduced == deep.models_checked);
    Ok(())
}

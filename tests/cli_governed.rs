//! The governed loop as a researcher and an auditor use it through the CLI: `sim` runs
//! the agents, `audit` re-derives every decision (exit 0), `explain` shows a model's
//! chain back to its retrain request, and a bad agents policy is refused up front.

#[path = "support/cli.rs"]
mod cli;

use cli::{ledgerloop, run_governed, text};

/// `sim` governs by default, `audit` re-derives every decision and `explain` walks a trained model back to its retrain request.
#[test]
fn governed_sim_audits_and_explains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    let run = run_governed(&out, &[]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(out.join("inputs").is_dir() && out.join("artifacts").is_dir());

    let log = out.join("log");
    let log = log.to_str().expect("utf-8");
    let audit = ledgerloop(&["audit", log]);
    let report = text(&audit);
    assert!(audit.status.success(), "{report}");
    assert!(report.contains("mismatches: 0"), "{report}");

    let shown = ledgerloop(&["log", "show", log, "--stream", "workers", "--json"]);
    assert!(shown.status.success(), "{}", text(&shown));
    let model = String::from_utf8_lossy(&shown.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event_type"] == "ModelTrained")
        .and_then(|v| v["payload"]["model_id"].as_str().map(str::to_string))
        .expect("a model was trained in 14 days with a firmware rollout");
    let explained = ledgerloop(&["explain", &model, "--log", log]);
    let chain = text(&explained);
    assert!(explained.status.success(), "{chain}");
    assert!(chain.starts_with("ModelTrained"), "{chain}");
    assert!(chain.contains("TrainingStarted"), "{chain}");
    assert!(chain.contains("RetrainRequested"), "{chain}");
}

/// An agents policy with a misspelt key is refused before the run, naming the key and the file; nothing is simulated and no log is created.
#[test]
fn bad_agents_policy_is_refused_before_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("agents.toml");
    std::fs::write(&policy, "[trainer]\nmin_fresh_label = 10\n").expect("write");
    let out = dir.path().join("run");
    let run = run_governed(&out, &["--agents", policy.to_str().expect("utf-8")]);
    let message = text(&run);
    assert!(!run.status.success(), "{message}");
    assert!(message.contains("min_fresh_label"), "{message}");
    assert!(message.contains("agents.toml"), "{message}");
    assert!(!out.join("summary.json").exists());
    assert!(
        !out.join("log").exists(),
        "a refused policy left a log behind"
    );
}

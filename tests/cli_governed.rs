//! The governed loop as a researcher and an auditor use it through the CLI: `sim` runs
//! the agents, `audit` re-derives every decision (exit 0), `explain` shows a model's
//! chain back to its retrain request, and a bad agents policy is refused up front.

#[path = "support/cli.rs"]
mod cli;

use cli::{ledgerloop, run_governed, text};

/// `sim` governs by default, `audit` re-derives every decision, `explain` walks a trained model back to its retrain request, and `audit --deep` reproduces every artifact and catches a replaced weights file.
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
    let trained = String::from_utf8_lossy(&shown.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event_type"] == "ModelTrained")
        .map(|v| v["payload"].clone())
        .expect("a model was trained in 14 days with a firmware rollout");
    let (model, weights) = (
        trained["model_id"].as_str().expect("id").to_string(),
        trained["artifact_sha256"]
            .as_str()
            .expect("sha")
            .to_string(),
    );
    let explained = ledgerloop(&["explain", &model, "--log", log]);
    let chain = text(&explained);
    assert!(explained.status.success(), "{chain}");
    assert!(chain.starts_with("ModelTrained"), "{chain}");
    assert!(chain.contains("TrainingStarted"), "{chain}");
    assert!(chain.contains("RetrainRequested"), "{chain}");

    let deep = ledgerloop(&["audit", log, "--deep"]);
    let report = text(&deep);
    assert!(deep.status.success(), "{report}");
    assert!(report.contains("stored artifacts"), "{report}");
    // Replace the trained model's stored weights with another valid stored blob.
    let other = std::fs::read_dir(out.join("inputs"))
        .expect("inputs")
        .next()
        .expect("an input")
        .expect("entry")
        .path();
    let stored = out.join("artifacts").join(format!("{weights}.gz"));
    std::fs::copy(&other, &stored).expect("replace the weights");
    let deep = ledgerloop(&["audit", log, "--deep"]);
    let report = text(&deep);
    assert_eq!(deep.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("{model}: the stored weights")),
        "{report}"
    );
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

//! Rare-intent text augmentation in the governed intent loop, through the CLI: with
//! `[trainer.augment_text]` every text job records what it added on `ModelTrained`, the
//! new intent's messages are the ones augmented, and `audit --deep` re-runs every job and
//! reproduces both the records and the weights; a bad table is refused before the run.

#[path = "support/cli.rs"]
mod cli;

use std::path::Path;

use cli::{ledgerloop, repo_file, text};
use ledgerloop_runtime::config::GovernedConfig;
use ledgerloop_runtime::workers::augment_text::{lexicon_sha256, METHOD};
use serde_json::Value;

/// Index of `mesh_wifi_order`, the new intent, in `scenarios/intent.toml` (the last one).
const NEW_INTENT: usize = 16;
/// Launch day of the new intent in the short run (the scenario's is day 20).
const LAUNCH_DAY: &str = "intent.drift.new_intent.start_day=2";

/// A short intent run (9 days, the new intent launched on day 2) into `out`, governed
/// by the agents policy `agents`.
fn run_intent(out: &Path, agents: &str) -> std::process::Output {
    let scenario = repo_file("scenarios/intent.toml");
    let out = out.to_str().expect("utf-8");
    ledgerloop(&[
        "--quiet",
        "sim",
        "--scenario",
        &scenario,
        "--agents",
        agents,
        "--days",
        "9",
        "--set",
        LAUNCH_DAY,
        "--out",
        out,
    ])
}

/// The payloads of `event_type` events on `stream` of the log in `log`.
fn payloads(log: &str, stream: &str, event_type: &str) -> Vec<Value> {
    let shown = ledgerloop(&["log", "show", log, "--stream", stream, "--json"]);
    assert!(shown.status.success(), "{}", text(&shown));
    String::from_utf8_lossy(&shown.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event_type"] == event_type)
        .map(|v| v["payload"].clone())
        .collect()
}

/// Every text job of an augmenting run records method, variants per intent, seed and lexicon hash; the new intent gets variants; `audit --deep` reproduces records and weights.
#[test]
fn text_jobs_record_their_augmentation_and_the_deep_audit_redoes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    let policy = repo_file("scenarios/agents/intent-augment.toml");
    let run = run_intent(&out, &policy);
    assert!(run.status.success(), "{}", text(&run));
    let lexicon = GovernedConfig::load(Path::new(&policy))
        .expect("policy")
        .trainer
        .augment_text
        .expect("the policy has a [trainer.augment_text] table")
        .lexicon;

    let log = out.join("log");
    let log = log.to_str().expect("utf-8");
    let started = payloads(log, "trainer", "TrainingStarted");
    assert!(!started.is_empty(), "no job started in 9 days");
    for s in &started {
        assert!(
            s["rule"]["params"]["augment_text"]["lexicon"].is_array(),
            "{s}"
        );
    }
    let trained = payloads(log, "workers", "ModelTrained");
    assert!(!trained.is_empty(), "no job trained in 9 days");
    let mut new_intent_variants = 0;
    for m in &trained {
        let a = &m["augmentation"];
        assert_eq!(a["method"], METHOD, "{m}");
        assert_eq!(a["class_weights"], "none", "{m}");
        assert_eq!(a["lexicon_sha256"], lexicon_sha256(&lexicon), "{m}");
        let per_class: Vec<u64> = a["synthetic_per_class"]
            .as_array()
            .expect("per class")
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        assert_eq!(a["synthetic_rows"], per_class.iter().sum::<u64>(), "{m}");
        new_intent_variants += per_class.get(NEW_INTENT).copied().unwrap_or(0);
    }
    assert!(
        new_intent_variants > 0,
        "the new intent was never augmented"
    );

    let deep = ledgerloop(&["audit", log, "--deep"]);
    let report = text(&deep);
    assert!(deep.status.success(), "{report}");
    assert!(report.contains("mismatches: 0"), "{report}");
}

/// A misspelt key or an empty lexicon side in `[trainer.augment_text]` is refused before the run, naming it; no log is written.
#[test]
fn bad_text_augmentation_table_is_refused_before_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base =
        std::fs::read_to_string(repo_file("scenarios/agents/intent-augment.toml")).expect("policy");
    let cases = [
        (
            "copies_per_row = 5",
            "copies_per_rows = 5",
            "copies_per_rows",
        ),
        ("[\"网速\", \"speed\"]", "[\"网速\", \"\"]", "lexicon"),
    ];
    for (i, (from, to, named)) in cases.into_iter().enumerate() {
        assert!(base.contains(from), "the policy no longer has `{from}`");
        let policy = dir.path().join(format!("bad-{i}.toml"));
        std::fs::write(&policy, base.replacen(from, to, 1)).expect("write");
        let out = dir.path().join(format!("run-{i}"));
        let run = run_intent(&out, policy.to_str().expect("utf-8"));
        let message = text(&run);
        assert!(!run.status.success(), "{message}");
        assert!(message.contains(named), "{message}");
        assert!(!out.join("log").exists(), "a log was written");
    }
}

//! Transfer through the CLI: a new fleet's run started from another run's champion
//! (`--warm-start-from`) reaches the target accuracy with fewer labels than the same run
//! started cold, records its source in the log, and audits clean; bad sources are refused
//! with errors naming what is wrong.

#[path = "support/cli.rs"]
mod cli;

use std::path::{Path, PathBuf};

use cli::{ledgerloop, repo_file, text};
use serde_json::Value;

/// Seed of every run here (the README's figures use other seeds).
const SEED: &str = "3";
/// Fleet size of the test runs.
const DEVICES: &str = "ont.devices=1500";
/// Days of the source run (ONT offline, no drift starts in them).
const SOURCE_DAYS: &str = "4";
/// Days of the target runs (the new-model fleet).
const TARGET_DAYS: &str = "6";
/// Accuracy on the day's class-balanced review sample that counts as reached.
const TARGET_ACCURACY: f64 = 0.70;

/// Runs `scenario` for `days` into `out` with `extra` arguments; returns the output.
/// ONT scenarios run the small fleet.
fn sim(scenario: &str, days: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let path = repo_file(scenario);
    let mut args = vec![
        "sim",
        "--scenario",
        &path,
        "--seed",
        SEED,
        "--days",
        days,
        "--out",
        out.to_str().expect("utf-8"),
        "--quiet",
    ];
    if scenario.contains("/ont-") {
        args.extend_from_slice(&["--set", DEVICES]);
    }
    args.extend_from_slice(extra);
    ledgerloop(&args)
}

fn summary(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary"))
        .expect("json")
}

/// Labels a run used to reach `target`: the labelled warm-up rows plus the labels the
/// loop asked for on every day up to and including the first day whose served accuracy
/// is at or above `target`; `None` when no day reaches it.
fn labels_to_target(summary: &Value, target: f64) -> Option<u64> {
    let warmup: u64 = summary["trainings"][0]["class_counts"]
        .as_array()
        .expect("warm-up class counts")
        .iter()
        .map(|n| n.as_u64().expect("count"))
        .sum();
    let mut asked = 0;
    for day in summary["days"].as_array().expect("days") {
        asked += day["labels"]["asked"].as_u64().expect("labels asked");
        if day["served"]["accuracy"].as_f64().expect("accuracy") >= target {
            return Some(warmup + asked);
        }
    }
    None
}

/// The governed arm's `BaselineTrained` payload of the run in `out`.
fn first_model(out: &Path) -> Value {
    let jsonl = cli::jsonl(&out.join("log"));
    jsonl
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .find(|e| e["event_type"] == "BaselineTrained" && e["payload"]["arm"] == "governed")
        .map(|e| e["payload"].clone())
        .expect("the governed first model")
}

/// Runs the short ONT-offline source; returns its folder.
fn source_run(dir: &Path) -> PathBuf {
    let out = dir.join("source");
    let run = sim("scenarios/ont-offline.toml", SOURCE_DAYS, &out, &[]);
    assert!(run.status.success(), "{}", text(&run));
    out
}

/// Started from the ONT-offline champion, the new-model fleet's run records the source in
/// its first model's event (a cold run records none), `explain` shows it and `audit
/// --deep` re-derives the warm-started model from the copied source weights. Whether the
/// warm start saves labels is printed, not asserted: on the seeds measured it did on
/// some and not on others (README, Transfer), so asserting it would only pick a seed.
#[test]
fn warm_start_records_its_source_and_audits_deep() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = source_run(dir.path());
    let champion = summary(&source)["days"]
        .as_array()
        .and_then(|d| d.last())
        .map(|d| {
            d["route"]["champion"]
                .as_str()
                .expect("champion")
                .to_string()
        })
        .expect("source days");
    let (cold, warm) = (dir.path().join("cold"), dir.path().join("warm"));
    let run = sim("scenarios/ont-new-model.toml", TARGET_DAYS, &cold, &[]);
    assert!(run.status.success(), "{}", text(&run));
    let from = source.to_str().expect("utf-8");
    let run = sim(
        "scenarios/ont-new-model.toml",
        TARGET_DAYS,
        &warm,
        &["--warm-start-from", from],
    );
    assert!(run.status.success(), "{}", text(&run));

    let recorded = &first_model(&warm)["warm_start"];
    assert_eq!(recorded["source_model_id"], champion.as_str());
    assert_eq!(recorded["source_scenario"], "ont-offline");
    assert_eq!(recorded["adaptation"], "fine_tune");
    assert!(first_model(&cold).get("warm_start").is_none());

    let (cold_labels, warm_labels) = (
        labels_to_target(&summary(&cold), TARGET_ACCURACY),
        labels_to_target(&summary(&warm), TARGET_ACCURACY),
    );
    println!("labels to reach {TARGET_ACCURACY}: cold {cold_labels:?}, warm {warm_labels:?}");

    let model = first_model(&warm)["model_id"]
        .as_str()
        .expect("id")
        .to_string();
    let log = warm.join("log");
    let explain = ledgerloop(&["explain", &model, "--log", log.to_str().expect("utf-8")]);
    assert!(explain.status.success(), "{}", text(&explain));
    assert!(text(&explain).contains(&format!("source_model_id: \"{champion}\"")));
    let audit = ledgerloop(&["audit", log.to_str().expect("utf-8"), "--deep"]);
    assert!(audit.status.success(), "{}", text(&audit));
}

/// A folder without a log, a model id the source never trained, weights that no longer
/// hash to their name and a source whose inputs do not fit the new world (an ONT model
/// for the intent world) are each refused with an error naming the problem.
#[test]
fn bad_warm_start_sources_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = source_run(dir.path());
    let from = source.to_str().expect("utf-8").to_string();
    let refused = |name: &str, scenario: &str, spec: &str, expect: &str| {
        let out = dir.path().join(name);
        let run = sim(scenario, "1", &out, &["--warm-start-from", spec]);
        let message = text(&run);
        assert!(!run.status.success(), "{name}: accepted\n{message}");
        assert!(message.contains(expect), "{name}: {message}");
        out
    };
    let target = "scenarios/ont-new-model.toml";
    let missing = dir.path().join("nowhere");
    let out = refused(
        "missing",
        target,
        missing.to_str().expect("utf-8"),
        "holds no event log",
    );
    assert!(
        !out.join("log").exists(),
        "a refused source leaves no log behind"
    );
    refused(
        "unknown-model",
        target,
        &format!("{from}#tabular-0000000000000000"),
        "is not a model trained in this run",
    );
    refused(
        "shape",
        "scenarios/intent.toml",
        &from,
        "this scenario has 0 features [] -> ",
    );
    // Every stored weights file replaced by another stored (valid gzip) blob.
    let any_input = std::fs::read_dir(source.join("inputs"))
        .expect("inputs")
        .next()
        .expect("an input")
        .expect("entry")
        .path();
    for entry in std::fs::read_dir(source.join("artifacts")).expect("artifacts") {
        std::fs::copy(&any_input, entry.expect("entry").path()).expect("tamper");
    }
    refused("tampered", target, &from, "hashes to");
}

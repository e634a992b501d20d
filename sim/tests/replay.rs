//! Real-data replay: the CSV and JSON-lines fixtures in `scenarios/replay/` are replayed in
//! time order and their malformed rows are reported with file and line.

use std::path::{Path, PathBuf};

use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::policy::StaticPolicy;
use ledgerloop_sim::run::run_scenario;
use ledgerloop_sim::Error;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn load(name: &str, overrides: &[&str]) -> Scenario {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::load(&scenarios_dir().join(name), &overrides).expect("scenario")
}

/// Every malformed CSV row is quarantined with its line and reason; every good row is
/// replayed, and the learner separates the fixture's two classes.
#[test]
fn csv_replay_quarantines_bad_rows_with_line_numbers() {
    let scenario = load("replay-ont-sample.toml", &[]);
    let out = run_scenario(&scenario, &mut StaticPolicy::default()).expect("run");
    let lines: Vec<u64> = out.quarantined.iter().map(|q| q.line).collect();
    assert_eq!(lines, [11, 26, 41, 78, 101]);
    assert!(out
        .quarantined
        .iter()
        .all(|q| q.file.ends_with("replay/ont-sample.csv")));
    let reasons: Vec<&str> = out.quarantined.iter().map(|q| q.reason.as_str()).collect();
    assert!(
        reasons[0].contains("fec_errors") && reasons[0].contains("not a number"),
        "{}",
        reasons[0]
    );
    assert!(
        reasons[1].contains("4 fields, expected 5"),
        "{}",
        reasons[1]
    );
    assert!(reasons[2].contains("not-a-time"), "{}", reasons[2]);
    assert!(
        reasons[3].contains("unknown class `rebooting`"),
        "{}",
        reasons[3]
    );
    assert!(
        reasons[4].contains("outside the run window"),
        "{}",
        reasons[4]
    );
    // 720 good rows: 3 warm-up days and 7 run days of 36 rows each.
    let replayed: u64 = out.days.iter().map(|d| d.static_arm.rows).sum();
    let warmup: u64 = out.trainings[0].class_counts.iter().sum();
    assert_eq!(replayed + warmup, 720);
    let last = out.days.last().expect("days");
    assert!(
        last.static_arm.balanced_accuracy > 0.9,
        "{}",
        last.static_arm.balanced_accuracy
    );
}

/// A JSON-lines text replay quarantines a row with a missing field and a broken line.
#[test]
fn jsonl_text_replay_reports_bad_lines() {
    let scenario = load("replay-intent-sample.toml", &[]);
    let out = run_scenario(&scenario, &mut StaticPolicy::default()).expect("run");
    let found: Vec<(u64, bool)> = out
        .quarantined
        .iter()
        .map(|q| {
            (
                q.line,
                q.reason.contains("missing field `text`") || q.reason.contains("bad JSON"),
            )
        })
        .collect();
    assert_eq!(found, [(8, true), (21, true)]);
    assert_eq!(
        out.shape.class_names,
        ["bill_query", "cancellation", "fault_report"]
    );
    assert!(out.days.iter().all(|d| d.static_arm.rows > 0));
}

/// A missing file and a missing column are errors naming the file (and the column).
#[test]
fn unusable_files_are_errors() {
    let missing = load(
        "replay-ont-sample.toml",
        &["replay.files=[\"replay/nope.csv\"]"],
    );
    let err = run_scenario(&missing, &mut StaticPolicy::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Replay { path, .. } if path.ends_with("replay/nope.csv")),
        "{err}"
    );
    let column = load("replay-ont-sample.toml", &["replay.label_column=status"]);
    let err = run_scenario(&column, &mut StaticPolicy::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ont-sample.csv") && err.contains("no column `status`"),
        "{err}"
    );
}

//! Interaction replay (`world = "replay"`, `kind = "interaction"`): rows of
//! `(time, user, item, rating or click)` drive the recommend loop in time order, bad rows
//! are quarantined with file and line, and HR / NDCG / CTR match a hand-checked fixture.

use std::path::{Path, PathBuf};

use ledgerloop_sim::clock::Clock;
use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::engine::RunOutput;
use ledgerloop_sim::policy::StaticPolicy;
use ledgerloop_sim::run::{run_scenario, run_to_dir};
use ledgerloop_sim::world::replay::interaction;
use ledgerloop_sim::Error;

/// `--set` overrides that switch the sample scenario to its JSON-lines fixture.
const JSONL: [&str; 5] = [
    "replay.format=jsonl",
    "replay.files=[\"replay/interactions-sample.jsonl\"]",
    "replay.time_column=ts",
    "replay.interaction.rating_column=",
    "replay.interaction.click_column=click",
];

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn load(overrides: &[&str]) -> Scenario {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::load(
        &scenarios_dir().join("replay-recommend-sample.toml"),
        &overrides,
    )
    .expect("scenario")
}

fn run(scenario: &Scenario) -> RunOutput {
    run_scenario(scenario, &mut StaticPolicy::default()).expect("run")
}

/// The loaded CSV rows come out sorted by time (ties by file, then line) although the
/// file is not in time order, and every good row is kept.
#[test]
fn rows_are_replayed_in_time_order() {
    let scenario = load(&[]);
    let cfg = scenario.replay.as_ref().expect("replay");
    let meta = &scenario.scenario;
    let clock = Clock::new(meta.start, scenario.baselines.train_days);
    let log = interaction::load(cfg, &scenario.source_dir, clock, meta.days).expect("load");
    // 240 generated rows; the 5 malformed lines are extra.
    assert_eq!(log.events.len(), 240);
    let keys: Vec<_> = log
        .events
        .iter()
        .map(|e| (e.time, e.file, e.line))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let by_line = {
        let mut k = keys.clone();
        k.sort_by_key(|(_, _, line)| *line);
        k
    };
    assert_ne!(
        by_line, keys,
        "the fixture must not already be in time order"
    );
    let hour_of = |t: chrono::DateTime<chrono::Utc>| (t - clock.time_of(0)).num_seconds() / 3600;
    assert!(log.events.iter().all(|e| e.hour as i64 == hour_of(e.time)));
    // Ids are dense in first-seen order: the first event's user and item are 0.
    assert_eq!((log.events[0].user, log.events[0].item), (0, 0));
}

/// Each malformed CSV row is quarantined with its file, line and reason.
#[test]
fn csv_bad_rows_are_quarantined_with_lines() {
    let out = run(&load(&[]));
    let got: Vec<(u64, &str)> = out
        .quarantined
        .iter()
        .map(|q| (q.line, q.reason.as_str()))
        .collect();
    let expected: [(u64, &str); 5] = [
        (12, "3 fields, expected 4"),
        (40, "`yesterday` is neither RFC 3339"),
        (77, "empty `user`"),
        (120, "`rating` = `five` is not a number"),
        (200, "outside the run window"),
    ];
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((line, reason), (want_line, want)) in got.iter().zip(expected) {
        assert_eq!(*line, want_line);
        assert!(reason.contains(want), "line {line}: {reason}");
    }
    assert!(out
        .quarantined
        .iter()
        .all(|q| q.file.ends_with("replay/interactions-sample.csv")));
    assert_eq!(out.recommend_days.len(), 5);
}

/// Each malformed JSON-lines row (click 2, missing click, broken JSON, empty item) is
/// quarantined with its line.
#[test]
fn jsonl_bad_rows_are_quarantined_with_lines() {
    let out = run(&load(&JSONL));
    let got: Vec<(u64, &str)> = out
        .quarantined
        .iter()
        .map(|q| (q.line, q.reason.as_str()))
        .collect();
    let expected: [(u64, &str); 4] = [
        (9, "`click` = `2` is not 0 or 1"),
        (33, "missing field `click`"),
        (57, "bad JSON"),
        (150, "empty `item`"),
    ];
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((line, reason), (want_line, want)) in got.iter().zip(expected) {
        assert_eq!(*line, want_line);
        assert!(reason.contains(want), "line {line}: {reason}");
    }
    assert!(out.recommend_days.iter().all(|d| d.sessions > 0));
}

/// Rows beyond `replay.max_rows` are quarantined with that reason, not dropped.
#[test]
fn rows_beyond_max_rows_are_quarantined() {
    let out = run(&load(&["replay.max_rows=100"]));
    let beyond: Vec<u64> = out
        .quarantined
        .iter()
        .filter(|q| q.reason.contains("beyond replay.max_rows = 100"))
        .map(|q| q.line)
        .collect();
    // 245 data lines: 100 are loaded, the 3 malformed lines among the first 103 are
    // quarantined for their own reason, and lines 105..=246 are beyond the limit.
    assert_eq!(beyond.first(), Some(&105));
    assert_eq!(beyond.len(), 142);
}

/// The same scenario and seed write byte-identical summaries and logs.
#[test]
fn same_seed_gives_identical_bytes() {
    let scenario = load(&[]);
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    for d in &dirs {
        run_to_dir(&scenario, &[], &mut StaticPolicy::default(), d.path()).expect("run");
    }
    let read = |d: &tempfile::TempDir, f: &str| std::fs::read(d.path().join(f)).expect("read");
    let summary = read(&dirs[0], "summary.json");
    assert_eq!(summary, read(&dirs[1], "summary.json"));
    // The quarantined rows are listed in the summary.
    assert!(String::from_utf8_lossy(&summary).contains("\"line\": 120"));
    let logs: Vec<Vec<(String, Vec<u8>)>> = dirs
        .iter()
        .map(|d| files_under(&d.path().join("log")))
        .collect();
    assert!(!logs[0].is_empty());
    assert_eq!(logs[0], logs[1]);
}

/// Every file under `dir`, with its path relative to `dir`, sorted by path.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .expect("prefix")
                    .display()
                    .to_string();
                out.push((rel, std::fs::read(&path).expect("read")));
            }
        }
    }
    out.sort();
    out
}

/// A missing file and a missing column are errors naming the file.
#[test]
fn missing_file_or_column_is_an_error_naming_the_file() {
    let missing = load(&["replay.files=[\"replay/nope.csv\"]"]);
    let err = run_scenario(&missing, &mut StaticPolicy::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Replay { path, .. } if path.ends_with("replay/nope.csv")),
        "{err}"
    );
    let column = load(&["replay.interaction.item_column=product"]);
    let err = run_scenario(&column, &mut StaticPolicy::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("interactions-sample.csv") && err.contains("no column `product`"),
        "{err}"
    );
}

/// The tiny fixture's rows (time, user, item, click), deliberately not in time order; the
/// two day-1 rows at 01:00 tie and keep line order.
const TINY_CSV: &str = "\
time,user,item,click
2026-01-03T00:00:00Z,u2,D,1
2026-01-03T01:00:00Z,u6,E,0
2026-01-03T01:00:00Z,u7,F,0
2026-01-01T00:00:00Z,u1,A,1
2026-01-01T01:00:00Z,u2,A,1
2026-01-01T02:00:00Z,u3,A,1
2026-01-01T03:00:00Z,u1,B,1
2026-01-01T04:00:00Z,u2,B,1
2026-01-01T05:00:00Z,u1,C,1
2026-01-02T00:10:00Z,u3,B,1
2026-01-02T01:00:00Z,u1,D,1
2026-01-02T02:00:00Z,u2,C,1
2026-01-02T03:00:00Z,u4,B,0
2026-01-02T04:00:00Z,u4,A,1
2026-01-02T05:00:00Z,u5,B,1
";

/// Writes the tiny fixture and a scenario for it (slate of 2, 1 warm-up day, 2 run days).
fn tiny_scenario(dir: &Path) -> Scenario {
    let sample = std::fs::read_to_string(scenarios_dir().join("replay-recommend-sample.toml"))
        .expect("sample");
    std::fs::write(dir.join("tiny.csv"), TINY_CSV).expect("write");
    let path = dir.join("tiny.toml");
    std::fs::write(&path, sample).expect("write");
    let overrides: Vec<String> = [
        "scenario.days=2",
        "scenario.start=2026-01-02T00:00:00Z",
        "baselines.train_days=1",
        "replay.files=[\"tiny.csv\"]",
        "replay.interaction.rating_column=",
        "replay.interaction.click_column=click",
        "replay.interaction.slate_size=2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Scenario::load(&path, &overrides).expect("tiny scenario")
}

/// HR@2, NDCG@2, CTR, ids and retraining on the tiny fixture equal the values worked out
/// by hand (see the comments).
#[test]
fn metrics_match_a_hand_checked_fixture() {
    let dir = tempfile::tempdir().expect("dir");
    let scenario = tiny_scenario(dir.path());
    let cfg = scenario.replay.as_ref().expect("replay");
    let clock = Clock::new(scenario.scenario.start, 1);
    let log = interaction::load(cfg, &scenario.source_dir, clock, 2).expect("load");
    assert_eq!(log.users, ["u1", "u2", "u3", "u4", "u5", "u6", "u7"]);
    assert_eq!(log.items, ["A", "B", "C", "D", "E", "F"]);
    assert_eq!(log.warmup_items, 3);
    let out = run(&scenario);
    assert!(out.quarantined.is_empty(), "{:?}", out.quarantined);
    // Warm-up popularity A 3, B 2, C 1. Day 0, static = oracle = served:
    //  u3 B: seen {A} -> [B, C], hit at rank 0 (NDCG 1), shown + clicked;
    //  u1 D: D unknown, seen {A, B, C} -> [], miss, not shown;
    //  u2 C: seen {A, B} -> [C], hit at rank 0, shown + clicked;
    //  u4 B (click 0): [A, B], shown, not clicked;
    //  u4 A: seen {B} -> [A, C], hit at rank 0, shown + clicked;
    //  u5 B: [A, B], hit at rank 1 (NDCG 1/log2 3), shown + clicked.
    // HR 4/5, NDCG (3 + 1/log2 3)/5, CTR 4 clicks / 5 impressions.
    let d0 = &out.recommend_days[0];
    let ndcg = (3.0 + 1.0 / 3f64.log2()) / 5.0;
    for arm in [&d0.static_arm, &d0.served, &d0.oracle] {
        assert!((arm.hit_rate - 0.8).abs() < 1e-12, "{arm:?}");
        assert!((arm.ndcg - ndcg).abs() < 1e-12, "{arm:?}");
        assert!((arm.ctr - 0.8).abs() < 1e-12, "{arm:?}");
    }
    assert_eq!((d0.sessions, d0.live_items), (5, 4));
    assert!((d0.new_item_share - 0.2).abs() < 1e-12);
    assert_eq!(d0.served_versions[0].impressions, 5);
    assert_eq!(d0.served_versions[0].clicks, 4);
    // Day 1: u2 D. Static knows no D and u2 saw A, B, C: miss. The oracle refitted on
    // all 11 positives (A 4, B 4, C 2, D 1) ranks D after u2's items are removed: hit.
    // u6 E and u7 F (click 0) are in no slate: no impressions for static, CTR undefined.
    let d1 = &out.recommend_days[1];
    assert_eq!((d1.static_arm.hit_rate, d1.oracle.hit_rate), (0.0, 1.0));
    assert_eq!((d1.oracle.ndcg, d1.oracle.ctr), (1.0, 1.0));
    assert_eq!(d1.served_versions[0].impressions, 0);
    assert_eq!((d1.sessions, d1.live_items), (1, 6));
    let counts: Vec<u64> = out.trainings.iter().map(|t| t.class_counts[0]).collect();
    assert_eq!(counts, [6, 11, 12]);
}

/// `kind = "interaction"` without its `[replay.interaction]` section is refused before
/// the run, naming the key.
#[test]
fn interaction_section_is_required() {
    let text = std::fs::read_to_string(scenarios_dir().join("replay-recommend-sample.toml"))
        .expect("sample");
    let cut = text.find("[replay.interaction]").expect("section");
    let err = Scenario::from_toml_str(&text[..cut], Path::new("x.toml"), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("replay.interaction"), "{err}");
}

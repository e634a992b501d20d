//! Same scenario and seed give byte-identical outputs (event log and summary); another
//! seed gives different ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ledgerloop_events::{FileLog, FileLogOptions};
use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::policy::StaticPolicy;
use ledgerloop_sim::run::{open_fresh_log, run_to_dir, run_with_log_observed};
use ledgerloop_sim::sink::{RunObserver, SimRecord};
use ledgerloop_sim::Error;

fn scenario(file: &str, overrides: &[String]) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(file);
    Scenario::load(&path, overrides).expect("scenario")
}

/// All files under `dir`, by relative path.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).expect("prefix").to_path_buf();
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

fn run_into(file: &str, overrides: &[&str], out: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let s = scenario(file, &overrides);
    run_to_dir(&s, &overrides, &mut StaticPolicy::default(), out).expect("run");
    files(out)
}

/// For each world, two runs with one seed write identical log and summary bytes and a
/// third seed changes both.
#[test]
fn same_seed_same_bytes_for_every_world() {
    let cases: [(&str, &[&str]); 4] = [
        ("ont-offline.toml", &["ont.devices=500", "scenario.days=3"]),
        (
            "intent.toml",
            &["scenario.days=3", "intent.utterances_per_hour=20"],
        ),
        (
            "recommend.toml",
            &["scenario.days=3", "recommend.sessions_per_hour=10"],
        ),
        ("replay-ont-sample.toml", &["oracle.noise_rate=0.1"]),
    ];
    let tmp = tempfile::tempdir().expect("tmp");
    for (i, (file, overrides)) in cases.iter().enumerate() {
        let a = run_into(
            file,
            &[overrides, &["scenario.seed=5"][..]].concat(),
            &tmp.path().join(format!("{i}a")),
        );
        let b = run_into(
            file,
            &[overrides, &["scenario.seed=5"][..]].concat(),
            &tmp.path().join(format!("{i}b")),
        );
        let c = run_into(
            file,
            &[overrides, &["scenario.seed=6"][..]].concat(),
            &tmp.path().join(format!("{i}c")),
        );
        assert!(a.contains_key(Path::new("summary.json")), "{file}");
        assert!(a.keys().any(|k| k.starts_with("log")), "{file}");
        assert_eq!(a, b, "{file}: same seed, different bytes");
        assert_ne!(
            a[Path::new("summary.json")],
            c[Path::new("summary.json")],
            "{file}"
        );
        let log_a: Vec<_> = a
            .iter()
            .filter(|(k, _)| k.extension().is_some_and(|e| e == "seg"))
            .collect();
        let log_c: Vec<_> = c
            .iter()
            .filter(|(k, _)| k.extension().is_some_and(|e| e == "seg"))
            .collect();
        assert_ne!(log_a, log_c, "{file}: another seed, same log");
    }
}

/// The log holds the run's world events, in order, and decodes; writing a second run
/// into the same folder is refused.
#[test]
fn log_holds_the_run_and_is_not_overwritten() {
    let tmp = tempfile::tempdir().expect("tmp");
    let overrides = vec!["ont.devices=300".to_string(), "scenario.days=2".to_string()];
    let s = scenario("ont-offline.toml", &overrides);
    run_to_dir(&s, &overrides, &mut StaticPolicy::default(), tmp.path()).expect("run");
    let log = FileLog::open(tmp.path().join("log"), FileLogOptions::default()).expect("open");
    let mut types = Vec::new();
    for rec in log.read_all(0).expect("read") {
        let rec = rec.expect("record");
        rec.decode().expect("decodes");
        types.push(rec.event_type);
    }
    log.close().expect("close");
    let expected = [
        "ScenarioStarted",
        "BaselineTrained",
        "DayClosed",
        "BaselineTrained",
        "DayClosed",
        "BaselineTrained",
    ];
    assert_eq!(types, expected);
    let again = run_to_dir(&s, &overrides, &mut StaticPolicy::default(), tmp.path());
    assert!(matches!(again, Err(Error::OutputExists { .. })));
}

/// Counts the days it is shown, as a progress bar would.
#[derive(Default)]
struct DayCounter {
    days: Vec<u32>,
    records: usize,
}

impl RunObserver for DayCounter {
    fn observe(&mut self, _time: chrono::DateTime<chrono::Utc>, record: &SimRecord<'_>) {
        self.records += 1;
        if let SimRecord::DayClosed(day) = record {
            self.days.push(day.day);
        }
    }
}

/// An observer sees every day in order and the run it watches writes the same bytes as
/// a run without one.
#[test]
fn an_observer_sees_every_day_and_changes_no_byte() {
    let tmp = tempfile::tempdir().expect("tmp");
    let overrides = vec!["ont.devices=300".to_string(), "scenario.days=3".to_string()];
    let s = scenario("ont-offline.toml", &overrides);
    let plain = run_into(
        "ont-offline.toml",
        &["ont.devices=300", "scenario.days=3"],
        &tmp.path().join("plain"),
    );
    let out = tmp.path().join("observed");
    let log = open_fresh_log(&out).expect("log");
    let mut counter = DayCounter::default();
    let mut policy = StaticPolicy::default();
    run_with_log_observed(
        &s,
        &overrides,
        &mut policy,
        &out,
        std::sync::Arc::new(log),
        &mut counter,
    )
    .expect("run");
    assert_eq!(counter.days, [0, 1, 2]);
    assert_eq!(
        counter.records, 9,
        "start, static, 3 x (day, oracle), finish"
    );
    assert_eq!(files(&out), plain, "an observer changed the outputs");
}

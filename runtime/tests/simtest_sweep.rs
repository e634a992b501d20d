//! The deterministic fault simulation: a bounded sweep passes every invariant while every
//! kind of fault happens, a deliberately broken idempotency check is caught with a seed
//! that replays to the same violation, a seed replays byte for byte, and a plan that
//! draws no fault changes no decision.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use ledgerloop_events::{Event, FileLog, RecordedEvent};
use ledgerloop_runtime::config::GovernedConfig;
use ledgerloop_runtime::faults::FaultSettings;
use ledgerloop_runtime::simtest::{run_seed, sweep, Invariant, SeedOutcome, Setup};

/// Seeds of the CI sweep: about two and a half minutes on two idle cores in the test
/// profile (measured: ~80 seeds per minute with two jobs; ~20 while other builds ran).
const CI_SEEDS: u64 = 200;
/// Seeds run at once by the CI sweep.
const CI_JOBS: usize = 2;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ has a parent")
        .to_path_buf()
}

fn setup(work: &Path, config: GovernedConfig, keep: bool) -> Setup {
    Setup {
        scenario: repo().join("scenarios/simtest-ont.toml"),
        overrides: Vec::new(),
        config,
        source: "tests".into(),
        work_dir: work.to_path_buf(),
        keep,
    }
}

fn simtest_config() -> Result<GovernedConfig> {
    Ok(GovernedConfig::load(
        &repo().join("scenarios/agents/simtest-ont.toml"),
    )?)
}

fn failures(outcomes: &[SeedOutcome]) -> String {
    outcomes
        .iter()
        .filter_map(|o| {
            let v = o.violation.as_ref()?;
            Some(format!(
                "seed {}: {} at hour {}: {}\n",
                o.seed,
                v.invariant.name(),
                v.hour,
                v.detail
            ))
        })
        .collect()
}

fn events(out: &Path) -> Result<Vec<(RecordedEvent, Event)>> {
    let log = FileLog::open_read_only(out.join("log"))?;
    let mut all = Vec::new();
    for r in log.read_all(0)? {
        let r = r?;
        let e = r.decode()?;
        all.push((r, e));
    }
    Ok(all)
}

/// The CI sweep: every invariant holds on every seed, and every kind of fault happened.
#[test]
fn bounded_sweep_holds_every_invariant() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let setup = setup(dir.path(), simtest_config()?, false);
    let outcomes = sweep(&setup, 0, CI_SEEDS, CI_JOBS, &|_| {})?;
    assert_eq!(outcomes.len() as u64, CI_SEEDS);
    let failed = failures(&outcomes);
    assert!(failed.is_empty(), "failing seeds:\n{failed}");
    let mut injected: BTreeMap<String, u64> = BTreeMap::new();
    for o in &outcomes {
        for (kind, n) in &o.faults.injected {
            *injected.entry(kind.clone()).or_default() += n;
        }
    }
    for kind in [
        "crash_before_input",
        "crash_after_append",
        "crash_torn_append",
        "worker_failure",
        "worker_timeout",
        "delivery_duplicate",
        "delivery_delayed",
        "delivery_reordered",
        "label_late",
        "label_dropped",
    ] {
        assert!(
            injected.get(kind).copied().unwrap_or(0) > 0,
            "no {kind}: {injected:?}"
        );
    }
    let ignored: u64 = outcomes.iter().map(|o| o.faults.duplicates_ignored).sum();
    assert!(
        ignored > 0,
        "no duplicate delivery was answered from the log"
    );
    Ok(())
}

/// With the test-only `break_idempotency` switch the sweep fails on `input_once`, and
/// the failing seed replays to the same violation.
#[test]
fn broken_idempotency_is_caught_with_a_replayable_seed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = simtest_config()?;
    config.fault_injection.break_idempotency = true;
    let setup = setup(dir.path(), config, false);
    let outcomes = sweep(&setup, 0, 4, 1, &|_| {})?;
    let first = outcomes
        .iter()
        .find(|o| o.violation.is_some())
        .expect("the checker must catch a decider that skips its idempotency check");
    let violation = first.violation.clone().expect("a violation");
    assert_eq!(violation.invariant, Invariant::InputOnce, "{violation:?}");
    let again = run_seed(&setup, first.seed)?;
    assert_eq!(
        again.violation,
        Some(violation),
        "seed {} does not replay",
        first.seed
    );
    Ok(())
}

/// The same seed, faults and all, writes the same log twice.
#[test]
fn a_seed_with_faults_replays_exactly() -> Result<()> {
    let a = tempfile::tempdir()?;
    let b = tempfile::tempdir()?;
    let seed = 3;
    let one = run_seed(&setup(a.path(), simtest_config()?, true), seed)?;
    let two = run_seed(&setup(b.path(), simtest_config()?, true), seed)?;
    assert!(one.violation.is_none(), "{:?}", one.violation);
    assert!(!one.faults.injected.is_empty(), "seed {seed} drew no fault");
    assert_eq!(one.faults, two.faults);
    let key = |(r, _): &(RecordedEvent, Event)| (r.id, r.hash, r.payload.clone());
    let ea: Vec<_> = events(&a.path().join(format!("seed-{seed}")))?
        .iter()
        .map(key)
        .collect();
    let eb: Vec<_> = events(&b.path().join(format!("seed-{seed}")))?
        .iter()
        .map(key)
        .collect();
    assert_eq!(ea.len(), eb.len());
    assert!(ea == eb, "the two runs of seed {seed} differ");
    Ok(())
}

/// A plan that is enabled but draws no fault makes the same decisions as no plan: only
/// the recorded policies (stream `host`) differ.
#[test]
fn a_plan_without_faults_changes_no_decision() -> Result<()> {
    let a = tempfile::tempdir()?;
    let b = tempfile::tempdir()?;
    let seed = 5;
    let mut quiet = simtest_config()?;
    quiet.fault_injection = FaultSettings {
        enabled: true,
        from_day: 1,
        until_day: 4,
        ..FaultSettings::default()
    };
    let mut off = simtest_config()?;
    off.fault_injection = FaultSettings::default();
    let q = run_seed(&setup(a.path(), quiet, true), seed)?;
    let o = run_seed(&setup(b.path(), off, true), seed)?;
    assert!(q.violation.is_none() && o.violation.is_none());
    assert!(q.faults.injected.is_empty(), "{:?}", q.faults);
    let key =
        |(r, _): &(RecordedEvent, Event)| (r.stream.as_str().to_string(), r.id, r.payload.clone());
    let not_host = |(r, _): &&(RecordedEvent, Event)| r.stream.as_str() != "host";
    let ea: Vec<_> = events(&a.path().join(format!("seed-{seed}")))?
        .iter()
        .filter(not_host)
        .map(key)
        .collect();
    let eb: Vec<_> = events(&b.path().join(format!("seed-{seed}")))?
        .iter()
        .filter(not_host)
        .map(key)
        .collect();
    assert!(ea == eb, "an empty plan changed the run");
    Ok(())
}

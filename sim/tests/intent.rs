//! Intent world: the new intent's appearance and what it does to the static model.

use std::path::Path;

use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::engine::DayReport;
use ledgerloop_sim::policy::StaticPolicy;
use ledgerloop_sim::run::run_scenario;

const INTENT_TOML: &str = include_str!("../../scenarios/intent.toml");

fn run(overrides: &[&str]) -> (Scenario, Vec<DayReport>) {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let scenario =
        Scenario::from_toml_str(INTENT_TOML, Path::new("scenarios/intent.toml"), &overrides)
            .expect("scenario");
    let out = run_scenario(&scenario, &mut StaticPolicy::default()).expect("run");
    (scenario, out.days)
}

/// Rows of class `c` on a day (true labels, from the static arm's confusion matrix).
fn truth_count(d: &DayReport, c: usize) -> u64 {
    let k = d.static_arm.confusion.n_classes;
    d.static_arm.confusion.counts[c * k..(c + 1) * k]
        .iter()
        .sum()
}

fn mean(days: &[DayReport], f: impl Fn(&DayReport) -> f64) -> f64 {
    days.iter().map(f).sum::<f64>() / days.len() as f64
}

/// The new intent never occurs before its start day and occurs every day after it; the
/// static model, which never saw it, loses accuracy when it appears, while the oracle
/// learns it. Checked on two seeds.
#[test]
fn new_intent_appears_on_its_day_and_hurts_the_static_model() {
    for seed in [7u64, 21] {
        let seed_set = format!("scenario.seed={seed}");
        let (scenario, days) = run(&[
            &seed_set,
            "scenario.days=27",
            "intent.utterances_per_hour=50",
            "intent.drift.new_intent.start_day=18",
        ]);
        let cfg = scenario.intent.as_ref().expect("intent section");
        let class = cfg
            .intents
            .iter()
            .position(|i| i.name == cfg.drift.new_intent.intent)
            .expect("known");
        for d in &days {
            let n = truth_count(d, class);
            if d.day < 18 {
                assert_eq!(n, 0, "seed {seed}: new intent present on day {}", d.day);
            } else if d.day >= 19 {
                assert!(n > 0, "seed {seed}: new intent absent on day {}", d.day);
            }
        }
        let before = mean(&days[11..18], |d| d.static_arm.accuracy);
        let after = mean(&days[21..27], |d| d.static_arm.accuracy);
        let oracle_after = mean(&days[21..27], |d| d.oracle.accuracy);
        eprintln!("seed {seed}: static before {before:.3} after {after:.3}, oracle after {oracle_after:.3}");
        assert!(
            after < before - 0.03,
            "seed {seed}: static {before} -> {after}"
        );
        assert!(
            oracle_after > after + 0.03,
            "seed {seed}: oracle {oracle_after} vs static {after}"
        );
    }
}

/// Utterances come in the three languages (code-switched included) in about the
/// configured shares, and the per-slice and per-version breakdowns cover every row.
#[test]
fn languages_follow_their_shares() {
    let (scenario, days) = run(&["scenario.days=2", "intent.utterances_per_hour=60"]);
    let l = &scenario.intent.as_ref().expect("intent").languages;
    let total_share = l.en + l.zh + l.mixed;
    let rows: u64 = days.iter().map(|d| d.static_arm.rows).sum();
    for (name, share) in [("en", l.en), ("zh", l.zh), ("mixed", l.mixed)] {
        let n: u64 = days
            .iter()
            .flat_map(|d| &d.slices)
            .filter(|s| s.slice == name)
            .map(|s| s.rows)
            .sum();
        let observed = n as f64 / rows as f64;
        assert!(
            (observed - share / total_share).abs() < 0.04,
            "{name}: {observed}"
        );
    }
    for d in &days {
        assert_eq!(
            d.slices.iter().map(|s| s.rows).sum::<u64>(),
            d.static_arm.rows
        );
        assert_eq!(
            d.served_versions.iter().map(|v| v.rows).sum::<u64>(),
            d.static_arm.rows
        );
    }
}

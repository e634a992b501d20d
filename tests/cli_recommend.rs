//! The governed loop on the recommend world through the CLI: `sim` runs the six agents
//! by default with `scenarios/agents/recommend.toml`, `audit` re-derives every decision,
//! the loop retrains after the preference shift, and the served HR@10 comes back within
//! 10% of the oracle's.

#[path = "support/cli.rs"]
mod cli;

use cli::{jsonl, ledgerloop, repo_file, text};

/// Run days of the small scenario.
const DAYS: &str = "40";
/// The preference shift of the small scenario: 40% of the users move on days 15-25.
const SHIFT_START_DAY: u32 = 15;
const SHIFT_END_DAY: u32 = 25;
/// The window judged: days 7-14 after the shift ended.
const WINDOW: (u32, u32) = (SHIFT_END_DAY + 7, SHIFT_END_DAY + 14);
/// Served HR@10 must reach this share of the oracle's over the window.
const SHARE_OF_ORACLE: f64 = 0.9;

/// Mean HR@10 of `arm` over `days` (inclusive) of a summary's recommend days.
fn mean_hit_rate(summary: &serde_json::Value, arm: &str, days: (u32, u32)) -> f64 {
    let rows: Vec<f64> = summary["recommend_days"]
        .as_array()
        .expect("recommend days")
        .iter()
        .filter(|d| (days.0..=days.1).contains(&(d["day"].as_u64().unwrap_or(0) as u32)))
        .map(|d| d[arm]["hit_rate"].as_f64().expect("hit_rate"))
        .collect();
    assert_eq!(rows.len() as u32, days.1 - days.0 + 1, "days {days:?}");
    rows.iter().sum::<f64>() / rows.len() as f64
}

/// `sim` governs the recommend world by default; `audit` re-derives every decision; a
/// model trained after the shift began is promoted; served HR@10 on days 7-14 after the
/// shift is within 10% of the oracle's and above the static ranker's.
#[test]
fn governed_recommend_audits_retrains_and_tracks_the_oracle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    let scenario = repo_file("scenarios/recommend.toml");
    let (start, end) = (
        format!("recommend.drift.preference_shift.start_day={SHIFT_START_DAY}"),
        format!("recommend.drift.preference_shift.end_day={SHIFT_END_DAY}"),
    );
    let run = ledgerloop(&[
        "sim",
        "--scenario",
        &scenario,
        "--seed",
        "7",
        "--days",
        DAYS,
        "--set",
        "recommend.users=2000",
        "--set",
        &start,
        "--set",
        &end,
        "--set",
        "recommend.drift.new_items.start_day=5",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let shown = text(&run);
    assert!(run.status.success(), "{shown}");
    assert!(shown.contains("served"), "{shown}");
    assert!(out.join("report.html").is_file());

    let log = out.join("log");
    let audit = ledgerloop(&["audit", log.to_str().expect("utf-8")]);
    let report = text(&audit);
    assert!(audit.status.success(), "{report}");
    assert!(report.contains("mismatches: 0"), "{report}");

    let events: Vec<serde_json::Value> = jsonl(&log)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let policies = events
        .iter()
        .find(|e| e["event_type"] == "PoliciesLoaded")
        .expect("policies recorded");
    assert!(
        policies["payload"]["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("agents/recommend.toml")),
        "{policies}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(summary["policy"], "governed");
    let shift_hour = summary["recommend_days"][SHIFT_START_DAY as usize]["date"]
        .as_str()
        .expect("date")
        .to_string();
    let promoted_after_shift = events.iter().any(|e| {
        e["event_type"] == "ModelPromoted" && e["time"].as_str().is_some_and(|t| *t > *shift_hour)
    });
    let trained_after_shift = events.iter().any(|e| {
        e["event_type"] == "ModelTrained" && e["time"].as_str().is_some_and(|t| *t > *shift_hour)
    });
    assert!(
        trained_after_shift && promoted_after_shift,
        "no retrain after the shift"
    );

    let served = mean_hit_rate(&summary, "served", WINDOW);
    let oracle = mean_hit_rate(&summary, "oracle", WINDOW);
    let fixed = mean_hit_rate(&summary, "static_arm", WINDOW);
    assert!(
        served >= SHARE_OF_ORACLE * oracle,
        "served HR@10 {served:.3} vs oracle {oracle:.3} on days {WINDOW:?}"
    );
    assert!(served > fixed, "served {served:.3} vs static {fixed:.3}");
}

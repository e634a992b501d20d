//! The governed loop on the recommend world through the CLI: `sim` runs the six agents
//! by default with `scenarios/agents/recommend.toml`, `audit` re-derives every decision,
//! the loop retrains after the preference shift, and the served HR@10 comes back within
//! 10% of the oracle's; `audit --deep` re-fits every ranker and recomputes every
//! evaluation report, and finds a stored ranker that was tampered with.

#[path = "support/cli.rs"]
mod cli;

use std::path::Path;

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
/// shift is within 10% of the oracle's and above the static ranker's; the report charts
/// HR@10 per day.
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
    // The report's main chart is HR@10 of the three arms, not an (empty) accuracy chart.
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(
        html.contains("<h2 id=\"hit-rate\">HR@10 per day</h2>"),
        "no HR@10 heading"
    );
    assert!(html.contains("HR@10 per day: served, static and oracle"));
    assert!(html.contains("class=\"series series-oracle\""));
    assert!(!html.contains("Accuracy per day"));
    assert!(html.contains("<th>mean HR@10</th>") && !html.contains("no classification days"));

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

/// Days of the short run the deep audit re-runs.
const SHORT_DAYS: &str = "8";
/// Overrides of the short run: a small world whose drifts start early, so the agents
/// retrain and evaluate within its days.
const SHORT_SETTINGS: [&str; 4] = [
    "recommend.users=1000",
    "recommend.drift.new_items.start_day=1",
    "recommend.drift.preference_shift.start_day=2",
    "recommend.drift.preference_shift.end_day=5",
];

/// Runs the short recommend scenario into `out`.
fn short_run(out: &Path) {
    let scenario = repo_file("scenarios/recommend.toml");
    let mut args = vec![
        "sim",
        "--scenario",
        &scenario,
        "--seed",
        "7",
        "--days",
        SHORT_DAYS,
    ];
    for setting in &SHORT_SETTINGS {
        args.extend_from_slice(&["--set", setting]);
    }
    args.extend_from_slice(&["--out", out.to_str().expect("utf-8"), "--quiet"]);
    let run = ledgerloop(&args);
    assert!(run.status.success(), "{}", text(&run));
}

/// The `reproduced/checked` pair after `what` on the `deep:` line of an audit's output.
fn deep_count(shown: &str, what: &str) -> (u64, u64) {
    let line = shown
        .lines()
        .find(|l| l.starts_with("deep: models"))
        .unwrap_or_else(|| panic!("no deep line in\n{shown}"));
    let pair = line
        .split(what)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {what} in {line}"));
    let (done, of) = pair.trim_end_matches(',').split_once('/').expect("a/b");
    (done.parse().expect("count"), of.parse().expect("count"))
}

/// A short recommend run's `audit --deep` re-fits every ranker and report as recorded, exit 0.
#[test]
fn deep_audit_refits_every_ranker_and_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    short_run(&out);
    let log = out.join("log");
    let audit = ledgerloop(&["audit", log.to_str().expect("utf-8"), "--deep"]);
    let shown = text(&audit);
    assert!(audit.status.success(), "{shown}");
    let (models, models_checked) = deep_count(&shown, "models ");
    let (reports, reports_checked) = deep_count(&shown, "evaluation reports ");
    println!("deep audit: models {models}/{models_checked}, reports {reports}/{reports_checked}");
    // The first ranker and at least one retrained candidate, judged at least once.
    assert!(models >= 2 && models == models_checked, "{shown}");
    assert!(reports >= 1 && reports == reports_checked, "{shown}");
    assert!(
        shown.contains(&format!("stored artifacts {models}/{models} intact")),
        "{shown}"
    );
    assert!(!shown.contains("DEEP MISMATCH"), "{shown}");
}

/// A stored ranker replaced by another valid gzip blob makes `audit --deep` exit 1 naming it.
#[test]
fn deep_audit_finds_a_tampered_ranker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    short_run(&out);
    let mut stored: Vec<_> = std::fs::read_dir(out.join("artifacts"))
        .expect("artifacts")
        .map(|e| e.expect("entry").path())
        .collect();
    stored.sort();
    let victim = stored.first().expect("a stored ranker").clone();
    let any_input = std::fs::read_dir(out.join("inputs"))
        .expect("inputs")
        .next()
        .expect("an input")
        .expect("entry")
        .path();
    std::fs::copy(&any_input, &victim).expect("tamper");
    let sha = victim
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".gz"))
        .expect("<sha256>.gz")
        .to_string();

    let log = out.join("log");
    let audit = ledgerloop(&["audit", log.to_str().expect("utf-8"), "--deep"]);
    let shown = text(&audit);
    assert_eq!(audit.status.code(), Some(1), "{shown}");
    let mismatch = shown
        .lines()
        .find(|l| l.starts_with("DEEP MISMATCH") && l.contains(&sha))
        .unwrap_or_else(|| panic!("no mismatch names {sha}:\n{shown}"));
    assert!(mismatch.contains("hashes to"), "{mismatch}");
    assert!(
        mismatch.contains("ModelTrained") || mismatch.contains("BaselineTrained"),
        "{mismatch}"
    );
}

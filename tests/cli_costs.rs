//! Costs and budgets through the CLI: a tight compute budget retrains less and the report
//! shows the trade-off and the budget alert; a drift not worth its cost is noticed, not
//! acted on; with no budget limits the loop takes the decisions it took before budgets.

#[path = "support/cli.rs"]
mod cli;

use std::path::Path;

use cli::{ledgerloop, repo_file, run_governed, text};
use serde_json::Value;

/// The shipped ONT policy with `edits` (exact line -> replacement) applied, written
/// into `dir`; panics when a line is not found, so a renamed key fails loudly.
fn policy(dir: &Path, name: &str, edits: &[(&str, &str)]) -> String {
    let mut toml = std::fs::read_to_string(repo_file("scenarios/agents/ont.toml")).expect("read");
    for (from, to) in edits {
        let line = toml
            .lines()
            .find(|l| l.starts_with(from))
            .unwrap_or_else(|| panic!("no line starting with {from}"))
            .to_string();
        toml = toml.replace(&line, to);
    }
    let path = dir.join(name);
    std::fs::write(&path, toml).expect("write policy");
    path.display().to_string()
}

/// Runs the small governed ONT scenario with `policy` into `dir/name`.
fn run(dir: &Path, name: &str, policy: &str) -> std::path::PathBuf {
    let out = dir.join(name);
    let run = run_governed(&out, &["--agents", policy]);
    assert!(run.status.success(), "{}", text(&run));
    out
}

fn summary(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary"))
        .expect("json")
}

fn audit_passes(out: &Path) {
    let log = out.join("log");
    let audit = ledgerloop(&["audit", log.to_str().expect("utf-8")]);
    let report = text(&audit);
    assert!(audit.status.success(), "{report}");
    assert!(report.contains("mismatches: 0"), "{report}");
}

/// The events of the run in `out` (of `stream` only, when given) in log order, as
/// `log show --json` prints them.
fn shown(out: &Path, stream: Option<&str>) -> Vec<Value> {
    let log = out.join("log");
    let mut args = vec!["log", "show", log.to_str().expect("utf-8"), "--json"];
    if let Some(stream) = stream {
        args.extend(["--stream", stream]);
    }
    let shown = ledgerloop(&args);
    assert!(shown.status.success(), "{}", text(&shown));
    String::from_utf8_lossy(&shown.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// Every decision of the agents' streams in log order, as (stream, type, payload
/// without its evidence and rule), read through `log show --json`.
fn decisions(out: &Path) -> Vec<(String, String, Value)> {
    shown(out, None)
        .into_iter()
        .filter(|v| v["payload"].get("rule").is_some())
        .map(|v| {
            let mut payload = v["payload"].clone();
            if let Some(map) = payload.as_object_mut() {
                for key in ["evidence", "rule", "weighed"] {
                    map.remove(key);
                }
            }
            let stream = v["stream"].as_str().unwrap_or("").to_string();
            let kind = v["event_type"].as_str().unwrap_or("").to_string();
            (stream, kind, payload)
        })
        .collect()
}

/// With a tight weekly compute budget the loop starts fewer jobs than without limits,
/// records `budget_exhausted` deferrals that `audit` re-derives, and the report shows
/// the costs and a budget alert linking the deferral.
#[test]
fn tight_budget_retrains_less_and_the_report_shows_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let free = run(dir.path(), "free", &repo_file("scenarios/agents/ont.toml"));
    let tight_policy = policy(
        dir.path(),
        "tight.toml",
        &[
            ("cpu_seconds_per_week = ", "cpu_seconds_per_week = 2.0"),
            (
                "prior_cpu_seconds_per_row = ",
                "prior_cpu_seconds_per_row = 0.0003",
            ),
        ],
    );
    let tight = run(dir.path(), "tight", &tight_policy);
    let jobs = |s: &Value| s["costs"]["totals"]["jobs_started"].as_u64().expect("jobs");
    let (free_s, tight_s) = (summary(&free), summary(&tight));
    assert!(
        jobs(&tight_s) < jobs(&free_s),
        "tight {} vs free {}",
        jobs(&tight_s),
        jobs(&free_s)
    );
    let cpu = |s: &Value| s["costs"]["totals"]["cpu_seconds"].as_f64().expect("cpu");
    assert!(cpu(&tight_s) < cpu(&free_s));
    measured_beside_the_log(&free, &free_s);
    let exhausted = tight_s["costs"]["deferred_by_reason"]["budget_exhausted"]
        .as_u64()
        .unwrap_or(0);
    assert!(exhausted >= 1, "{}", tight_s["costs"]);
    audit_passes(&tight);
    let page = std::fs::read_to_string(tight.join("report.html")).expect("report");
    assert!(page.contains("<section id=\"alerts\""), "no alerts section");
    assert!(page.contains("alert-budget_exhausted"), "no budget alert");
    assert!(page.contains("retrains deferred: budget exhausted"));
    assert!(page.contains("<table id=\"cost-iterations\">"));
}

/// The run's `measured_costs.json` holds one measurement per training job (and the
/// distillations and evaluations), every one with measured process CPU time, and its
/// modelled CPU seconds add up to what the log's cost ledger says.
fn measured_beside_the_log(out: &Path, summary: &Value) {
    let text = std::fs::read_to_string(out.join("measured_costs.json")).expect("measured");
    let measured: Value = serde_json::from_str(&text).expect("measured json");
    let works = measured["works"].as_array().expect("works");
    let trainings = works.iter().filter(|w| w["kind"] == "training").count() as u64;
    let jobs = summary["costs"]["totals"]["jobs_started"]
        .as_u64()
        .expect("jobs");
    assert_eq!(trainings, jobs, "one measurement per training job");
    let measured_cpu: f64 = works
        .iter()
        .map(|w| {
            w["cpu_seconds_measured"]
                .as_f64()
                .expect("measured on Linux")
        })
        .sum();
    assert!(measured_cpu > 0.0, "no CPU time measured");
    let modelled: f64 = works
        .iter()
        .map(|w| w["cpu_seconds_modelled"].as_f64().expect("modelled"))
        .sum();
    let logged = summary["costs"]["totals"]["cpu_seconds"]
        .as_f64()
        .expect("cpu");
    assert!(
        (modelled - logged).abs() <= 1e-6 * logged.max(1.0),
        "measured file models {modelled} s, the log {logged} s"
    );
}

/// A drift whose expected gain is below the policy's minimum is recorded as a
/// `not_worth_it` deferral (noticed, not acted on), no job starts, and audit agrees.
#[test]
fn drift_not_worth_its_cost_is_noticed_not_acted_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let picky = policy(
        dir.path(),
        "picky.toml",
        &[("min_gain_points = ", "min_gain_points = 90.0")],
    );
    let out = run(dir.path(), "picky", &picky);
    let s = summary(&out);
    assert_eq!(s["costs"]["totals"]["jobs_started"], 0, "{}", s["costs"]);
    let not_worth = s["costs"]["deferred_by_reason"]["not_worth_it"]
        .as_u64()
        .unwrap_or(0);
    assert!(not_worth >= 1, "{}", s["costs"]);
    let deferral = decisions(&out)
        .into_iter()
        .find(|(_, kind, p)| kind == "RetrainDeferred" && p["reason"] == "not_worth_it")
        .expect("a not_worth_it deferral");
    assert_eq!(deferral.0, "trainer");
    audit_passes(&out);
}

/// Without the budget table and the gain estimate (the loop as it was before budgets)
/// and with an unlimited budget, the agents take the same decisions in the same order:
/// only the weighing, evidence and rules differ.
#[test]
fn no_budget_limits_take_the_same_decisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = policy(
        dir.path(),
        "before.toml",
        &[
            ("estimate_gain = ", ""),
            ("[trainer.budget]", ""),
            ("cpu_seconds_per_day = ", ""),
            ("cpu_seconds_per_week = ", ""),
            ("min_gain_points = ", ""),
            ("min_gain_points_per_cpu_hour = ", ""),
            ("prior_cpu_seconds_per_row = ", ""),
            ("scope = ", ""),
            ("prior_distillation_cpu_seconds = ", ""),
            ("prior_evaluation_cpu_seconds = ", ""),
        ],
    );
    let old = run(dir.path(), "before", &before);
    let unlimited = run(
        dir.path(),
        "unlimited",
        &repo_file("scenarios/agents/ont.toml"),
    );
    let (a, b) = (decisions(&old), decisions(&unlimited));
    assert!(a.iter().any(|(_, kind, _)| kind == "TrainingStarted"));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
    let page = std::fs::read_to_string(old.join("report.html")).expect("report");
    assert!(!page.contains("retrains deferred: budget exhausted"));
}

/// With the same weekly CPU limit, a budget covering the whole iteration (training,
/// distillation and evaluation) retrains no more often than one covering training only;
/// its weighings record both parts of the estimate, `audit` re-derives them from the
/// distillation and evaluation facts handed to the Trainer, and the report and `explain`
/// show the distillation + evaluation share.
#[test]
fn iteration_scope_retrains_no_more_often_and_shows_the_share() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tight = [
        ("cpu_seconds_per_week = ", "cpu_seconds_per_week = 3.0"),
        (
            "prior_cpu_seconds_per_row = ",
            "prior_cpu_seconds_per_row = 0.0003",
        ),
    ];
    let training = policy(dir.path(), "training.toml", &tight);
    let mut edits = tight.to_vec();
    edits.push(("scope = ", "scope = \"iteration\""));
    let iteration = policy(dir.path(), "iteration.toml", &edits);
    let training = run(dir.path(), "training", &training);
    let iteration = run(dir.path(), "iteration", &iteration);
    let jobs = |s: &Value| s["costs"]["totals"]["jobs_started"].as_u64().expect("jobs");
    let (training_s, iteration_s) = (summary(&training), summary(&iteration));
    assert!(
        jobs(&iteration_s) <= jobs(&training_s),
        "iteration {} vs training {}",
        jobs(&iteration_s),
        jobs(&training_s)
    );
    assert!(jobs(&iteration_s) >= 1, "{}", iteration_s["costs"]);
    let iterations = iteration_s["costs"]["iterations"]
        .as_array()
        .expect("iterations");
    let weighed = iterations
        .iter()
        .find(|it| it["estimated_cpu_seconds_distil_eval"].as_f64().is_some())
        .expect("an iteration weighed with its distillation and evaluation");
    let share = weighed["estimated_cpu_seconds_distil_eval"]
        .as_f64()
        .expect("share");
    let total = weighed["estimated_cpu_seconds"].as_f64().expect("total");
    assert!(share > 0.0 && share < total, "{weighed}");
    let no_share = training_s["costs"]["iterations"]
        .as_array()
        .expect("iterations")
        .iter()
        .all(|it| it.get("estimated_cpu_seconds_distil_eval").is_none());
    assert!(no_share, "training scope records no distil + eval share");
    audit_passes(&iteration);
    let folds = trainer_folds(&iteration);
    assert!(
        folds >= 1,
        "the Trainer was handed no distillation or evaluation"
    );
    assert_eq!(trainer_folds(&training), 0, "training scope hands none");
    let page = std::fs::read_to_string(iteration.join("report.html")).expect("report");
    assert!(page.contains("<th>of which distil + eval</th>"));
    let model = weighed["model_id"].as_str().expect("a trained model");
    let log = iteration.join("log");
    let explained = ledgerloop(&["explain", model, "--log", log.to_str().expect("utf-8")]);
    let chain = text(&explained);
    assert!(explained.status.success(), "{chain}");
    assert!(chain.contains("distillation + evaluation"), "{chain}");
}

/// Inputs the Trainer only folded (the distillation and evaluation facts a host hands
/// it for an iteration-scope budget), counted from `log show --json`.
fn trainer_folds(out: &Path) -> usize {
    shown(out, Some("trainer"))
        .iter()
        .filter(|v| v["event_type"] == "InputRecorded" && v["payload"]["kind"] == "fold")
        .count()
}

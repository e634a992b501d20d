//! One shift, one alarm, as an operator sees it through the CLI: the shipped ONT policy
//! groups a firmware rollout's crossings into one alarm episode, while the retrains it
//! asks for are exactly those of the per-signal scope, and the log still audits.

#[path = "support/cli.rs"]
mod cli;

use cli::{ledgerloop, repo_file, run_governed, text};

/// The DriftJudge's decisions of a run: (event type, notice reason, retrain hour, severity).
fn judge_decisions(out: &std::path::Path) -> Vec<(String, String, u64, String)> {
    let log = out.join("log");
    let shown = ledgerloop(&[
        "log",
        "show",
        log.to_str().expect("utf-8"),
        "--stream",
        "drift_judge",
        "--json",
    ]);
    assert!(shown.status.success(), "{}", text(&shown));
    String::from_utf8_lossy(&shown.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            let p = &v["payload"];
            (
                v["event_type"].as_str().unwrap_or_default().to_string(),
                p["reason"].as_str().unwrap_or_default().to_string(),
                p["hour"].as_u64().unwrap_or_default(),
                p["severity"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// `explain` on an `episode_continues` notice ends at the `DriftDetected` that opened
/// the episode, which the causation walk alone does not reach.
fn explain_reaches_the_opening_alarm(log: &std::path::Path) {
    let log = log.to_str().expect("utf-8");
    let shown = ledgerloop(&["log", "show", log, "--stream", "drift_judge", "--json"]);
    let notice = String::from_utf8_lossy(&shown.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["payload"]["reason"] == "episode_continues")
        .expect("the rollout continues an episode");
    let id = notice["id"].as_str().expect("event id");
    let explained = ledgerloop(&["explain", id, "--log", log]);
    let out = text(&explained);
    assert!(explained.status.success(), "{out}");
    let opener = out
        .split("<- episode opened by ")
        .nth(1)
        .unwrap_or_else(|| panic!("no episode opener in: {out}"));
    assert!(opener.starts_with("DriftDetected drift_judge"), "{opener}");
    let json = ledgerloop(&["explain", id, "--log", log, "--json"]);
    let chain: Vec<serde_json::Value> =
        serde_json::from_slice(&json.stdout).expect("explain --json");
    let last = chain.last().expect("a chain");
    assert_eq!(last["event_type"], "DriftDetected");
    assert!(last["note"].as_str().is_some_and(|n| n.contains("opened")));
}

fn count(decisions: &[(String, String, u64, String)], kind: &str, reason: &str) -> usize {
    decisions
        .iter()
        .filter(|d| d.0 == kind && d.1 == reason)
        .count()
}

/// With `alarm_scope = "episode"` (shipped) a firmware rollout raises fewer alarms than per signal, every retrain request stands beside an alarm or an `episode_continues` notice, the requests are the same in both scopes, `explain` leads a continuation back to its opening alarm, and `audit` re-derives the run.
#[test]
fn a_spreading_shift_raises_one_alarm_per_episode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (episode_run, signal_run) = (dir.path().join("episode"), dir.path().join("signal"));
    let shipped = std::fs::read_to_string(repo_file("scenarios/agents/ont.toml")).expect("policy");
    assert!(
        shipped.contains("alarm_scope = \"episode\""),
        "shipped scope"
    );
    let per_signal = dir.path().join("ont-signal.toml");
    std::fs::write(
        &per_signal,
        shipped
            .replace("alarm_scope = \"episode\"", "alarm_scope = \"signal\"")
            // Joining any feature only means something in episodes (refused otherwise).
            .replace(
                "episode_joins_any_feature = true",
                "episode_joins_any_feature = false",
            ),
    )
    .expect("write policy");

    let run = run_governed(&episode_run, &[]);
    assert!(run.status.success(), "{}", text(&run));
    let agents = per_signal.to_str().expect("utf-8");
    let run = run_governed(&signal_run, &["--agents", agents]);
    assert!(run.status.success(), "{}", text(&run));

    let (episode, signal) = (judge_decisions(&episode_run), judge_decisions(&signal_run));
    let requests = |d: &[(String, String, u64, String)]| -> Vec<(u64, String)> {
        d.iter()
            .filter(|e| e.0 == "RetrainRequested")
            .map(|e| (e.2, e.3.clone()))
            .collect()
    };
    assert!(
        requests(&signal).len() >= 2,
        "the rollout asks for retrains"
    );
    assert_eq!(requests(&episode), requests(&signal));
    let alarms = |d| count(d, "DriftDetected", "");
    let continued = count(&episode, "DriftNoticed", "episode_continues");
    assert!(alarms(&episode) < alarms(&signal), "{episode:?}");
    assert_eq!(alarms(&episode) + continued, requests(&episode).len());
    assert_eq!(count(&signal, "DriftNoticed", "episode_continues"), 0);

    let log = episode_run.join("log");
    explain_reaches_the_opening_alarm(&log);
    let audit = ledgerloop(&["audit", log.to_str().expect("utf-8")]);
    let report = text(&audit);
    assert!(audit.status.success(), "{report}");
    assert!(report.contains("mismatches: 0"), "{report}");
}

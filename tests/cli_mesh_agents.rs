//! The agents of a mesh as separate, supervised processes, against a real nats-server:
//! an agent killed mid-run (SIGKILL, and an abort right after an append before its
//! answer) is restarted, rebuilds itself from the JetStream log and repeats no decision,
//! so the run's log is event for event the log `sim` writes for the same seed; SIGTERM
//! stops an agent and a mesh cleanly, leaving a log that audits.

#[path = "support/cli.rs"]
mod cli;
#[path = "../runtime/tests/support/nats.rs"]
mod nats;

use std::process::Command;
use std::time::{Duration, Instant};

use cli::{export_mesh, finish, jsonl, ledgerloop, repo_file, spawn, text};
use nats::NatsServer;

/// Longest any wait of these tests may take.
const WAIT: Duration = Duration::from_secs(300);

/// The run both the mesh and the reference `sim` make.
fn scenario_args(days: &str) -> Vec<String> {
    [
        "--scenario",
        &repo_file("scenarios/ont-offline.toml"),
        "--days",
        days,
        "--set",
        "ont.devices=600",
        "--set",
        "ont.drift.firmware_rollout.start_day=2",
        "--set",
        "ont.drift.firmware_rollout.end_day=4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `status --json` of the `ont-offline` mesh on `url`, when it answers.
fn status(url: &str) -> Option<serde_json::Value> {
    let out = ledgerloop(&[
        "status",
        "--nats",
        url,
        "--scenario",
        "ont-offline",
        "--json",
    ]);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).unwrap_or_default())
}

/// Polls `status --json` until the stream holds more than `batches` batches.
fn wait_for_batches(url: &str, batches: u64) {
    let deadline = Instant::now() + WAIT;
    while status(url).is_none_or(|v| v["batches"].as_u64().unwrap_or(0) <= batches) {
        assert!(
            Instant::now() < deadline,
            "the mesh never wrote {batches} batches"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `signal` to a process this test started (directly or through the mesh).
fn signal(pid: &str, signal: &str) {
    let status = Command::new("kill")
        .args([signal, pid])
        .status()
        .expect("kill");
    assert!(status.success(), "kill {signal} {pid}");
}

/// SIGKILL of one agent process and an abort of another right after an append: both
/// restart, and the exported log equals `sim`'s for the same seed, event for event.
#[test]
fn killed_agent_processes_restart_without_repeating_decisions() {
    let server = NatsServer::start().expect("nats-server");
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("mesh");
    let mut args: Vec<String> = ["mesh", "--nats", &url, "--agent-mode", "processes"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(scenario_args("8"));
    args.extend([
        "--crash-agent".to_string(),
        "drift_judge:40".to_string(),
        "--out".to_string(),
        out.display().to_string(),
    ]);
    let mesh = spawn(&args);
    wait_for_batches(&url, 400);
    let pid_file = out.join("agents").join("releaser.pid");
    let pid = std::fs::read_to_string(&pid_file).expect("releaser pid file");
    signal(pid.trim(), "-KILL");
    let run = finish(mesh);
    let said = text(&run);
    assert!(run.status.success(), "{said}");
    assert!(said.contains("agent restarts:"), "{said}");
    assert!(said.contains("drift_judge 1"), "{said}");
    assert!(said.contains("releaser 1"), "{said}");

    let copy = dir.path().join("copy");
    export_mesh(&url, &copy);
    let reference = dir.path().join("sim");
    let mut sim: Vec<String> = vec!["sim".into(), "--quiet".into()];
    sim.extend(scenario_args("8"));
    sim.extend(["--out".to_string(), reference.display().to_string()]);
    let sim_args: Vec<&str> = sim.iter().map(String::as_str).collect();
    let sim_run = ledgerloop(&sim_args);
    assert!(sim_run.status.success(), "{}", text(&sim_run));
    let mesh_log = jsonl(&copy.join("log"));
    let sim_log = jsonl(&reference.join("log"));
    assert_eq!(mesh_log.lines().count(), sim_log.lines().count());
    assert!(mesh_log == sim_log, "the mesh log differs from the sim log");

    let audit = ledgerloop(&["audit", copy.join("log").to_str().expect("utf-8")]);
    assert!(audit.status.success(), "{}", text(&audit));
    assert!(text(&audit).contains("mismatches: 0"), "{}", text(&audit));
}

/// SIGTERM stops a lone agent cleanly (exit 0); `rollback` and `approve` reach a running
/// mesh and land in its log; SIGTERM stops the mesh before its next simulated hour with
/// exit code 143 and a log that audits with no mismatch.
#[test]
fn sigterm_stops_an_agent_and_a_mesh_cleanly() {
    let server = NatsServer::start().expect("nats-server");
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");

    let agent = spawn(
        &[
            "agent",
            "drift_judge",
            "--nats",
            &url,
            "--scenario",
            "ont-offline",
            "--blob-cache",
            dir.path().join("blobs").to_str().expect("utf-8"),
        ]
        .map(String::from),
    );
    wait_for_subscribers(&url);
    signal(&agent.id().to_string(), "-TERM");
    let stopped = finish(agent);
    assert!(stopped.status.success(), "{}", text(&stopped));

    let mut args: Vec<String> = ["mesh", "--nats", &url].map(String::from).to_vec();
    args.extend(scenario_args("30"));
    args.extend([
        "--out".to_string(),
        dir.path().join("mesh").display().to_string(),
    ]);
    let mesh = spawn(&args);
    wait_for_batches(&url, 200);
    // Operator commands reach the running mesh and are applied at its next hour.
    let operator = |action: &str| {
        ledgerloop(&[
            action,
            "--nats",
            &url,
            "--scenario",
            "ont-offline",
            "--operator",
            "alice",
        ])
    };
    let rollback = operator("rollback");
    assert!(rollback.status.success(), "{}", text(&rollback));
    assert!(text(&rollback).starts_with("hour "), "{}", text(&rollback));
    let approve = operator("approve");
    assert!(approve.status.success(), "{}", text(&approve));
    assert!(text(&approve).contains("alice"), "{}", text(&approve));
    signal(&mesh.id().to_string(), "-TERM");
    let run = finish(mesh);
    let said = text(&run);
    assert_eq!(run.status.code(), Some(143), "{said}");
    assert!(said.contains("stopped by a signal"), "{said}");
    let audit = ledgerloop(&["audit", &url, "--scenario", "ont-offline"]);
    assert!(audit.status.success(), "{}", text(&audit));
    assert!(text(&audit).contains("mismatches: 0"), "{}", text(&audit));
    let copy = dir.path().join("copy");
    export_mesh(&url, &copy);
    let events = jsonl(&copy.join("log"));
    assert!(
        events.lines().filter(|l| l.contains("alice")).count() >= 2,
        "both commands are in the log"
    );
}

/// Waits until the server has had time to register the agent's subscription: the
/// agent's stream is created on open, so the log answers `status` once it is up.
fn wait_for_subscribers(url: &str) {
    let deadline = Instant::now() + WAIT;
    while status(url).is_none() {
        assert!(Instant::now() < deadline, "the agent never opened the log");
        std::thread::sleep(Duration::from_millis(100));
    }
}

//! The world and the mesh in separate processes, against a real nats-server:
//! `ledgerloop devices` sends telemetry (sharded, into the Perceiver queue group),
//! labels and outcomes over NATS to `ledgerloop mesh --world nats`; `ledgerloop predict`
//! asks the served model mid-run; the log is the one `sim` writes for the same seed.

#[path = "support/cli.rs"]
mod cli;
#[path = "../runtime/tests/support/nats.rs"]
mod nats;

use std::time::{Duration, Instant};

use cli::{export_mesh, finish, jsonl, ledgerloop, repo_file, spawn, text};
use nats::NatsServer;

/// Longest any wait of this test may take.
const WAIT: Duration = Duration::from_secs(300);

fn world_args() -> Vec<String> {
    [
        "--scenario",
        &repo_file("scenarios/ont-offline.toml"),
        "--days",
        "6",
        "--set",
        "ont.devices=600",
        "--set",
        "ont.drift.firmware_rollout.start_day=1",
        "--set",
        "ont.drift.firmware_rollout.end_day=3",
    ]
    .map(String::from)
    .to_vec()
}

/// `predict` for device 17 of the `ont-offline` mesh on `url`.
fn predict(url: &str, features: &str) -> std::process::Output {
    ledgerloop(&[
        "predict",
        "--nats",
        url,
        "--scenario",
        "ont-offline",
        "--device",
        "17",
        features,
    ])
}

/// Devices and mesh over NATS: `predict` answers mid-run, both finish, and the exported
/// log equals `sim`'s for the same scenario and seed, event for event.
#[test]
fn devices_drive_the_mesh_and_predict_answers() {
    let server = NatsServer::start().expect("nats-server");
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut mesh_args: Vec<String> = ["mesh", "--nats", &url, "--world", "nats", "--out"]
        .map(String::from)
        .to_vec();
    mesh_args.push(dir.path().join("mesh").display().to_string());
    mesh_args.extend(world_args());
    let mesh = spawn(&mesh_args);
    let mut devices_args: Vec<String> = ["devices", "--nats", &url, "--rate", "6000", "--out"]
        .map(String::from)
        .to_vec();
    devices_args.push(dir.path().join("devices").display().to_string());
    devices_args.extend(world_args());
    let devices = spawn(&devices_args);

    // Mid-run, the served model answers for a device (ONT columns in scenario order).
    let deadline = Instant::now() + WAIT;
    let answer = loop {
        let asked = predict(
            &url,
            "--features=-19.5,2.5,12.0,45.0,3.3,0,0,0.01,1200,1,35,3,-0.2,0,0.1,1.5,0.05,0.02,-0.1",
        );
        if asked.status.success() {
            break text(&asked);
        }
        assert!(
            Instant::now() < deadline,
            "predict never answered: {}",
            text(&asked)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(answer.contains("device 17: class"), "{answer}");
    assert!(answer.contains("from version"), "{answer}");
    // A wrong number of features is refused with the world's columns named.
    let wrong = predict(&url, "--features=1,2,3");
    assert!(!wrong.status.success());
    assert!(
        text(&wrong).contains("this world takes 19: rx_power_dbm"),
        "{}",
        text(&wrong)
    );

    let devices = finish(devices);
    assert!(devices.status.success(), "{}", text(&devices));
    assert!(text(&devices).contains("last week"), "{}", text(&devices));
    let mesh = finish(mesh);
    let said = text(&mesh);
    assert!(mesh.status.success(), "{said}");
    assert!(said.contains("telemetry taken in: 86400 rows"), "{said}");
    // The devices never run ahead of the mesh: at most one hour (600 readings) waits.
    assert!(said.contains("at most 600 rows held"), "{said}");

    let copy = dir.path().join("copy");
    export_mesh(&url, &copy);
    let mut sim_args: Vec<String> = ["sim", "--quiet", "--out"].map(String::from).to_vec();
    sim_args.push(dir.path().join("sim").display().to_string());
    sim_args.extend(world_args());
    let sim_args: Vec<&str> = sim_args.iter().map(String::as_str).collect();
    let sim = ledgerloop(&sim_args);
    assert!(sim.status.success(), "{}", text(&sim));
    let split = jsonl(&copy.join("log"));
    let reference = jsonl(&dir.path().join("sim").join("log"));
    assert_eq!(split.lines().count(), reference.lines().count());
    assert!(
        split == reference,
        "the split run's log differs from the sim log"
    );
    // The copy carries the devices' summary, so its report draws like a simulation's.
    let report = ledgerloop(&["report", copy.to_str().expect("utf-8")]);
    assert!(report.status.success(), "{}", text(&report));
}

/// `predict` with no mesh serving fails at once with a hint naming the missing mesh.
#[test]
fn predict_without_a_mesh_says_so() {
    let server = NatsServer::start().expect("nats-server");
    let asked = predict(&server.url(), "--features=1,2,3");
    assert!(!asked.status.success());
    assert!(
        text(&asked).contains("is a mesh of `ont-offline` running"),
        "{}",
        text(&asked)
    );
}

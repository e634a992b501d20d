//! The mesh as an operator and an auditor use it through the CLI, against a real
//! nats-server: `mesh` runs the governed loop on JetStream and warns about the server's
//! durability, `status` shows the serving route, `audit nats://...` re-derives every
//! decision, `log export --from` writes a run folder that verifies offline, and
//! `mesh-config` writes a per-agent server config.

#[path = "support/cli.rs"]
mod cli;
#[path = "../runtime/tests/support/nats.rs"]
mod nats;

use cli::{ledgerloop, repo_file, text};
use nats::NatsServer;

/// A short ONT run through `mesh`, then `status`, `audit nats://` and `log export --from`.
#[test]
fn mesh_run_is_audited_from_jetstream() {
    let server = NatsServer::start().expect("nats-server");
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("mesh");
    let scenario = repo_file("scenarios/ont-offline.toml");
    let run = ledgerloop(&[
        "mesh",
        "--nats",
        &url,
        "--scenario",
        &scenario,
        "--days",
        "10",
        "--set",
        "ont.devices=1200",
        "--set",
        "ont.drift.firmware_rollout.start_day=2",
        "--set",
        "ont.drift.firmware_rollout.end_day=5",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let said = text(&run);
    assert!(run.status.success(), "{said}");
    assert!(said.contains("WARNING (durability)"), "{said}");
    assert!(out.join("summary.json").is_file());

    let status = ledgerloop(&[
        "status",
        "--nats",
        &url,
        "--scenario",
        "ont-offline",
        "--json",
    ]);
    assert!(status.status.success(), "{}", text(&status));
    let value: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert!(value["route"]["champion"].is_string(), "{value}");
    assert!(value["batches"].as_u64().unwrap_or(0) > 100, "{value}");
    assert_eq!(value["agents"].as_array().map(Vec::len), Some(6), "{value}");
    assert!(
        value["agents"][0]["events"].as_u64().unwrap_or(0) > 0,
        "{value}"
    );
    assert!(
        value["last_decisions"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "{value}"
    );

    let audit = ledgerloop(&["audit", &url, "--scenario", "ont-offline"]);
    let report = text(&audit);
    assert!(audit.status.success(), "{report}");
    assert!(report.contains("mismatches: 0"), "{report}");

    let copy = dir.path().join("copy");
    let export = ledgerloop(&[
        "log",
        "export",
        "--from",
        &url,
        "--scenario",
        "ont-offline",
        "--to",
        copy.to_str().expect("utf-8"),
    ]);
    assert!(export.status.success(), "{}", text(&export));
    let verify = ledgerloop(&["log", "verify", copy.join("log").to_str().expect("utf-8")]);
    assert!(verify.status.success(), "{}", text(&verify));
    // The copy is a run folder: the report is drawn from it like from a simulation.
    let report = ledgerloop(&["report", copy.to_str().expect("utf-8")]);
    assert!(report.status.success(), "{}", text(&report));
    let page = std::fs::read_to_string(copy.join("report.html")).expect("report.html");
    assert!(
        page.contains("<svg") && page.contains("<table"),
        "charts and decisions"
    );
    // Exporting into the same folder again is refused, naming the folder.
    let again = ledgerloop(&[
        "log",
        "export",
        "--from",
        &url,
        "--scenario",
        "ont-offline",
        "--to",
        copy.to_str().expect("utf-8"),
    ]);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already holds a log"),
        "{}",
        text(&again)
    );

    // A second run into the same stream is refused: a log holds one run.
    let twice = ledgerloop(&[
        "mesh",
        "--nats",
        &url,
        "--scenario",
        &scenario,
        "--days",
        "1",
    ]);
    assert!(!twice.status.success());
    assert!(
        text(&twice).contains("already holds a run"),
        "{}",
        text(&twice)
    );
}

/// `mesh-config` writes a server config nats-server accepts, with a password per agent.
#[test]
fn mesh_config_is_accepted_by_nats_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("conf");
    let port = NatsServer::free_port().expect("port");
    let made = ledgerloop(&[
        "mesh-config",
        "--scenario",
        "ont-offline",
        "--port",
        &port.to_string(),
        "--store",
        dir.path().join("js").to_str().expect("utf-8"),
        "--out",
        conf.to_str().expect("utf-8"),
    ]);
    assert!(made.status.success(), "{}", text(&made));
    for role in [
        "perceiver",
        "drift_judge",
        "trainer",
        "distiller",
        "evaluator",
        "releaser",
    ] {
        assert!(conf
            .join("users")
            .join(format!("{role}.password"))
            .is_file());
    }
    let check = std::process::Command::new("nats-server")
        .arg("-c")
        .arg(conf.join("nats-server.conf"))
        .arg("-t")
        .output()
        .expect("nats-server");
    assert!(check.status.success(), "{}", text(&check));
}

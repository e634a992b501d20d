//! The mesh as an operator and an auditor use it through the CLI, against a real
//! nats-server: `mesh` runs the governed loop on JetStream and warns about the server's
//! durability, `status` shows the serving route, `audit nats://...` re-derives every
//! decision, `log export --from` writes a run folder that verifies offline, and
//! `mesh-config` writes a per-agent server config.

#[path = "support/cli.rs"]
mod cli;
#[path = "../runtime/tests/support/nats.rs"]
mod nats;

use std::path::PathBuf;

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

/// A mesh behind `mesh-config --tls-cert`: with `--tls-ca` the run completes over TLS,
/// the host and every agent (actors in the mesh process) each logging in as their own
/// user; without `--tls-ca` the connection is refused with an error naming the server.
#[test]
fn mesh_runs_over_tls_with_a_user_per_agent() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("skipped: openssl is not installed (needed to make a test certificate)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = make_certificates(dir.path());
    let conf = dir.path().join("conf");
    let store = dir.path().join("js");
    let port = NatsServer::free_port().expect("port");
    let config = ledgerloop(&[
        "mesh-config",
        "--scenario",
        "ont-offline",
        "--port",
        &port.to_string(),
        "--store",
        store.to_str().expect("utf-8"),
        "--out",
        conf.to_str().expect("utf-8"),
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
    ]);
    assert!(config.status.success(), "{}", text(&config));
    let _server =
        NatsServer::start_with_config(&conf.join("nats-server.conf"), port, &store).expect("tls");
    let url = format!("tls://127.0.0.1:{port}");
    let password = conf.join("users").join("host.password");
    let scenario = repo_file("scenarios/ont-offline.toml");
    let mut args = vec![
        "mesh",
        "--nats",
        &url,
        "--user",
        "host",
        "--password-file",
        password.to_str().expect("utf-8"),
        "--scenario",
        &scenario,
        "--days",
        "2",
        "--set",
        "ont.devices=300",
    ];
    let out = dir.path().join("out");
    args.extend(["--out", out.to_str().expect("utf-8")]);
    let refused = ledgerloop(&args);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains(&url) && text(&refused).contains("--tls-ca"),
        "{}",
        text(&refused)
    );
    args.extend(["--tls-ca", ca.to_str().expect("utf-8")]);
    let run = ledgerloop(&args);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("decision latency"), "{}", text(&run));
}

/// A test CA and a server certificate for 127.0.0.1 signed by it (rustls refuses a
/// self-signed certificate that is its own CA): returns (ca.pem, server.pem, server.key).
fn make_certificates(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |name: &str| dir.join(name).display().to_string();
    let ext = p("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext.cnf");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
    };
    let (ca_key, ca, key, csr, cert) = (
        p("ca.key"),
        p("ca.pem"),
        p("server.key"),
        p("server.csr"),
        p("server.pem"),
    );
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=ledgerloop test CA",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &key,
        "-out",
        &csr,
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &ext,
        "-out",
        &cert,
    ]);
    (ca.into(), cert.into(), key.into())
}

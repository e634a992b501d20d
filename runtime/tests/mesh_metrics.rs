//! `/metrics` of a mesh run, scraped while the run is going: the text parses as the
//! Prometheus exposition format and carries the named series (per-agent inputs and
//! decisions, append latency histogram, accuracy, labels spent, serving route).

#[path = "support/governed.rs"]
mod governed;
#[path = "support/nats.rs"]
mod nats;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::time::Duration;

use anyhow::{bail, ensure, Context as _, Result};
use governed::*;
use ledgerloop_runtime::mesh::run::MeshOptions;
use ledgerloop_sim::config::Scenario;
use nats::NatsServer;

/// One scrape.
fn scrape(addr: &str) -> Result<String> {
    let mut socket = std::net::TcpStream::connect(addr)?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    socket.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")?;
    let mut response = String::new();
    socket.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("no HTTP body")?;
    ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    ensure!(head.contains("text/plain; version=0.0.4"), "{head}");
    Ok(body.to_string())
}

/// Parses the exposition format strictly enough to catch malformed output: every
/// sample belongs to a declared family, names and labels are well formed, values parse.
fn parse(text: &str) -> Result<BTreeMap<String, f64>> {
    let mut types = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').context("TYPE without kind")?;
            ensure!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').context("sample without value")?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().with_context(|| format!("bad value in {line}"))?,
        };
        let name = series.split('{').next().unwrap_or_default();
        ensure!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name in {line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                let inner = labels
                    .strip_prefix('{')
                    .and_then(|l| l.strip_suffix('}'))
                    .context("bad labels")?;
                for pair in inner.split("\",") {
                    let (k, v) = pair.split_once("=\"").context("bad label")?;
                    ensure!(
                        k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "{line}"
                    );
                    ensure!(!v.trim_end_matches('"').contains('"'), "{line}");
                }
            }
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        ensure!(
            types.contains_key(family),
            "sample of undeclared family: {line}"
        );
        samples.insert(series.to_string(), value);
    }
    Ok(samples)
}

/// A scrape during a mesh run parses and carries the named series.
#[test]
fn metrics_scraped_during_a_mesh_run_parse() -> Result<()> {
    let server = NatsServer::start()?;
    let port = NatsServer::free_port()?;
    let mut options = MeshOptions::new(server.url());
    options.metrics = Some(format!("127.0.0.1:{port}").parse()?);
    let overrides = overrides_with(&["scenario.days=8", "ont.devices=1000"]);
    let scenario = Scenario::load(&scenario_path(), &overrides)?;
    let dir = tempfile::tempdir()?;
    let addr = format!("127.0.0.1:{port}");
    let seen = std::thread::scope(|scope| -> Result<Option<BTreeMap<String, f64>>> {
        let run = scope.spawn(|| {
            ledgerloop_runtime::mesh::run::run(
                &scenario,
                &overrides,
                small_config()?,
                "tests",
                dir.path(),
                &options,
            )
            .map_err(anyhow::Error::from)
        });
        let mut seen = None;
        while !run.is_finished() {
            if let Ok(text) = scrape(&addr) {
                let samples = parse(&text)?;
                let decided = samples
                    .get("ll_decisions_emitted_total{stream=\"perceiver\"}")
                    .copied()
                    .unwrap_or(0.0);
                if decided > 0.0 && samples.keys().any(|k| k.starts_with("ll_accuracy")) {
                    seen = Some(samples);
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        match run.join() {
            Ok(result) => {
                result?;
            }
            Err(_) => bail!("mesh thread panicked"),
        }
        Ok(seen)
    })?;
    let samples = seen.context("no scrape during the run carried decisions")?;
    for series in [
        "ll_inputs_handled_total{stream=\"drift_judge\"}",
        "ll_append_latency_seconds_count{stream=\"perceiver\"}",
        "ll_decision_latency_seconds_count{agent=\"drift_judge\"}",
        "ll_decision_latency_seconds_bucket{agent=\"perceiver\",le=\"+Inf\"}",
        "ll_append_latency_seconds_bucket{stream=\"perceiver\",le=\"+Inf\"}",
        "ll_labels_spent_total",
        "ll_day",
        "ll_accuracy{arm=\"served\"}",
        "ll_canary_fraction",
    ] {
        ensure!(
            samples.contains_key(series),
            "missing {series}: {:?}",
            samples.keys()
        );
    }
    ensure!(samples
        .keys()
        .any(|k| k.starts_with("ll_serving_info{champion=")));
    ensure!(
        samples
            .keys()
            .any(|k| k.starts_with("ll_drift_evidence{detector=")),
        "no drift evidence: {:?}",
        samples.keys()
    );
    Ok(())
}

/// Alerts raised during a mesh run (here: the drift the firmware rollout causes) are
/// published on `ll.<scenario>.alerts`, each naming the decision that raised it.
#[test]
fn alerts_are_published_during_a_mesh_run() -> Result<()> {
    let server = NatsServer::start()?;
    let options = MeshOptions::new(server.url());
    let overrides = overrides_with(&[
        "scenario.days=10",
        "ont.devices=1200",
        "ont.drift.firmware_rollout.start_day=2",
        "ont.drift.firmware_rollout.end_day=5",
    ]);
    let scenario = Scenario::load(&scenario_path(), &overrides)?;
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Runtime::new()?;
    // The subscriber is dropped on this thread; that needs the runtime.
    let _context = runtime.enter();
    let subject = ledgerloop_runtime::alerts::subject(&scenario.scenario.name);
    let mut alerts = runtime.block_on(async {
        let client = async_nats::connect(server.url()).await?;
        let sub = client.subscribe(subject.clone()).await?;
        client.flush().await?;
        anyhow::Ok((client, sub))
    })?;
    ledgerloop_runtime::mesh::run::run(
        &scenario,
        &overrides,
        small_config()?,
        "tests",
        dir.path(),
        &options,
    )?;
    let received: Vec<serde_json::Value> = runtime.block_on(async {
        use futures::StreamExt as _;
        let mut out = Vec::new();
        while let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_secs(2), alerts.1.next()).await
        {
            out.push(serde_json::from_slice(&message.payload)?);
        }
        anyhow::Ok(out)
    })?;
    ensure!(!received.is_empty(), "no alert was published");
    let drift = received
        .iter()
        .find(|a| a["kind"] == "drift_confirmed")
        .context("no drift_confirmed alert")?;
    ensure!(
        drift["decision_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "{drift}"
    );
    Ok(())
}

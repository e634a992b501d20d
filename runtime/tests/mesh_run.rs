//! The governed loop with JetStream as the log of record, against a real nats-server
//! that is killed (SIGKILL) and restarted mid-run: the run completes, the exported log
//! holds exactly the events a sim-host run of the same seed writes (nothing
//! acknowledged lost, no decision twice), the audit re-derives every decision and
//! reproduces every artifact, and the serving pointers in the key-value bucket name the
//! final champion.

#[path = "support/governed.rs"]
mod governed;
#[path = "support/nats.rs"]
mod nats;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use governed::*;
use ledgerloop_events::{FileLog, RecordedEvent};
use ledgerloop_runtime::mesh::export::export_run;
use ledgerloop_runtime::mesh::run::{open_log, MeshOptions, Mirror};
use ledgerloop_sim::config::Scenario;
use nats::NatsServer;

/// How many batches the run writes before the server is killed.
const KILL_AFTER_BATCHES: u64 = 400;
const WAIT: Duration = Duration::from_secs(300);

fn events(dir: &std::path::Path) -> Result<Vec<RecordedEvent>> {
    Ok(FileLog::open_read_only(dir)?
        .read_all(0)?
        .collect::<Result<Vec<_>, _>>()?)
}

/// A mesh run survives a killed server and matches the sim host event for event.
#[test]
fn mesh_run_survives_a_killed_server_and_matches_the_sim_host() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let overrides = small_overrides();
    let sim_summary = run_governed(&dir.path().join("sim"), &overrides, small_config()?)?;

    let mut server = NatsServer::start()?;
    let options = MeshOptions::new(server.url());
    let scenario = Scenario::load(&scenario_path(), &overrides)?;
    let name = scenario.scenario.name.clone();
    let probe = tokio::runtime::Runtime::new()?;
    let mesh_out = dir.path().join("mesh");
    let mesh = std::thread::scope(|scope| -> Result<_> {
        let run = scope.spawn(|| {
            ledgerloop_runtime::mesh::run::run(
                &scenario,
                &overrides,
                small_config()?,
                "tests",
                &mesh_out,
                &options,
            )
            .map_err(anyhow::Error::from)
        });
        // Kill the server once the run is well under way, then start it again.
        let deadline = Instant::now() + WAIT;
        let (_client, log, _) = probe.block_on(open_log(&options, &name))?;
        while probe.block_on(log.last_message_sequence())? < KILL_AFTER_BATCHES {
            if run.is_finished() {
                let result = run
                    .join()
                    .map_err(|_| anyhow::anyhow!("mesh thread panicked"))?;
                anyhow::bail!(
                    "the run ended before the kill: {:?}",
                    result.map(|r| r.summary.map(|s| s.days.len()))
                );
            }
            ensure!(Instant::now() < deadline, "run did not progress");
            std::thread::sleep(Duration::from_millis(20));
        }
        server.restart()?;
        run.join()
            .map_err(|_| anyhow::anyhow!("mesh thread panicked"))?
    })?;
    ensure!(
        !mesh.durability.is_durable(),
        "a default 2.9 server must be reported as weak"
    );
    ensure!(
        serde_json::to_value(
            mesh.summary
                .as_ref()
                .context("an in-process world has a summary")?
        )? == serde_json::to_value(&sim_summary)?,
        "the mesh run's summary differs from the sim host's"
    );

    let export = dir.path().join("export");
    let report = probe.block_on(export_run(&options, &name, &export))?;
    let sim_events = events(&dir.path().join("sim/log"))?;
    let mesh_events = events(&export.join("log"))?;
    ensure!(
        report.events == sim_events.len() as u64,
        "{report:?} vs {}",
        sim_events.len()
    );
    for (a, b) in sim_events.iter().zip(&mesh_events) {
        ensure!(
            a.id == b.id && a.hash == b.hash && a.stream == b.stream && a.sequence == b.sequence,
            "event {} ({}) differs from the sim host's {}",
            b.id,
            b.event_type,
            a.id
        );
    }

    let audit = ledgerloop_runtime::audit::audit(&export.join("log"), &export.join("inputs"), true)
        .context("auditing the exported mesh log")?;
    ensure!(audit.passed(), "audit failed: {:?}", audit.mismatches);
    ensure!(audit.decisions_rederived() == audit.decisions_recorded());
    ensure!(
        audit.decisions_recorded() > 100,
        "{} decisions",
        audit.decisions_recorded()
    );

    let route = probe.block_on(async {
        let (_c, log, _) = open_log(&options, &name).await?;
        Mirror::open(&log, &name).await?.route().await
    })?;
    let route = route.context("no serving pointers were published")?;
    let last_champion = sim_events.iter().rev().find_map(|e| match e.decode() {
        Ok(ledgerloop_events::Event::ModelPromoted(p)) => Some(p.model_id),
        Ok(ledgerloop_events::Event::BaselineTrained(b)) if b.arm == "governed" => Some(b.model_id),
        _ => None,
    });
    ensure!(
        Some(route.champion.clone()) == last_champion,
        "{route:?} vs {last_champion:?}"
    );
    Ok(())
}

/// With a compute budget covering the whole iteration, the mesh (agents as actors over
/// NATS) hands the Trainer the same distillation and evaluation facts as the sim host:
/// its log equals the sim host's event for event, and the audit re-derives it.
#[test]
fn iteration_budget_mesh_matches_the_sim_host() -> Result<()> {
    use ledgerloop_agents::trainer::{BudgetPolicy, BudgetScope};
    let dir = tempfile::tempdir()?;
    let overrides = small_overrides();
    let config = || -> Result<_> {
        let mut config = small_config()?;
        config.trainer.budget = Some(BudgetPolicy {
            cpu_seconds_per_week: 1.0,
            scope: BudgetScope::Iteration,
            ..BudgetPolicy::default()
        });
        Ok(config)
    };
    run_governed(&dir.path().join("sim"), &overrides, config()?)?;
    let server = NatsServer::start()?;
    let options = MeshOptions::new(server.url());
    let scenario = Scenario::load(&scenario_path(), &overrides)?;
    let name = scenario.scenario.name.clone();
    let mesh_out = dir.path().join("mesh");
    ledgerloop_runtime::mesh::run::run(
        &scenario,
        &overrides,
        config()?,
        "tests",
        &mesh_out,
        &options,
    )?;
    let probe = tokio::runtime::Runtime::new()?;
    let export = dir.path().join("export");
    probe.block_on(export_run(&options, &name, &export))?;
    let sim_events = events(&dir.path().join("sim/log"))?;
    let mesh_events = events(&export.join("log"))?;
    ensure!(
        sim_events.len() == mesh_events.len(),
        "{} vs {} events",
        sim_events.len(),
        mesh_events.len()
    );
    for (a, b) in sim_events.iter().zip(&mesh_events) {
        ensure!(
            a.id == b.id && a.hash == b.hash,
            "event {} ({}) differs from the sim host's {}",
            b.id,
            b.event_type,
            a.id
        );
    }
    let folds = sim_events
        .iter()
        .filter(|e| e.stream.as_str() == "trainer")
        .filter(|e| matches!(e.decode(), Ok(ledgerloop_events::Event::InputRecorded(i)) if i.kind == "fold"))
        .count();
    ensure!(
        folds >= 1,
        "the Trainer was handed no distillation or evaluation"
    );
    let audit =
        ledgerloop_runtime::audit::audit(&export.join("log"), &export.join("inputs"), false)?;
    ensure!(audit.passed(), "audit failed: {:?}", audit.mismatches);
    Ok(())
}

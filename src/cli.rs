//! Command definitions and dispatch. Each subcommand lives in its own file.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod audit;
pub mod bench;
pub mod log;
pub mod mesh;
pub mod report;
pub mod sim;

/// ledgerloop: six agents keep small production models accurate, every decision in a
/// hash-chained log.
#[derive(Debug, Parser)]
#[command(name = "ledgerloop", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect, verify, export and import an embedded event log.
    #[command(subcommand)]
    Log(log::LogCommand),
    /// Run a scenario offline in virtual time; writes the event log, summary.json and
    /// report.html.
    ///
    /// Example: ledgerloop sim --scenario scenarios/ont-offline.toml --seed 7
    Sim(sim::SimArgs),
    /// Verify a log's hash chains and re-derive every decision from its recorded inputs;
    /// exit 1 on any decision that does not follow.
    ///
    /// Example: ledgerloop audit out/ont-offline-seed7/log
    Audit(audit::AuditArgs),
    /// Show the causal chain of an event or model version back to the drift evidence.
    ///
    /// Example: ledgerloop explain tabular-0dc12d9c609884d3 --log out/ont-offline-seed7/log
    Explain(audit::ExplainArgs),
    /// Rebuild a run's self-contained HTML report (charts and decision table) from its
    /// folder; writes `<run-dir>/report.html` unless `--out` says otherwise.
    ///
    /// Example: ledgerloop report out/ont-offline-seed7 --out /tmp/ont-report.html
    Report(report::ReportArgs),
    /// Run the governed loop with JetStream as the log of record (inputs and weights in
    /// the object store, the serving route in a key-value bucket).
    ///
    /// Example: ledgerloop mesh --nats nats://127.0.0.1:4222 --scenario scenarios/ont-offline.toml --days 30
    Mesh(mesh::MeshArgs),
    /// Write a nats-server config with one user per agent, each allowed to publish only
    /// its own event subject.
    ///
    /// Example: ledgerloop mesh-config --scenario ont-offline --store /var/lib/ll-js --out mesh-conf
    MeshConfig(mesh::MeshConfigArgs),
    /// Show a mesh's serving route, durability and last decisions.
    ///
    /// Example: ledgerloop status --nats nats://127.0.0.1:4222 --scenario ont-offline
    Status(mesh::StatusArgs),
    /// Measure throughput figures (the README's table comes from these).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Runs a parsed command; the exit code says whether what was checked is intact.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Log(command) => log::run(command),
        Command::Sim(args) => sim::run(args).map(|()| ExitCode::SUCCESS),
        Command::Bench(command) => bench::run(command),
        Command::Audit(args) => audit::run_audit(args),
        Command::Explain(args) => audit::run_explain(args),
        Command::Report(args) => report::run(args).map(|()| ExitCode::SUCCESS),
        Command::Mesh(args) => mesh::run_mesh(args),
        Command::MeshConfig(args) => mesh::run_mesh_config(args),
        Command::Status(args) => mesh::run_status(args),
    }
}

//! Command definitions and dispatch. Each subcommand lives in its own file.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod audit;
pub mod bench;
pub mod log;
pub mod report;
pub mod sim;
pub mod simtest;

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
    /// Run the governed loop under deterministic faults (crashes, torn writes, failed
    /// workers, duplicate/late/reordered deliveries, late or lost labels) over many
    /// seeds, checking invariants after every simulated hour; exit 1 on any failure.
    ///
    /// Example: ledgerloop simtest --scenario scenarios/simtest-ont.toml --seeds 200
    Simtest(simtest::SimtestArgs),
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
        Command::Simtest(args) => simtest::run(args),
    }
}

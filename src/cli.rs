//! Command definitions and dispatch. Each subcommand lives in its own file.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod bench;
pub mod log;
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
    /// Run a scenario offline in virtual time; writes the event log and summary.json.
    ///
    /// Example: ledgerloop sim --scenario scenarios/ont-offline.toml --seed 7
    Sim(sim::SimArgs),
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
    }
}

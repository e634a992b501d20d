//! Command definitions and dispatch. Each subcommand lives in its own file; every command
//! carries an `Example:` block in its help (`after_help`), checked by `tests/cli_ux.rs`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod agent;
pub mod audit;
pub mod bench;
pub mod devices;
pub mod log;
pub mod logging;
pub mod mesh;
pub mod operator;
pub mod progress;
pub mod report;
pub mod sim;
pub mod simtest;

const EXAMPLES: &str = "\
Examples:
  # The main job: six agents govern a simulated ONT fleet for 90 days.
  ledgerloop sim --scenario scenarios/ont-offline.toml --seed 7
  # Re-derive every decision of that run from its log.
  ledgerloop audit out/ont-offline-seed7/log
  # A short run with one JSON log line per event (and the per-day lines) on stderr.
  RUST_LOG=info,ledgerloop_sim=debug ledgerloop --log-format json sim \\
    --scenario scenarios/intent.toml --days 3 --out /tmp/intent-short

Logs go to stderr (RUST_LOG filters them, e.g. RUST_LOG=ledgerloop_runtime=debug);
results go to stdout.";

/// ledgerloop: six agents keep small production models accurate, every decision in a
/// hash-chained log.
#[derive(Debug, Parser)]
#[command(name = "ledgerloop", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    /// No progress bar and no log lines below errors on stderr (wins over RUST_LOG).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Log lines on stderr as readable text or as one JSON object per line.
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub log_format: logging::LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect, verify, export and import an embedded event log.
    #[command(subcommand, after_help = log::EXAMPLES)]
    Log(log::LogCommand),
    /// Run a scenario offline in virtual time; writes the event log, summary.json and
    /// report.html.
    #[command(after_help = sim::EXAMPLES)]
    Sim(sim::SimArgs),
    /// Verify a log's hash chains and re-derive every decision from its recorded inputs;
    /// exit 1 on any decision that does not follow.
    #[command(after_help = audit::AUDIT_EXAMPLES)]
    Audit(audit::AuditArgs),
    /// Show the causal chain of an event or model version back to the drift evidence.
    #[command(after_help = audit::EXPLAIN_EXAMPLES)]
    Explain(audit::ExplainArgs),
    /// Rebuild a run's self-contained HTML report (charts and decision table) from its
    /// folder; writes `<run-dir>/report.html` unless `--out` says otherwise.
    #[command(after_help = report::EXAMPLES)]
    Report(report::ReportArgs),
    /// Run the governed loop with JetStream as the log of record (inputs and weights in
    /// the object store, the serving route in a key-value bucket).
    #[command(after_help = mesh::MESH_EXAMPLES)]
    Mesh(mesh::MeshArgs),
    /// Write a nats-server config with one user per agent, each allowed to publish only
    /// its own event subject.
    #[command(after_help = mesh::MESH_CONFIG_EXAMPLES)]
    MeshConfig(mesh::MeshConfigArgs),
    /// Run the simulated world (fleet, label oracle, outcomes) against a mesh started
    /// with `--world nats`: telemetry, labels and outcomes go over NATS.
    #[command(after_help = devices::DEVICES_EXAMPLES)]
    Devices(devices::DevicesArgs),
    /// Ask a running mesh's served model (champion or canary, by device) for a class.
    #[command(after_help = devices::PREDICT_EXAMPLES)]
    Predict(devices::PredictArgs),
    /// Roll a running mesh back to its previous champion (applied at its next hour).
    #[command(after_help = operator::EXAMPLES)]
    Rollback(operator::OperatorArgs),
    /// Approve a running mesh's canary for promotion (applied at its next hour).
    #[command(after_help = operator::EXAMPLES)]
    Approve(operator::OperatorArgs),
    /// Run one agent of a mesh in this process (a supervised actor fed from
    /// `ll.<scenario>.in.<role>`), rebuilt from the JetStream log.
    #[command(after_help = agent::EXAMPLES)]
    Agent(agent::AgentArgs),
    /// Show a mesh's serving route, durability and last decisions.
    #[command(after_help = mesh::STATUS_EXAMPLES)]
    Status(mesh::StatusArgs),
    /// Run the governed loop under deterministic faults (crashes, torn writes, failed
    /// workers, duplicate/late/reordered deliveries, late or lost labels) over many
    /// seeds, checking invariants after every simulated hour; exit 1 on any failure.
    #[command(after_help = simtest::EXAMPLES)]
    Simtest(simtest::SimtestArgs),
    /// Measure throughput figures (the README's table comes from these).
    #[command(subcommand, after_help = bench::EXAMPLES)]
    Bench(bench::BenchCommand),
}

/// Adds a suggestion of how to fix an error, on its own line after the cause chain.
pub fn with_hint(error: anyhow::Error, hint: &str) -> anyhow::Error {
    anyhow::anyhow!("{error:#}\nhint: {hint}")
}

/// [`with_hint`] for results.
pub trait Hint<T> {
    /// On error, appends the suggestion `hint` returns.
    fn hint(self, hint: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> Hint<T> for Result<T, E> {
    fn hint(self, hint: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|e| with_hint(e.into(), &hint()))
    }
}

/// Sets up logs and progress bars, then runs a parsed command; the exit code says
/// whether what was checked is intact.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    logging::init(cli.log_format, cli.quiet);
    progress::set_quiet(cli.quiet);
    match cli.command {
        Command::Log(command) => log::run(command),
        Command::Sim(args) => sim::run(args).map(|()| ExitCode::SUCCESS),
        Command::Bench(command) => bench::run(command),
        Command::Audit(args) => audit::run_audit(args),
        Command::Explain(args) => audit::run_explain(args),
        Command::Report(args) => report::run(args).map(|()| ExitCode::SUCCESS),
        Command::Mesh(args) => mesh::run_mesh(args),
        Command::MeshConfig(args) => mesh::run_mesh_config(args),
        Command::Agent(args) => agent::run(args),
        Command::Rollback(args) => {
            operator::run(ledgerloop_runtime::host::OperatorAction::Rollback, args)
        }
        Command::Approve(args) => {
            operator::run(ledgerloop_runtime::host::OperatorAction::Approve, args)
        }
        Command::Devices(args) => devices::run_devices_command(args),
        Command::Predict(args) => devices::run_predict(args),
        Command::Status(args) => mesh::run_status(args),
        Command::Simtest(args) => simtest::run(args),
    }
}

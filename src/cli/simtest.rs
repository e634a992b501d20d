//! `ledgerloop simtest`: the governed loop under deterministic faults over many seeds.
//! Prints each failing seed with its first broken invariant and the command that
//! replays it, then seeds per minute; exits 1 on any failure. The logic lives in
//! `ledgerloop_runtime::simtest`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use ledgerloop_runtime::config::GovernedConfig;
use ledgerloop_runtime::simtest::{replay_command, sweep, SeedOutcome, Setup};

/// Examples of `ledgerloop simtest`.
pub const EXAMPLES: &str = "\
Examples:
  # The CI-sized sweep: 200 seeds of the small ONT scenario with every fault kind.
  ledgerloop simtest --scenario scenarios/simtest-ont.toml --seeds 200
  # Replay one seed (the command a failure prints).
  ledgerloop simtest --scenario scenarios/simtest-ont.toml --seeds 1 --from 1234";

/// Seeds between two progress lines on stderr.
const PROGRESS_EVERY: u64 = 50;

/// Arguments of `ledgerloop simtest`.
#[derive(Debug, Args)]
pub struct SimtestArgs {
    /// A small scenario file (e.g. scenarios/simtest-ont.toml).
    #[arg(long)]
    pub scenario: PathBuf,
    /// Number of seeds to run.
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// The agents' policy file with its `[fault_injection]` table; defaults to
    /// `agents/<scenario file name>` beside the scenario.
    #[arg(long)]
    pub agents: Option<PathBuf>,
    /// Overrides any scenario value, e.g. `--set ont.devices=200` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Seeds run at once (each seed's result does not depend on it).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Folder for the seeds' run folders (failing seeds' folders are kept there).
    #[arg(long, default_value = "out/simtest")]
    pub out: PathBuf,
    /// Keep the run folders of passing seeds too.
    #[arg(long)]
    pub keep: bool,
}

/// The default agents file of a simtest scenario: `agents/<file name>` beside it.
fn default_agents(scenario: &Path) -> PathBuf {
    let name = scenario
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("simtest.toml"));
    scenario
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("agents")
        .join(name)
}

/// Runs the sweep and prints its verdict.
pub fn run(args: SimtestArgs) -> anyhow::Result<ExitCode> {
    let agents = args
        .agents
        .clone()
        .unwrap_or_else(|| default_agents(&args.scenario));
    let config = GovernedConfig::load(&agents)?;
    if !config.fault_injection.enabled {
        eprintln!(
            "note: {} has no enabled [fault_injection]; the seeds run without faults",
            agents.display()
        );
    }
    let setup = Setup {
        scenario: args.scenario.clone(),
        overrides: args.set.clone(),
        config,
        source: agents.display().to_string(),
        work_dir: args.out.clone(),
        keep: args.keep,
    };
    let replay_agents = args.agents.as_deref();
    let started = Instant::now();
    let done = AtomicU64::new(0);
    let print_failure = |o: &SeedOutcome| {
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(PROGRESS_EVERY) {
            let minutes = started.elapsed().as_secs_f64() / 60.0;
            eprintln!(
                "{n} of {} seeds done, {:.1} seeds/minute",
                args.seeds,
                n as f64 / minutes.max(1e-9)
            );
        }
        if let Some(v) = &o.violation {
            println!(
                "seed {}: FAILED {} at hour {}: {}\n  replay: {}",
                o.seed,
                v.invariant.name(),
                v.hour,
                v.detail,
                replay_command(&args.scenario, replay_agents, o.seed)
            );
        }
    };
    let outcomes = sweep(&setup, args.from, args.seeds, args.jobs, &print_failure)
        .with_context(|| format!("running {}", args.scenario.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let failed = outcomes.iter().filter(|o| o.violation.is_some()).count();
    let mut faults = std::collections::BTreeMap::<String, u64>::new();
    for o in &outcomes {
        for (kind, n) in &o.faults.injected {
            *faults.entry(kind.clone()).or_default() += n;
        }
    }
    let faults: Vec<String> = faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("faults injected: {}", faults.join(", "));
    println!(
        "{} seeds ({}..{}), {failed} failed, {seconds:.1} s, {:.1} seeds/minute",
        outcomes.len(),
        args.from,
        args.from + args.seeds,
        outcomes.len() as f64 * 60.0 / seconds.max(1e-9)
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

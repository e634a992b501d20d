//! `ledgerloop sim`: runs a scenario in virtual time with the static policy and writes
//! the event log (`<out>/log/`), `<out>/summary.json` and a per-day table.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::policy::StaticPolicy;
use ledgerloop_sim::run::run_to_dir;

/// Arguments of `ledgerloop sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Scenario file (e.g. scenarios/ont-offline.toml).
    #[arg(long)]
    pub scenario: PathBuf,
    /// Master seed (overrides `scenario.seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Simulated days after the warm-up (overrides `scenario.days`).
    #[arg(long)]
    pub days: Option<u32>,
    /// Overrides any scenario value, e.g. `--set ont.devices=2000` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output folder; defaults to `out/<scenario name>-seed<seed>`. Must not hold a log.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs the scenario, prints the table and where the outputs went.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    let mut overrides = args.set.clone();
    // Explicit flags win over `--set`, so they are applied last.
    if let Some(seed) = args.seed {
        overrides.push(format!("scenario.seed={seed}"));
    }
    if let Some(days) = args.days {
        overrides.push(format!("scenario.days={days}"));
    }
    let scenario = Scenario::load(&args.scenario, &overrides)?;
    let out = args.out.unwrap_or_else(|| {
        PathBuf::from("out").join(format!(
            "{}-seed{}",
            scenario.scenario.name, scenario.scenario.seed
        ))
    });
    let summary = run_to_dir(&scenario, &overrides, &mut StaticPolicy::default(), &out)
        .with_context(|| format!("running {}", args.scenario.display()))?;
    print!("{}", summary.table());
    println!("event log: {}", out.join("log").display());
    println!("summary:   {}", out.join("summary.json").display());
    Ok(())
}

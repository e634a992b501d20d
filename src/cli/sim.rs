//! `ledgerloop sim`: runs a scenario in virtual time with the six agents governing the
//! served model (or the static policy) and writes the event log (`<out>/log/`), the
//! agents' stored inputs and artifacts, `<out>/summary.json`, `<out>/report.html` and a
//! per-day table.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use ledgerloop_runtime::config::GovernedConfig;
use ledgerloop_runtime::host::GovernedPolicy;
use ledgerloop_runtime::report::REPORT_FILE;
use ledgerloop_sim::config::replay::ReplayKind;
use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::config::WorldKind;
use ledgerloop_sim::policy::StaticPolicy;
use ledgerloop_sim::run::{open_fresh_log, run_to_dir, run_with_log};

/// Which policy serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyKind {
    /// The six agents (default); static and oracle run beside them.
    Governed,
    /// The warm-up model, never updated.
    Static,
}

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
    /// Which policy serves the model.
    #[arg(long, value_enum, default_value = "governed")]
    pub policy: PolicyKind,
    /// The agents' policy file; defaults to `agents/<world>.toml` beside the scenario.
    #[arg(long)]
    pub agents: Option<PathBuf>,
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
    let context = || format!("running {}", args.scenario.display());
    // The sim host governs classification worlds; rankings (recommend, interaction
    // replays) are served by the static ranker. A replayed classification world has no
    // default policy file, so it is governed when one is given.
    let interaction = scenario
        .replay
        .as_ref()
        .is_some_and(|r| r.kind == ReplayKind::Interaction);
    let governable = match scenario.scenario.world {
        WorldKind::Ont | WorldKind::Intent => true,
        WorldKind::Replay => !interaction && args.agents.is_some(),
        WorldKind::Recommend => false,
    };
    let governed = args.policy == PolicyKind::Governed && governable;
    if args.policy == PolicyKind::Governed && !governed {
        eprintln!(
            "note: the sim host governs classification worlds (ont, intent, a replay with \
             --agents); {} runs the static policy",
            scenario.scenario.name
        );
    }
    let summary = if governed {
        let world = format!("{:?}", scenario.scenario.world).to_lowercase();
        let path = args
            .agents
            .clone()
            .unwrap_or_else(|| GovernedConfig::default_path(&args.scenario, &world));
        let config = GovernedConfig::load(&path)?;
        let log: ledgerloop_events::SharedLog =
            std::sync::Arc::new(open_fresh_log(&out).with_context(context)?);
        let source = path.display().to_string();
        let mut policy = GovernedPolicy::new(config, &source, log.clone(), &out)?;
        run_with_log(&scenario, &overrides, &mut policy, &out, log).with_context(context)?
    } else {
        run_to_dir(&scenario, &overrides, &mut StaticPolicy::default(), &out)
            .with_context(context)?
    };
    print!("{}", summary.table());
    let report = super::report::write_report(&out, &out.join(REPORT_FILE))?;
    println!("event log: {}", out.join("log").display());
    println!("summary:   {}", out.join("summary.json").display());
    println!("report:    {}", report.display());
    Ok(())
}

//! `ledgerloop sim`: runs a scenario in virtual time with the six agents governing the
//! served model (or the static policy) and writes the event log (`<out>/log/`), the
//! agents' stored inputs and artifacts, `<out>/summary.json`, `<out>/report.html` and a
//! per-day table.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use ledgerloop_runtime::config::GovernedConfig;
use ledgerloop_runtime::costs::measured::{MeasuredTotals, MEASURED_COSTS_FILE};
use ledgerloop_runtime::host::GovernedPolicy;
use ledgerloop_runtime::rank_host::RankGovernedPolicy;
use ledgerloop_runtime::report::REPORT_FILE;
use ledgerloop_runtime::transfer::SourceModel;
use ledgerloop_sim::config::replay::ReplayKind;
use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::config::WorldKind;
use ledgerloop_sim::policy::StaticPolicy;
use ledgerloop_sim::run::{open_fresh_log, run_rank_with_log_observed, run_with_log_observed};
use ledgerloop_sim::summary::Summary;

use super::progress::SimProgress;
use super::Hint as _;

pub const EXAMPLES: &str = "\
Examples:
  # The main job: 10,000 devices, 90 days, the agents governing; outputs in out/ont-offline-seed7/.
  ledgerloop sim --scenario scenarios/ont-offline.toml --seed 7
  # A quick look: 2,000 devices, 10 days, into a folder of your choice.
  ledgerloop sim --scenario scenarios/ont-offline.toml --days 10 --set ont.devices=2000 \\
    --out /tmp/ont-short
  # Transfer: start a new fleet's run from the champion of the run above (the first model is
  # that champion fine-tuned on the new warm-up rows); DIR#model-id picks another model.
  ledgerloop sim --scenario scenarios/ont-new-model.toml --seed 7 \
    --warm-start-from out/ont-offline-seed7
  # The static policy alone, with a log line per simulated day on stderr.
  RUST_LOG=ledgerloop_sim=debug ledgerloop sim --scenario scenarios/intent.toml --days 5 \\
    --policy static --out /tmp/intent-static

The progress bar (day, events/s, readings/s, ETA) is drawn on stderr only when it is a
terminal; --quiet turns it off.";

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
    #[command(flatten)]
    pub run: ScenarioArgs,
    /// Output folder; defaults to `out/<scenario name>-seed<seed>`. Must not hold a log.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Which policy serves the model.
    #[arg(long, value_enum, default_value = "governed")]
    pub policy: PolicyKind,
    /// The agents' policy file; defaults to `agents/<world>.toml` beside the scenario.
    #[arg(long)]
    pub agents: Option<PathBuf>,
    /// Start from another run's model instead of training the first model from scratch:
    /// `DIR` (a `ledgerloop sim` run folder: its final champion) or `DIR#model-id` (that
    /// model of the run), fine-tuned on this scenario's warm-up rows, e.g.
    /// `--warm-start-from out/ont-offline-seed7` or
    /// `--warm-start-from out/ont-offline-seed7#tabular-3f2a9c0d1e2b4a5f`.
    #[arg(long, value_name = "DIR[#MODEL-ID]")]
    pub warm_start_from: Option<String>,
}

/// Which scenario a run simulates, with its command-line overrides (shared by `sim`,
/// `mesh` and `devices`).
#[derive(Debug, Clone, Args)]
pub struct ScenarioArgs {
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
}

impl ScenarioArgs {
    /// The `--set` assignments followed by `--seed` and `--days`: explicit flags win over
    /// `--set`, so they are applied last.
    pub fn overrides(&self) -> Vec<String> {
        let mut overrides = self.set.clone();
        if let Some(seed) = self.seed {
            overrides.push(format!("scenario.seed={seed}"));
        }
        if let Some(days) = self.days {
            overrides.push(format!("scenario.days={days}"));
        }
        overrides
    }
}

/// Runs the scenario, prints the table and where the outputs went.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    let overrides = args.run.overrides();
    let scenario = Scenario::load(&args.run.scenario, &overrides).map_err(scenario_hint)?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("out").join(format!(
            "{}-seed{}",
            scenario.scenario.name, scenario.scenario.seed
        ))
    });
    let governed = args.policy == PolicyKind::Governed && governable(&scenario, &args);
    if args.policy == PolicyKind::Governed && !governed {
        tracing::warn!(
            "the sim host governs ont, intent, recommend and a classification replay \
             with --agents; {} runs the static policy",
            scenario.scenario.name
        );
    }
    let meta = &scenario.scenario;
    tracing::info!(
        scenario = %meta.name,
        seed = meta.seed,
        days = meta.days,
        policy = %if governed { "governed" } else { "static" },
        out = %out.display(),
        "run started"
    );
    let started = std::time::Instant::now();
    let (mut summary, measured) = simulate(&args, &scenario, &overrides, &out, governed)
        .with_context(|| format!("running {}", args.run.scenario.display()))?;
    if governed {
        // The world does not know what its policy spent: the costs come from the log.
        summary = ledgerloop_runtime::costs::ledger::attach(&out)
            .with_context(|| format!("summing the costs of {}", out.display()))?;
    }
    print!("{}", summary.table());
    if let Some(m) = measured {
        // The log holds the cost model's CPU seconds; this is what the work took here.
        println!(
            "worker CPU:  {:.1} s measured ({:.1} s wall, {} jobs and evaluations), \
             {:.1} s modelled in the log; per job in {}",
            m.cpu_seconds_measured,
            m.wall_seconds,
            m.works,
            m.cpu_seconds_modelled,
            out.join(MEASURED_COSTS_FILE).display()
        );
    }
    let report = super::report::write_report(&out, &out.join(REPORT_FILE))?;
    let (log, json) = (out.join("log"), out.join("summary.json"));
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        log = %log.display(),
        summary = %json.display(),
        report = %report.display(),
        "run finished"
    );
    println!("event log: {}", log.display());
    println!("summary:   {}", json.display());
    println!("report:    {}", report.display());
    Ok(())
}

/// The scenario error with a suggestion of how to fix it.
fn scenario_hint(error: ledgerloop_sim::Error) -> anyhow::Error {
    use ledgerloop_sim::Error as E;
    let hint = match &error {
        E::ReadScenario { .. } => {
            "scenario files live in scenarios/, e.g. --scenario scenarios/ont-offline.toml"
        }
        E::ParseScenario { .. } | E::InvalidValue { .. } | E::Scenario { .. } => {
            "scenarios/ont-offline.toml, intent.toml and recommend.toml write out and \
             comment every key"
        }
        E::BadOverride { .. } => {
            "--set takes a dotted key of the scenario file and a value, e.g. --set \
             ont.devices=2000"
        }
        _ => return error.into(),
    };
    super::with_hint(error.into(), hint)
}

/// The sim host governs classification worlds and the recommend world (rankings);
/// interaction replays are served by the static ranker. A replayed classification world
/// has no default policy file, so it is governed when one is given.
fn governable(scenario: &Scenario, args: &SimArgs) -> bool {
    match scenario.scenario.world {
        WorldKind::Ont | WorldKind::Intent | WorldKind::Recommend => true,
        WorldKind::Replay => !interaction(scenario) && args.agents.is_some(),
    }
}

/// Whether the scenario replays interactions (a ranking world without a generator).
fn interaction(scenario: &Scenario) -> bool {
    scenario
        .replay
        .as_ref()
        .is_some_and(|r| r.kind == ReplayKind::Interaction)
}

/// Runs the scenario into `out` with the progress bar watching. The agents' policy is
/// checked before the log is created, so a refused policy leaves no log behind and the
/// same `--out` can be used again once it is fixed.
fn simulate(
    args: &SimArgs,
    scenario: &Scenario,
    overrides: &[String],
    out: &Path,
    governed: bool,
) -> anyhow::Result<(Summary, Option<MeasuredTotals>)> {
    let agents = if governed {
        Some(agents_policy(args, scenario)?)
    } else {
        None
    };
    // The source is resolved and its weights checked before the log is created, so a bad
    // source leaves nothing behind.
    let warm_start = match (&args.warm_start_from, governed) {
        (None, _) => None,
        (Some(spec), true) => Some(SourceModel::locate(spec).hint(|| {
            "--warm-start-from takes the folder of a governed `ledgerloop sim` run (its final \
             champion) or DIR#model-id; `ledgerloop explain <model-id> --log DIR/log` shows a \
             model's lineage"
                .into()
        })?),
        (Some(_), false) => {
            anyhow::bail!("--warm-start-from needs the governed policy (the agents' host)")
        }
    };
    let file_log = open_fresh_log(out)?;
    let mut progress = SimProgress::new(file_log.clone(), scenario.scenario.days);
    let log: ledgerloop_events::SharedLog = std::sync::Arc::new(file_log);
    let summary = match agents {
        None => {
            let mut policy = StaticPolicy::default();
            run_with_log_observed(scenario, overrides, &mut policy, out, log, &mut progress)?
        }
        Some((config, source)) if scenario.scenario.world == WorldKind::Recommend => {
            let mut policy = RankGovernedPolicy::new(config, &source, log.clone(), out)?;
            run_rank_with_log_observed(scenario, overrides, &mut policy, out, log, &mut progress)?
        }
        Some((config, source)) => {
            let mut policy = GovernedPolicy::new(config, &source, log.clone(), out)?;
            if let Some(model) = warm_start {
                policy.warm_start_from(model);
            }
            let summary =
                run_with_log_observed(scenario, overrides, &mut policy, out, log, &mut progress)?;
            let measured = policy.measured_costs();
            measured.write(out)?;
            return Ok((summary, Some(measured.totals(None))));
        }
    };
    Ok((summary, None))
}

/// The agents' policy (`--agents`, or the world's file beside the scenario) and its path.
fn agents_policy(args: &SimArgs, scenario: &Scenario) -> anyhow::Result<(GovernedConfig, String)> {
    let world = format!("{:?}", scenario.scenario.world).to_lowercase();
    let path = args
        .agents
        .clone()
        .unwrap_or_else(|| GovernedConfig::default_path(&args.run.scenario, &world));
    let config = GovernedConfig::load(&path).hint(|| {
        format!(
            "scenarios/agents/{world}.toml documents every key of an agents' policy; \
             --agents FILE picks another file"
        )
    })?;
    Ok((config, path.display().to_string()))
}

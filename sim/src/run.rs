//! Builds the world, learner and policy a scenario names and runs it.

use crate::clock::Clock;
use crate::config::replay::ReplayKind;
use crate::config::{Scenario, WorldKind};
use crate::engine::{self, RunOutput};
use crate::error::{Error, Result};
use crate::learner;
use crate::log_sink::EventLogSink;
use crate::policy::rank::{RankPolicy, StaticRankPolicy};
use crate::policy::Policy;
use crate::sink::{NoObserver, NullSink, Observed, RunObserver, RunSink, ScenarioStart, SimRecord};
use crate::summary::{scenario_sha256, Summary};
use crate::world::intent::IntentWorld;
use crate::world::ont::OntWorld;
use crate::world::recommend;
use crate::world::replay::ReplayWorld;
use crate::world::World;
use ledgerloop_events::FileLog;

/// Runs `scenario` with `policy` serving, discarding the records.
pub fn run_scenario(scenario: &Scenario, policy: &mut dyn Policy) -> Result<RunOutput> {
    run_scenario_with(scenario, policy, &mut NullSink)
}

/// Runs `scenario` with `policy` serving; every record goes to `sink` as it happens.
pub fn run_scenario_with(
    scenario: &Scenario,
    policy: &mut dyn Policy,
    sink: &mut dyn RunSink,
) -> Result<RunOutput> {
    let meta = &scenario.scenario;
    let clock = Clock::new(meta.start, scenario.baselines.train_days);
    let missing = |section: &str| Error::Scenario {
        name: meta.name.clone(),
        reason: format!("world = \"{section}\" needs a [{section}] section"),
    };
    let mut world: Box<dyn World> = match meta.world {
        WorldKind::Ont => {
            let cfg = scenario.ont.as_ref().ok_or_else(|| missing("ont"))?;
            Box::new(OntWorld::new(cfg, clock, meta.days, meta.seed))
        }
        WorldKind::Intent => {
            let cfg = scenario.intent.as_ref().ok_or_else(|| missing("intent"))?;
            Box::new(IntentWorld::new(cfg, clock, meta.seed))
        }
        WorldKind::Replay => {
            let cfg = scenario.replay.as_ref().ok_or_else(|| missing("replay"))?;
            if cfg.kind == ReplayKind::Interaction {
                // Interactions drive the recommend loop; the static ranker serves.
                return run_recommend_with(scenario, &mut StaticRankPolicy::default(), sink);
            }
            Box::new(ReplayWorld::new(
                cfg,
                &scenario.source_dir,
                clock,
                meta.days,
            )?)
        }
        WorldKind::Recommend => {
            // The classification policy cannot serve rankings; the static ranker serves.
            return run_recommend_with(scenario, &mut StaticRankPolicy::default(), sink);
        }
    };
    let tabular = !world.shape().features.is_empty();
    let learner = learner::builtin(meta.learner, tabular);
    let start = start_record(scenario, policy.name(), learner.name())?;
    sink.record(clock.time_of(0), SimRecord::ScenarioStarted(&start))?;
    let out = engine::run(scenario, world.as_mut(), policy, learner, sink)?;
    finish(clock, sink, out)
}

/// Runs a recommend scenario, generated (`world = "recommend"`) or replayed from
/// interaction files (`world = "replay"`, `kind = "interaction"`), with `policy` serving
/// rankings.
pub fn run_recommend_with(
    scenario: &Scenario,
    policy: &mut dyn RankPolicy,
    sink: &mut dyn RunSink,
) -> Result<RunOutput> {
    let meta = &scenario.scenario;
    let clock = Clock::new(meta.start, scenario.baselines.train_days);
    let missing = |section: &str| Error::Scenario {
        name: meta.name.clone(),
        reason: format!("a ranking run needs a [{section}] section"),
    };
    let start = start_record(scenario, policy.name(), recommend::LEARNER_NAME)?;
    let out = match (&scenario.recommend, &scenario.replay, meta.world) {
        (Some(cfg), _, WorldKind::Recommend) => {
            sink.record(clock.time_of(0), SimRecord::ScenarioStarted(&start))?;
            recommend::run(scenario, cfg, policy, sink)?
        }
        (_, Some(cfg), WorldKind::Replay) if cfg.kind == ReplayKind::Interaction => {
            sink.record(clock.time_of(0), SimRecord::ScenarioStarted(&start))?;
            recommend::replay::run(scenario, cfg, policy, sink)?
        }
        (_, _, WorldKind::Replay) => return Err(missing("replay] with kind = \"interaction\"")),
        _ => return Err(missing("recommend")),
    };
    finish(clock, sink, out)
}

fn start_record(scenario: &Scenario, policy: &str, learner: &str) -> Result<ScenarioStart> {
    let meta = &scenario.scenario;
    Ok(ScenarioStart {
        name: meta.name.clone(),
        world: format!("{:?}", meta.world).to_lowercase(),
        seed: meta.seed,
        days: meta.days,
        warmup_days: scenario.baselines.train_days,
        scenario_sha256: scenario_sha256(scenario)?,
        policy: policy.to_string(),
        learner: learner.to_string(),
    })
}

fn finish(clock: Clock, sink: &mut dyn RunSink, out: RunOutput) -> Result<RunOutput> {
    let days = (out.days.len() + out.recommend_days.len()) as u32;
    let end = clock.time_of(clock.first_hour_of_day(days));
    sink.record(
        end,
        SimRecord::ScenarioFinished {
            days,
            quarantined: out.quarantined.len() as u64,
        },
    )?;
    Ok(out)
}

/// Runs `scenario` and writes its outputs into `out`: the event log in `out/log/` and
/// `out/summary.json`. Refuses to write into an existing log, so a log always holds
/// exactly one run (and two runs of the same seed compare byte for byte).
pub fn run_to_dir(
    scenario: &Scenario,
    overrides: &[String],
    policy: &mut dyn Policy,
    out: &std::path::Path,
) -> Result<Summary> {
    let log = open_fresh_log(out)?;
    run_with_log(scenario, overrides, policy, out, std::sync::Arc::new(log))
}

/// Opens `out/log` for a new run, refusing a folder that already holds a log.
pub fn open_fresh_log(out: &std::path::Path) -> Result<FileLog> {
    let log_dir = out.join("log");
    let occupied = std::fs::read_dir(&log_dir).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        return Err(Error::OutputExists { path: log_dir });
    }
    crate::log_sink::open_log(&log_dir)
}

/// Like [`run_to_dir`] on a log the caller opened (with [`open_fresh_log`]) and may
/// share with the policy, which then appends its own streams to the same log.
pub fn run_with_log(
    scenario: &Scenario,
    overrides: &[String],
    policy: &mut dyn Policy,
    out: &std::path::Path,
    log: ledgerloop_events::SharedLog,
) -> Result<Summary> {
    run_with_log_observed(scenario, overrides, policy, out, log, &mut NoObserver)
}

/// Like [`run_with_log`], showing every record to `observer` once it is in the log (the
/// CLI draws its progress bar from the `DayClosed` records). The observer cannot change
/// the run: the log and summary are the same bytes with or without one.
pub fn run_with_log_observed(
    scenario: &Scenario,
    overrides: &[String],
    policy: &mut dyn Policy,
    out: &std::path::Path,
    log: ledgerloop_events::SharedLog,
    observer: &mut dyn RunObserver,
) -> Result<Summary> {
    logged_run(scenario, overrides, out, log, observer, |sink| {
        run_scenario_with(scenario, policy, sink)
    })
}

/// Like [`run_with_log_observed`] for a ranking scenario (recommend, interaction
/// replay) with a ranking policy serving.
pub fn run_rank_with_log_observed(
    scenario: &Scenario,
    overrides: &[String],
    policy: &mut dyn RankPolicy,
    out: &std::path::Path,
    log: ledgerloop_events::SharedLog,
    observer: &mut dyn RunObserver,
) -> Result<Summary> {
    logged_run(scenario, overrides, out, log, observer, |sink| {
        run_recommend_with(scenario, policy, sink)
    })
}

/// Runs `body` with the log sink (shown to `observer`), then writes the summary.
fn logged_run(
    scenario: &Scenario,
    overrides: &[String],
    out: &std::path::Path,
    log: ledgerloop_events::SharedLog,
    observer: &mut dyn RunObserver,
    body: impl FnOnce(&mut dyn RunSink) -> Result<RunOutput>,
) -> Result<Summary> {
    let mut sink = EventLogSink::with_log(log, scenario.scenario.seed, overrides)?;
    let mut observed = Observed {
        sink: &mut sink,
        observer,
    };
    let output = body(&mut observed)?;
    sink.close()?;
    let summary = Summary::new(scenario, output)?;
    summary.write(out)?;
    Ok(summary)
}

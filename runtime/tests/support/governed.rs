//! Shared helpers of the governed-run integration tests: a small ONT scenario, the
//! agents' policy file with cheaper training, a run wired like `ledgerloop sim`, a
//! forwarding wrapper for fault injection, and log readers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use ledgerloop_events::{Event, FileLog, RecordedEvent};
use ledgerloop_runtime::config::GovernedConfig;
use ledgerloop_runtime::host::{GovernedPolicy, INPUTS_DIR};
use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::data::Observed;
use ledgerloop_sim::learner::Classifier;
use ledgerloop_sim::policy::{
    Feedback, LabelAnswer, LabelRequest, Policy, PolicyNote, ServingRoute,
};
use ledgerloop_sim::run::{open_fresh_log, run_with_log};
use ledgerloop_sim::summary::Summary;

/// The workspace root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ has a parent")
        .to_path_buf()
}

/// The ONT scenario file.
pub fn scenario_path() -> PathBuf {
    repo().join("scenarios/ont-offline.toml")
}

/// The agents' policy file of the ONT world.
pub fn agents_path() -> PathBuf {
    repo().join("scenarios/agents/ont.toml")
}

/// Overrides of a small run: 1500 devices, 18 days, firmware rollout from day 2.
pub fn small_overrides() -> Vec<String> {
    [
        "ont.devices=1500",
        "scenario.days=18",
        "ont.drift.firmware_rollout.start_day=2",
        "ont.drift.firmware_rollout.end_day=6",
        "ont.drift.interference.enabled=false",
        "ont.drift.new_device_model.enabled=false",
    ]
    .map(String::from)
    .to_vec()
}

/// The small overrides plus `extra` (later keys win).
pub fn overrides_with(extra: &[&str]) -> Vec<String> {
    let mut out = small_overrides();
    out.extend(extra.iter().map(|s| s.to_string()));
    out
}

/// The ONT agents' policy file with cheaper training (fewer epochs, smaller nets).
pub fn small_config() -> Result<GovernedConfig> {
    let mut config = GovernedConfig::load(&agents_path())?;
    config.host.hidden_layers = vec![32, 32];
    config.host.student_hidden_layers = vec![16];
    config.host.max_epochs = 8;
    config.host.fine_tune_epochs = 5;
    Ok(config)
}

/// The small config with a releaser that gathers canary evidence fast enough for a
/// short run: two larger steps, fewer outcomes per step.
pub fn fast_release_config() -> Result<GovernedConfig> {
    let mut config = small_config()?;
    config.releaser.steps = vec![0.25, 0.5];
    config.releaser.min_step_hours = 6;
    config.releaser.min_step_samples = 60;
    config.releaser.guard_min_samples = 40;
    config.releaser.max_step_hours = 96;
    Ok(config)
}

/// The virtual hour (since the start of the warm-up) of an event's time.
pub fn hour_of(time: chrono::DateTime<chrono::Utc>) -> Result<u64> {
    let scenario = Scenario::load(&scenario_path(), &[])?;
    let warmup = i64::from(scenario.baselines.train_days) * 24;
    let hours = (time - scenario.scenario.start).num_hours() + warmup;
    Ok(u64::try_from(hours)?)
}

/// Runs the scenario governed by `config`, with the host wrapped by `wrap` (identity:
/// `|p| Box::new(p)`), writing into `out` like `ledgerloop sim` does.
pub fn run_governed_with(
    out: &Path,
    overrides: &[String],
    config: GovernedConfig,
    wrap: impl FnOnce(GovernedPolicy) -> Box<dyn Policy>,
) -> Result<Summary> {
    let scenario = Scenario::load(&scenario_path(), overrides)?;
    let log: ledgerloop_events::SharedLog = std::sync::Arc::new(open_fresh_log(out)?);
    let host = GovernedPolicy::new(config, "tests", log.clone(), out)?;
    let mut policy = wrap(host);
    Ok(run_with_log(
        &scenario,
        overrides,
        policy.as_mut(),
        out,
        log,
    )?)
}

/// Runs the scenario governed by `config`, unwrapped.
pub fn run_governed(out: &Path, overrides: &[String], config: GovernedConfig) -> Result<Summary> {
    run_governed_with(out, overrides, config, |p| Box::new(p))
}

/// The run's log folder.
pub fn log_dir(out: &Path) -> PathBuf {
    out.join("log")
}

/// The run's stored inputs folder.
pub fn inputs_dir(out: &Path) -> PathBuf {
    out.join(INPUTS_DIR)
}

/// The audit (decisions re-derived from recorded inputs; workers not re-run) of the
/// run written into `out`.
pub fn audit_run(out: &Path) -> Result<ledgerloop_runtime::audit::AuditReport> {
    Ok(ledgerloop_runtime::audit::audit(
        &log_dir(out),
        &inputs_dir(out),
        false,
    )?)
}

/// Every event of the log in `log_dir`, in global order, with its typed view.
pub fn read_events(log_dir: &Path) -> Result<Vec<(RecordedEvent, Event)>> {
    let log = FileLog::open_read_only(log_dir)?;
    let mut out = Vec::new();
    for r in log.read_all(0)? {
        let r = r?;
        let e = r.decode()?;
        out.push((r, e));
    }
    Ok(out)
}

/// The typed events of one kind, picked by `pick`.
pub fn pick<T: Clone>(
    events: &[(RecordedEvent, Event)],
    pick: impl Fn(&Event) -> Option<&T>,
) -> Vec<T> {
    events
        .iter()
        .filter_map(|(_, e)| pick(e).cloned())
        .collect()
}

/// Number of events of `event_type`.
pub fn count(events: &[(RecordedEvent, Event)], event_type: &str) -> usize {
    events
        .iter()
        .filter(|(r, _)| r.event_type == event_type)
        .count()
}

/// What a wrapper may change about the host's dealings with the simulator. Every
/// method defaults to passing things through unchanged.
pub trait Hooks: Send + std::fmt::Debug {
    /// The label answers handed to the host at `hour`.
    fn labels(&mut self, _hour: u64, answers: &[LabelAnswer]) -> Vec<LabelAnswer> {
        answers.to_vec()
    }

    /// The model served for `version`, given what the host would serve and its route.
    fn model(
        &self,
        _version: &str,
        _route: &ServingRoute,
        served: Option<Arc<dyn Classifier>>,
    ) -> Option<Arc<dyn Classifier>> {
        served
    }

    /// The route the host publishes after observing the batch of `hour` (what the
    /// simulator serves from the next hour on).
    fn after_observe(&mut self, _hour: u64, _route: &ServingRoute) {}
}

/// A policy that forwards every call to a [`GovernedPolicy`], through [`Hooks`].
#[derive(Debug)]
pub struct Wrapped<H: Hooks> {
    /// The host.
    pub inner: GovernedPolicy,
    /// The fault.
    pub hooks: H,
}

impl<H: Hooks> Policy for Wrapped<H> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn start(
        &mut self,
        start: &ledgerloop_sim::policy::PolicyStart<'_>,
    ) -> ledgerloop_sim::Result<()> {
        self.inner.start(start)
    }

    fn on_labels(&mut self, hour: u64, answers: &[LabelAnswer]) -> ledgerloop_sim::Result<()> {
        let answers = self.hooks.labels(hour, answers);
        self.inner.on_labels(hour, &answers)
    }

    fn on_feedback(
        &mut self,
        hour: u64,
        version: &str,
        feedback: &[Feedback],
    ) -> ledgerloop_sim::Result<()> {
        self.inner.on_feedback(hour, version, feedback)
    }

    fn route(&self) -> &ServingRoute {
        self.inner.route()
    }

    fn model(&self, version: &str) -> Option<Arc<dyn Classifier>> {
        let served = self.inner.model(version);
        self.hooks.model(version, self.inner.route(), served)
    }

    fn observe(
        &mut self,
        batch: Observed<'_>,
        requests: &mut Vec<LabelRequest>,
    ) -> ledgerloop_sim::Result<()> {
        let hour = batch.hour;
        self.inner.observe(batch, requests)?;
        self.hooks.after_observe(hour, self.inner.route());
        Ok(())
    }

    fn end_of_day(&mut self, day: u32) -> ledgerloop_sim::Result<Vec<PolicyNote>> {
        self.inner.end_of_day(day)
    }
}

/// A compact timeline of the governance decisions of a log, for failure messages.
pub fn timeline(events: &[(RecordedEvent, Event)]) -> String {
    let mut out = String::new();
    for (r, e) in events {
        let line = match e {
            Event::RetrainRequested(x) => format!("retrain {} {}", x.severity, x.strategy),
            Event::TrainingStarted(x) => format!("training {} {}", x.job_id, x.strategy),
            Event::ModelTrained(x) => format!("trained {}", x.model_id),
            Event::TrainingFailed(x) => format!("failed {}: {}", x.job_id, x.reason),
            Event::VerdictIssued(x) => format!(
                "verdict {} {} {:?}",
                x.candidate_model_id, x.verdict, x.failed_gates
            ),
            Event::CanaryStarted(x) => format!("canary {} {}", x.model_id, x.fraction),
            Event::CanaryStepAdvanced(x) => format!("step {} {}", x.model_id, x.to_fraction),
            Event::ModelPromoted(x) => {
                format!("promoted {} (was {})", x.model_id, x.previous_model_id)
            }
            Event::RolledBack(x) => format!(
                "rolled back {} {} -> {}",
                x.model_id, x.reason, x.restored_model_id
            ),
            Event::ApprovalGranted(x) => format!("approval {}", x.subject_id),
            Event::OperatorNoted(x) => format!("operator note {}", x.text),
            _ => continue,
        };
        out.push_str(&format!("  {} {}\n", r.time.format("%m-%d %H:00"), line));
    }
    out
}

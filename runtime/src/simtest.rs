//! `ledgerloop simtest`: the governed loop under deterministic faults, seed after seed,
//! with invariants checked after every simulated hour and at the end.
//!
//! Each seed is a whole governed run of a small scenario whose agents policy carries a
//! `[fault_injection]` table ([`crate::faults::FaultSettings`]). The host draws its
//! [`crate::faults::FaultPlan`] from the seed, so a failing seed replays exactly. The
//! host is wrapped by a checker ([`checker::Checker`]) that looks at the log and the
//! route after every delivery the simulator makes; the first broken invariant stops the
//! run. At the end the log is verified from disk, audited, every agent is rebuilt from
//! its history and compared with the live one, and liveness is judged
//! ([`liveness`]).

pub mod checker;
pub mod liveness;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ledgerloop_events::verify::{verify, VerifyOptions};
use ledgerloop_sim::clock::Clock;
use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::data::Observed;
use ledgerloop_sim::learner::Classifier;
use ledgerloop_sim::policy::{
    Feedback, LabelAnswer, LabelRequest, Policy, PolicyNote, PolicyStart, ServingRoute,
};
use ledgerloop_sim::run::{open_fresh_log, run_with_log};
use serde::Serialize;

use crate::config::GovernedConfig;
use crate::error::{io, Result};
use crate::host::{FaultLog, GovernedPolicy, INPUTS_DIR};
use crate::restore::{restore, same_role, LogView};
use crate::step::Role;

/// The invariants a seed is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// Every event the host was told was stored is in the log, exactly once.
    AcknowledgedOnce,
    /// Every record's checksum and hash, every stream's chain and sequence verify.
    ChainsVerify,
    /// `audit` re-derives every recorded decision from its recorded input.
    AuditRederives,
    /// No agent handles the same input twice; no worker answers a job twice.
    InputOnce,
    /// Only the baseline or a model with a blessed verdict serves (champion or canary).
    ServedBlessed,
    /// One champion at a time: each promotion replaces the champion the log names, and
    /// the route serves that one.
    OneChampion,
    /// The canary's fraction is one of the Releaser's steps, never above its maximum.
    CanaryFraction,
    /// The labels requested on a day never exceed the Perceiver's daily budget, and no
    /// more labels are received than were requested.
    LabelBudget,
    /// An agent rebuilt from the log (after a crash, and every agent at the end) has the
    /// state it had live; a torn append drops exactly that append.
    Restart,
    /// After the faults stop, no begun work stays unfinished (see [`liveness`]).
    Liveness,
    /// The run completes without a host error.
    RunCompletes,
}

impl Invariant {
    /// The invariant's name as printed.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::AcknowledgedOnce => "acknowledged_once",
            Invariant::ChainsVerify => "chains_verify",
            Invariant::AuditRederives => "audit_rederives",
            Invariant::InputOnce => "input_once",
            Invariant::ServedBlessed => "served_blessed",
            Invariant::OneChampion => "one_champion",
            Invariant::CanaryFraction => "canary_fraction",
            Invariant::LabelBudget => "label_budget",
            Invariant::Restart => "restart",
            Invariant::Liveness => "liveness",
            Invariant::RunCompletes => "run_completes",
        }
    }
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// Which.
    pub invariant: Invariant,
    /// Simulated hour of the check that found it.
    pub hour: u64,
    /// What was found.
    pub detail: String,
}

/// The result of one seed.
#[derive(Debug, Clone, Serialize)]
pub struct SeedOutcome {
    /// The seed.
    pub seed: u64,
    /// The first broken invariant (`None`: the seed passed).
    pub violation: Option<Violation>,
    /// What the faults did.
    pub faults: FaultLog,
    /// Events in the log at the end.
    pub events: u64,
    /// The seed's run folder, kept when it failed or when asked to.
    pub out: Option<PathBuf>,
}

/// What every seed of a sweep shares.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Scenario overrides (`key=value`), applied before the seed.
    pub overrides: Vec<String>,
    /// The agents' policies, with `[fault_injection]`.
    pub config: GovernedConfig,
    /// Where the policies came from (recorded in the log).
    pub source: String,
    /// Folder under which each seed's run folder is written.
    pub work_dir: PathBuf,
    /// Keep passing seeds' run folders too.
    pub keep: bool,
}

/// Runs one seed and checks every invariant.
pub fn run_seed(setup: &Setup, seed: u64) -> Result<SeedOutcome> {
    let mut overrides = setup.overrides.clone();
    overrides.push(format!("scenario.seed={seed}"));
    let scenario = Scenario::load(&setup.scenario, &overrides)?;
    let out = setup.work_dir.join(format!("seed-{seed}"));
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(io(&out))?;
    }
    let log: ledgerloop_events::SharedLog = std::sync::Arc::new(open_fresh_log(&out)?);
    let host = GovernedPolicy::new(setup.config.clone(), &setup.source, log.clone(), &out)?;
    let mut checked = Checked {
        host,
        checker: checker::Checker::default(),
        violation: None,
    };
    let run = run_with_log(&scenario, &overrides, &mut checked, &out, log);
    let clock = Clock::new(scenario.scenario.start, scenario.baselines.train_days);
    let end_hour = clock.first_hour_of_day(scenario.scenario.days);
    let violation = match (checked.violation.take(), run) {
        (Some(v), _) => Some(v),
        (None, Err(e)) => Some(Violation {
            invariant: Invariant::RunCompletes,
            hour: checked.host_hour(),
            detail: e.to_string(),
        }),
        (None, Ok(_)) => final_checks(&checked.host, &out, &clock, end_hour)?,
    };
    let events = checked
        .host
        .log()
        .and_then(LogView::read)
        .map_or(0, |v| v.events.len() as u64);
    let keep = setup.keep || violation.is_some();
    if !keep {
        std::fs::remove_dir_all(&out).map_err(io(&out))?;
    }
    Ok(SeedOutcome {
        seed,
        violation,
        faults: checked.host.fault_log().cloned().unwrap_or_default(),
        events,
        out: keep.then_some(out),
    })
}

/// The checks on the finished run: the log from disk, the audit, every agent rebuilt,
/// liveness.
fn final_checks(
    host: &GovernedPolicy,
    out: &Path,
    clock: &Clock,
    end_hour: u64,
) -> Result<Option<Violation>> {
    let broken = |invariant, detail: String| {
        Ok(Some(Violation {
            invariant,
            hour: end_hour,
            detail,
        }))
    };
    if let Some(v) = host.fault_log().and_then(|f| f.violations.first()) {
        return broken(Invariant::Restart, v.clone());
    }
    let log_dir = out.join("log");
    if let Err(e) = verify(&log_dir, VerifyOptions::default()) {
        return broken(Invariant::ChainsVerify, e.to_string());
    }
    let view = LogView::read(&ledgerloop_events::FileLog::open_read_only(&log_dir)?)?;
    let mut stored = std::collections::BTreeMap::new();
    for (r, _) in &view.events {
        *stored.entry(r.id).or_insert(0u32) += 1;
    }
    if let Some(id) = host
        .acknowledged()
        .iter()
        .find(|id| stored.get(*id) != Some(&1))
    {
        return broken(
            Invariant::AcknowledgedOnce,
            format!(
                "acknowledged event {id} is stored {:?} times",
                stored.get(id)
            ),
        );
    }
    let report = crate::audit::audit(&log_dir, &out.join(INPUTS_DIR), false)?;
    if !report.passed() {
        let first = report
            .mismatches
            .first()
            .map(|m| format!("{} #{}: {}", m.stream, m.input_sequence, m.reason));
        return broken(
            Invariant::AuditRederives,
            format!(
                "{} of {} decisions re-derived; first mismatch: {first:?}",
                report.decisions_rederived(),
                report.decisions_recorded()
            ),
        );
    }
    for role in Role::ALL {
        let restored = restore(&view, role)?;
        if !same_role(&restored.states, host.states(), role) {
            return broken(
                Invariant::Restart,
                format!(
                    "the {} rebuilt from the finished log differs from the live one",
                    role.name()
                ),
            );
        }
    }
    let until = host.fault_window().map_or(0, |(_, until)| until);
    if let Some(stall) = liveness::check(&view, host.config(), clock, until, end_hour) {
        return broken(Invariant::Liveness, stall);
    }
    Ok(None)
}

/// The host with a checker looking after every delivery.
#[derive(Debug)]
struct Checked {
    host: GovernedPolicy,
    checker: checker::Checker,
    violation: Option<Violation>,
}

impl Checked {
    fn host_hour(&self) -> u64 {
        self.host.hour()
    }

    /// Runs the checker; the first violation stops the run.
    fn check(&mut self, hour: u64) -> ledgerloop_sim::Result<()> {
        if self.violation.is_some() {
            return Ok(());
        }
        match self.checker.step(&self.host, hour) {
            Ok(()) => Ok(()),
            Err(v) => {
                let reason = format!("invariant {} broken: {}", v.invariant.name(), v.detail);
                self.violation = Some(v);
                Err(ledgerloop_sim::Error::Policy {
                    policy: crate::host::POLICY_NAME.to_string(),
                    reason,
                })
            }
        }
    }
}

impl Policy for Checked {
    fn name(&self) -> &str {
        self.host.name()
    }

    fn start(&mut self, start: &PolicyStart<'_>) -> ledgerloop_sim::Result<()> {
        self.host.start(start)?;
        self.check(0)
    }

    fn on_labels(&mut self, hour: u64, answers: &[LabelAnswer]) -> ledgerloop_sim::Result<()> {
        self.host.on_labels(hour, answers)?;
        self.check(hour)
    }

    fn on_feedback(
        &mut self,
        hour: u64,
        version: &str,
        feedback: &[Feedback],
    ) -> ledgerloop_sim::Result<()> {
        self.host.on_feedback(hour, version, feedback)?;
        self.check(hour)
    }

    fn route(&self) -> &ServingRoute {
        self.host.route()
    }

    fn model(&self, version: &str) -> Option<Arc<dyn Classifier>> {
        self.host.model(version)
    }

    fn observe(
        &mut self,
        batch: Observed<'_>,
        requests: &mut Vec<LabelRequest>,
    ) -> ledgerloop_sim::Result<()> {
        let hour = batch.hour;
        self.host.observe(batch, requests)?;
        self.check(hour)
    }

    fn end_of_day(&mut self, day: u32) -> ledgerloop_sim::Result<Vec<PolicyNote>> {
        self.host.end_of_day(day)
    }
}

/// Runs seeds `from..from + seeds` on `jobs` threads (each seed is independent, so the
/// outcome of a seed does not depend on `jobs`); `on_result` sees each outcome as it
/// comes. Returns the outcomes in seed order; an infrastructure error (a scenario that
/// does not load, a full disk) stops the sweep.
pub fn sweep(
    setup: &Setup,
    from: u64,
    seeds: u64,
    jobs: usize,
    on_result: &(dyn Fn(&SeedOutcome) + Sync),
) -> Result<Vec<SeedOutcome>> {
    let next = AtomicU64::new(from);
    let end = from.saturating_add(seeds);
    let results: Mutex<Vec<Result<SeedOutcome>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= end {
                    break;
                }
                let outcome = run_seed(setup, seed);
                if let Ok(o) = &outcome {
                    on_result(o);
                }
                let failed = outcome.is_err();
                if let Ok(mut all) = results.lock() {
                    all.push(outcome);
                }
                if failed {
                    // Stop handing out seeds: the sweep reports this error.
                    next.store(end, Ordering::Relaxed);
                    break;
                }
            });
        }
    });
    let all = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut outcomes = all.into_iter().collect::<Result<Vec<_>>>()?;
    outcomes.sort_by_key(|o| o.seed);
    Ok(outcomes)
}

/// The command that replays one seed of a sweep.
pub fn replay_command(scenario: &Path, agents: Option<&Path>, seed: u64) -> String {
    let agents = agents
        .map(|a| format!(" --agents {}", a.display()))
        .unwrap_or_default();
    format!(
        "ledgerloop simtest --scenario {}{agents} --seeds 1 --from {seed}",
        scenario.display()
    )
}

//! How the sim host injects the faults of a [`FaultPlan`] and recovers from them.
//!
//! * Crashes happen in [`GovernedPolicy::call`] (`deliver.rs`); here the agent is
//!   restarted: its state and the keys of the inputs it handled are rebuilt from its
//!   recorded history ([`crate::restore`]) and compared with the state it had, and a
//!   torn append is recovered by the log and taken back from the acknowledged events.
//! * Deliveries held back (late or reordered events, hung workers) wait in a queue
//!   released at the end of each hour, due items in a shuffled order.
//! * Label answers held back are released when due; dropped ones never come.
//!
//! With no plan (a normal run) none of this runs.

use std::collections::BTreeMap;

use ledgerloop_events::Event;
use ledgerloop_sim::policy::LabelAnswer;
use serde::Serialize;
use uuid::Uuid;

use super::GovernedPolicy;
use crate::error::Result;
use crate::faults::{DeliveryFault, FaultPlan, LabelFault};
use crate::restore::{replace_role, restore, same_role, LogView};
use crate::step::{Input, Role, States};

/// Rounds of releasing held deliveries per hour; deliveries held again while releasing
/// (a reaction that is itself reordered) wait for the next hour beyond this.
const MAX_RELEASE_ROUNDS: usize = 16;

/// What the faults did to a run: counts per kind and what the host itself found wrong
/// while recovering (a restarted agent whose rebuilt state differs, a torn append that
/// did not recover to the events before it).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FaultLog {
    /// Faults injected, by kind.
    pub injected: BTreeMap<String, u64>,
    /// Duplicate deliveries answered from the log instead of deciding again.
    pub duplicates_ignored: u64,
    /// Broken expectations found while recovering, in order.
    pub violations: Vec<String>,
}

impl FaultLog {
    fn count(&mut self, kind: &str) {
        *self.injected.entry(kind.to_string()).or_default() += 1;
    }
}

/// Work held back by a fault.
#[derive(Debug, Clone)]
enum Held {
    /// An event for an agent, delivered late or out of order.
    Deliver {
        role: Role,
        input: Box<Input>,
        source: Uuid,
        cause: Option<Uuid>,
    },
    /// A hung training worker whose deadline passes.
    WorkerTimeout { started: Uuid, job_id: String },
}

/// The plan of a run with faults and what is held back.
#[derive(Debug)]
pub(super) struct FaultRuntime {
    pub(super) plan: FaultPlan,
    held: Vec<(u64, Held)>,
    held_labels: Vec<(u64, LabelAnswer)>,
    pub(super) log: FaultLog,
}

impl FaultRuntime {
    pub(super) fn new(plan: FaultPlan) -> Self {
        Self {
            plan,
            held: Vec::new(),
            held_labels: Vec::new(),
            log: FaultLog::default(),
        }
    }
}

/// True for inputs a fault may delay or reorder: events handed from one agent (or
/// worker) to another. Label deliveries and pseudo-labels are only ever duplicated: the
/// host's row stores grow in arrival order, which the Trainer's dataset ranges follow.
pub(super) fn delayable(input: &Input) -> bool {
    match input {
        Input::Verdict { .. } => true,
        Input::Event(e) => !matches!(e, Event::LabelsReceived(_) | Event::PseudoLabelsAccepted(_)),
        _ => false,
    }
}

impl GovernedPolicy {
    /// Draws the run's fault plan when the policies enable faults (day 0 starts at
    /// `first_hour`).
    pub(super) fn plan_faults(&mut self, seed: u64, first_hour: u64) {
        let settings = &self.config.fault_injection;
        if settings.enabled {
            let plan = FaultPlan::draw(settings, seed, first_hour);
            self.faults = Some(FaultRuntime::new(plan));
        }
    }

    /// The faults injected so far (`None` in a run without faults).
    pub fn fault_log(&self) -> Option<&FaultLog> {
        self.faults.as_ref().map(|f| &f.log)
    }

    /// The fault window `[from, until)` in hours, when faults are planned.
    pub fn fault_window(&self) -> Option<(u64, u64)> {
        self.faults
            .as_ref()
            .map(|f| (f.plan.from_hour, f.plan.until_hour))
    }

    /// True when the test-only switch that skips the idempotency check is on.
    pub(super) fn breaks_idempotency(&self) -> bool {
        self.faults
            .as_ref()
            .is_some_and(|f| f.plan.settings.break_idempotency)
    }

    fn fault_noted(&mut self, kind: &str) {
        if let Some(f) = self.faults.as_mut() {
            f.log.count(kind);
        }
    }

    fn violation(&mut self, text: String) {
        if let Some(f) = self.faults.as_mut() {
            f.log.violations.push(text);
        }
    }

    /// Restarts `role` after a crash at `hour`: rebuilds its state and handled inputs
    /// from the log and checks the state against `expected` (the state it had at the
    /// last acknowledged call; the live state when `None`).
    pub(super) fn restart(
        &mut self,
        role: Role,
        hour: u64,
        point: &str,
        expected: Option<States>,
    ) -> Result<()> {
        self.fault_noted(&format!("crash_{point}"));
        let view = LogView::read(self.log()?)?;
        let restored = restore(&view, role)?;
        let reference = expected.as_ref().unwrap_or(&self.states);
        if !same_role(reference, &restored.states, role) {
            self.violation(format!(
                "restart: the {} rebuilt from the log after a crash ({point}) at hour {hour} \
                 has a different state than before the crash",
                role.name()
            ));
        }
        replace_role(&mut self.states, restored.states, role);
        self.handled.insert(role, restored.handled);
        Ok(())
    }

    /// A crash during the append of `role`'s last call (`events` events): tears the
    /// log's last frame, lets the log recover, takes the events back from the
    /// acknowledged ones and restarts the agent, whose state must be the one it had
    /// before the call (`before`).
    pub(super) fn tear(
        &mut self,
        role: Role,
        hour: u64,
        tear_bytes: u64,
        events: usize,
        before: States,
    ) -> Result<()> {
        let torn = self.log()?.crash_and_reopen(tear_bytes)?;
        let dropped = torn.as_ref().and_then(|t| t.records_dropped);
        if dropped.is_some_and(|n| n as usize != events) || torn.is_none() {
            self.violation(format!(
                "torn write: recovery after tearing the {}'s append at hour {hour} dropped \
                 {torn:?}, expected exactly its {events} events",
                role.name()
            ));
        }
        self.journal.retract_last(events);
        self.restart(role, hour, "torn_append", Some(before))
    }

    /// Delivers `input` (an event `source`) to `role` with the fault the plan drew.
    pub(super) fn faulty_delivery(
        &mut self,
        fault: DeliveryFault,
        role: Role,
        hour: u64,
        input: Input,
        source: Uuid,
        cause: Option<Uuid>,
    ) -> Result<Vec<(Uuid, Event)>> {
        let held = |input| Held::Deliver {
            role,
            input: Box::new(input),
            source,
            cause,
        };
        match fault {
            DeliveryFault::Duplicate => {
                self.fault_noted("delivery_duplicate");
                let first = self.give_now(role, hour, input.clone(), Some(source), cause)?;
                self.give_now(role, hour, input, Some(source), cause)?;
                return Ok(first);
            }
            DeliveryFault::Delay(hours) => {
                self.fault_noted("delivery_delayed");
                self.hold(hour + hours, held(input));
            }
            DeliveryFault::Reorder => {
                self.fault_noted("delivery_reordered");
                self.hold(hour, held(input));
            }
        }
        Ok(Vec::new())
    }

    fn hold(&mut self, due: u64, work: Held) {
        if let Some(f) = self.faults.as_mut() {
            f.held.push((due, work));
        }
    }

    /// A hung worker: its job is answered by the host's deadline, `timeout_hours` on.
    pub(super) fn hold_timeout(&mut self, hour: u64, started: Uuid, job_id: &str) {
        self.fault_noted("worker_timeout");
        let timeout = self
            .faults
            .as_ref()
            .map_or(1, |f| f.plan.settings.worker_timeout_hours);
        let work = Held::WorkerTimeout {
            started,
            job_id: job_id.to_string(),
        };
        self.hold(hour + timeout, work);
    }

    /// Counts an injected worker failure.
    pub(super) fn worker_failed(&mut self) {
        self.fault_noted("worker_failure");
    }

    /// Releases the held work due by `hour`, due items in a shuffled order.
    pub(super) fn release_held(&mut self, hour: u64) -> Result<()> {
        for _ in 0..MAX_RELEASE_ROUNDS {
            let Some(f) = self.faults.as_mut() else {
                return Ok(());
            };
            let (mut due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut f.held)
                .into_iter()
                .partition(|(d, _)| *d <= hour);
            f.held = later;
            if due.is_empty() {
                return Ok(());
            }
            f.plan.shuffle(&mut due);
            for (_, work) in due {
                self.release(hour, work)?;
            }
        }
        Ok(())
    }

    fn release(&mut self, hour: u64, work: Held) -> Result<()> {
        match work {
            Held::Deliver {
                role,
                input,
                source,
                cause,
            } => {
                // A verdict carries the online statistics at its arrival.
                let input = match *input {
                    Input::Verdict { verdict, .. } => Input::Verdict {
                        verdict,
                        online: self.online(hour),
                    },
                    other => other,
                };
                self.give_now(role, hour, input, Some(source), cause)?;
            }
            Held::WorkerTimeout { started, job_id } => {
                let reason = "injected fault: the worker did not answer before its deadline";
                let fact = super::deliver::failed(&job_id, reason.to_string());
                self.finish_job(hour, started, fact)?;
            }
        }
        Ok(())
    }

    /// The label answers to hand on at `hour`: `answers` minus those the plan drops or
    /// holds back, plus held answers now due.
    pub(super) fn faulty_labels(&mut self, hour: u64, answers: &[LabelAnswer]) -> Vec<LabelAnswer> {
        let Some(f) = self.faults.as_mut() else {
            return answers.to_vec();
        };
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut f.held_labels)
            .into_iter()
            .partition(|(d, _)| *d <= hour);
        f.held_labels = later;
        let mut out: Vec<LabelAnswer> = due.into_iter().map(|(_, a)| a).collect();
        for a in answers {
            match f.plan.label(hour) {
                Some(LabelFault::Dropped) => f.log.count("label_dropped"),
                Some(LabelFault::Late(h)) => {
                    f.log.count("label_late");
                    f.held_labels.push((hour + h, *a));
                }
                None => out.push(*a),
            }
        }
        out
    }

    /// Delivers held label answers that fell due in an hour the oracle sent nothing.
    pub(super) fn release_labels(&mut self, hour: u64) -> Result<()> {
        if self.faults.is_none() {
            return Ok(());
        }
        let due = self.faulty_labels(hour, &[]);
        if due.is_empty() {
            return Ok(());
        }
        self.deliver_labels(hour, &due)
    }

    /// Counts an input answered from the log instead of being decided again.
    pub(super) fn duplicate_ignored(&mut self) {
        if let Some(f) = self.faults.as_mut() {
            f.log.duplicates_ignored += 1;
        }
    }
}

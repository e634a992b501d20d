//! Deterministic fault simulation: what may go wrong in a run, drawn from its seed.
//!
//! [`FaultSettings`] (the `[fault_injection]` table of an agents policy file, absent and
//! off in normal runs) says how often each fault happens and in which run days.
//! [`FaultPlan::draw`] turns them into a plan from the run's seed with the simulator's
//! component RNGs, one stream per kind of fault, so the same seed replays the same
//! faults at the same points and a failing seed is reproduced by running it again.
//!
//! Fault kinds (see `host/faults.rs` for how the host injects them):
//! - an agent crashes at a decision point and restarts, its state rebuilt from the log:
//!   before it handles an input, after its batch was appended but before the host
//!   heard of it (the input is delivered again), or during the append (the last frame
//!   of the log is torn; the log recovers and the input is delivered again);
//! - a training worker fails, or hangs until the host's deadline records a timeout;
//! - an event handed from one agent to another is delivered twice, late, or out of
//!   order with the other deliveries of the hour;
//! - the label oracle answers late, or never.

use ledgerloop_sim::rng::{component_rng, SimRng};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::step::Role;

/// Hours in a day.
const HOURS_PER_DAY: u64 = 24;
/// Largest tear of a crashed append, in bytes (clamped to the frame's length).
const MAX_TEAR_BYTES: u64 = 4096;

/// How often each fault happens, and when. Every rate is a probability per
/// opportunity (per delivery, per job, per label answer) inside the fault window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultSettings {
    /// Master switch; off (the default) injects nothing and changes no byte of a run.
    pub enabled: bool,
    /// First run day (0 = the first day after the warm-up) on which faults happen.
    pub from_day: u32,
    /// Run day from which no fault happens any more (liveness is judged after it).
    pub until_day: u32,
    /// Agent crashes drawn in the window (at the first call of the agent at or after a
    /// uniformly drawn hour).
    pub crashes: u32,
    /// Share of crashes that happen during the append and tear the log's last frame.
    pub torn_write_share: f64,
    /// Share of crashes that happen after the append, before the host heard of it.
    pub after_append_share: f64,
    /// Probability that a training worker fails.
    pub worker_failure_rate: f64,
    /// Probability that a training worker hangs and is timed out by the host.
    pub worker_timeout_rate: f64,
    /// Hours after which the host gives up on a hung worker.
    pub worker_timeout_hours: u64,
    /// Probability that an event handed on to an agent is delivered twice.
    pub duplicate_rate: f64,
    /// Probability that an event handed on to an agent is delivered late.
    pub delay_rate: f64,
    /// Largest delay of a late delivery, in hours (at least 1).
    pub max_delay_hours: u64,
    /// Probability that an event handed on is held to the end of the hour and delivered
    /// in a shuffled order with the other held deliveries.
    pub reorder_rate: f64,
    /// Probability that a label answer arrives late.
    pub label_late_rate: f64,
    /// Largest extra delay of a late label answer, in hours (at least 1).
    pub max_label_delay_hours: u64,
    /// Probability that a label answer never arrives.
    pub label_drop_rate: f64,
    /// TEST ONLY: the host skips its idempotency check, so a duplicate delivery is
    /// decided again. Exists to prove that the simulation's checker catches the bug;
    /// never set it in a real policy.
    pub break_idempotency: bool,
}

impl Default for FaultSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            from_day: 0,
            until_day: 0,
            crashes: 0,
            torn_write_share: 0.0,
            after_append_share: 0.0,
            worker_failure_rate: 0.0,
            worker_timeout_rate: 0.0,
            worker_timeout_hours: 1,
            duplicate_rate: 0.0,
            delay_rate: 0.0,
            max_delay_hours: 1,
            reorder_rate: 0.0,
            label_late_rate: 0.0,
            max_label_delay_hours: 1,
            label_drop_rate: 0.0,
            break_idempotency: false,
        }
    }
}

impl FaultSettings {
    /// True for the default (no fault, not even enabled): such settings are left out of
    /// the recorded policies, so a run without faults writes the bytes it always did.
    pub fn is_off(&self) -> bool {
        *self == Self::default()
    }

    /// Rejects settings no run could use.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let rates = [
            ("torn_write_share", self.torn_write_share),
            ("after_append_share", self.after_append_share),
            ("worker_failure_rate", self.worker_failure_rate),
            ("worker_timeout_rate", self.worker_timeout_rate),
            ("duplicate_rate", self.duplicate_rate),
            ("delay_rate", self.delay_rate),
            ("reorder_rate", self.reorder_rate),
            ("label_late_rate", self.label_late_rate),
            ("label_drop_rate", self.label_drop_rate),
        ];
        for (name, p) in rates {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("fault_injection.{name} = {p}: must lie in [0, 1]"));
            }
        }
        let sums = [
            (
                "torn_write_share + after_append_share",
                self.torn_write_share + self.after_append_share,
            ),
            (
                "worker_failure_rate + worker_timeout_rate",
                self.worker_failure_rate + self.worker_timeout_rate,
            ),
            (
                "duplicate_rate + delay_rate + reorder_rate",
                self.duplicate_rate + self.delay_rate + self.reorder_rate,
            ),
            (
                "label_late_rate + label_drop_rate",
                self.label_late_rate + self.label_drop_rate,
            ),
        ];
        for (name, p) in sums {
            if p > 1.0 {
                return Err(format!("fault_injection: {name} = {p}: must be at most 1"));
            }
        }
        if self.until_day < self.from_day {
            return Err("fault_injection: until_day must not precede from_day".into());
        }
        let hours = [
            ("worker_timeout_hours", self.worker_timeout_hours),
            ("max_delay_hours", self.max_delay_hours),
            ("max_label_delay_hours", self.max_label_delay_hours),
        ];
        for (name, h) in hours {
            if h == 0 {
                return Err(format!("fault_injection.{name} must be at least 1"));
            }
        }
        Ok(())
    }
}

/// Where in a call an agent crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashPoint {
    /// Before it handles the input: the input is then handled by the restarted agent.
    BeforeInput,
    /// After its batch was appended, before the host heard of it: the host delivers the
    /// input again and the restarted agent must answer with what it recorded.
    AfterAppend,
    /// During the append: the log's last frame is torn by `tear_bytes`, the batch was
    /// never acknowledged, and the input is delivered again.
    TornAppend {
        /// Bytes cut off the end of the frame (clamped to leave at least one).
        tear_bytes: u64,
    },
}

/// One planned crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedCrash {
    /// The crash happens at the agent's first call at or after this hour.
    pub hour: u64,
    /// Which agent.
    pub role: Role,
    /// Where in the call.
    pub point: CrashPoint,
}

/// What happens to one delivery of an event to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryFault {
    /// Delivered twice in a row.
    Duplicate,
    /// Delivered this many hours late.
    Delay(u64),
    /// Held to the end of the hour and delivered in a shuffled order.
    Reorder,
}

/// What happens to one training job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerFault {
    /// The worker fails at once.
    Fail,
    /// The worker hangs; the host times it out after `worker_timeout_hours`.
    Timeout,
}

/// What happens to one label answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelFault {
    /// It arrives this many hours late.
    Late(u64),
    /// It never arrives.
    Dropped,
}

/// The faults of one run: the crashes, fixed up front, and one RNG per kind of fault
/// drawn at each opportunity (the opportunities come in a deterministic order, so the
/// draws replay exactly).
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// The settings it was drawn from.
    pub settings: FaultSettings,
    /// First hour (since the start of the warm-up) of the fault window.
    pub from_hour: u64,
    /// First hour after the fault window.
    pub until_hour: u64,
    /// Crashes in hour order.
    pub crashes: Vec<PlannedCrash>,
    deliveries: SimRng,
    workers: SimRng,
    labels: SimRng,
    order: SimRng,
}

impl FaultPlan {
    /// Draws the plan of a run with `seed` whose day 0 starts at `first_hour`.
    pub fn draw(settings: &FaultSettings, seed: u64, first_hour: u64) -> Self {
        let from_hour = first_hour + u64::from(settings.from_day) * HOURS_PER_DAY;
        let until_hour = first_hour + u64::from(settings.until_day) * HOURS_PER_DAY;
        let mut rng = component_rng(seed, "faults/crashes");
        let mut crashes = Vec::new();
        if settings.enabled && until_hour > from_hour {
            for _ in 0..settings.crashes {
                let hour = rng.gen_range(from_hour..until_hour);
                let role = Role::ALL[rng.gen_range(0..Role::ALL.len())];
                let u: f64 = rng.gen();
                let point = if u < settings.torn_write_share {
                    CrashPoint::TornAppend {
                        tear_bytes: rng.gen_range(1..=MAX_TEAR_BYTES),
                    }
                } else if u < settings.torn_write_share + settings.after_append_share {
                    CrashPoint::AfterAppend
                } else {
                    CrashPoint::BeforeInput
                };
                crashes.push(PlannedCrash { hour, role, point });
            }
        }
        crashes.sort_by_key(|c| (c.hour, c.role));
        Self {
            settings: settings.clone(),
            from_hour,
            until_hour,
            crashes,
            deliveries: component_rng(seed, "faults/deliveries"),
            workers: component_rng(seed, "faults/workers"),
            labels: component_rng(seed, "faults/labels"),
            order: component_rng(seed, "faults/order"),
        }
    }

    /// True inside the fault window.
    pub fn active(&self, hour: u64) -> bool {
        self.settings.enabled && (self.from_hour..self.until_hour).contains(&hour)
    }

    /// Takes the crash due for `role` at `hour`, if any.
    pub fn take_crash(&mut self, role: Role, hour: u64) -> Option<CrashPoint> {
        let i = self
            .crashes
            .iter()
            .position(|c| c.role == role && c.hour <= hour)?;
        Some(self.crashes.remove(i).point)
    }

    /// The fault of one delivery at `hour`.
    pub fn delivery(&mut self, hour: u64) -> Option<DeliveryFault> {
        if !self.active(hour) {
            return None;
        }
        let s = &self.settings;
        let u: f64 = self.deliveries.gen();
        if u < s.duplicate_rate {
            Some(DeliveryFault::Duplicate)
        } else if u < s.duplicate_rate + s.delay_rate {
            Some(DeliveryFault::Delay(
                self.deliveries.gen_range(1..=s.max_delay_hours),
            ))
        } else if u < s.duplicate_rate + s.delay_rate + s.reorder_rate {
            Some(DeliveryFault::Reorder)
        } else {
            None
        }
    }

    /// The fault of one training job started at `hour`.
    pub fn worker(&mut self, hour: u64) -> Option<WorkerFault> {
        if !self.active(hour) {
            return None;
        }
        let u: f64 = self.workers.gen();
        if u < self.settings.worker_failure_rate {
            Some(WorkerFault::Fail)
        } else if u < self.settings.worker_failure_rate + self.settings.worker_timeout_rate {
            Some(WorkerFault::Timeout)
        } else {
            None
        }
    }

    /// The fault of one label answer arriving at `hour`.
    pub fn label(&mut self, hour: u64) -> Option<LabelFault> {
        if !self.active(hour) {
            return None;
        }
        let s = &self.settings;
        let u: f64 = self.labels.gen();
        if u < s.label_drop_rate {
            Some(LabelFault::Dropped)
        } else if u < s.label_drop_rate + s.label_late_rate {
            Some(LabelFault::Late(
                self.labels.gen_range(1..=s.max_label_delay_hours),
            ))
        } else {
            None
        }
    }

    /// A shuffle of `n` held deliveries (Fisher-Yates with the plan's own stream).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.order.gen_range(0..=i);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> FaultSettings {
        FaultSettings {
            enabled: true,
            from_day: 1,
            until_day: 4,
            crashes: 5,
            torn_write_share: 0.3,
            after_append_share: 0.3,
            duplicate_rate: 0.2,
            delay_rate: 0.2,
            max_delay_hours: 6,
            ..FaultSettings::default()
        }
    }

    /// The same seed draws the same crashes and the same per-delivery faults.
    #[test]
    fn a_plan_replays_from_its_seed() {
        let draws = |seed| {
            let mut plan = FaultPlan::draw(&settings(), seed, 72);
            let deliveries: Vec<_> = (0..50).map(|_| plan.delivery(100)).collect();
            (plan.crashes.clone(), deliveries)
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        let (crashes, _) = draws(7);
        assert_eq!(crashes.len(), 5);
        assert!(
            crashes.iter().all(|c| (96..168).contains(&c.hour)),
            "{crashes:?}"
        );
    }

    /// Outside its window, or switched off, a plan injects nothing.
    #[test]
    fn no_fault_outside_the_window() {
        let mut plan = FaultPlan::draw(&settings(), 7, 72);
        assert!((0..20).all(|_| plan.delivery(80).is_none() && plan.delivery(168).is_none()));
        let mut off = FaultPlan::draw(&FaultSettings::default(), 7, 72);
        assert!(off.crashes.is_empty());
        assert!((0..20).all(|_| off.delivery(100).is_none() && off.label(100).is_none()));
    }

    /// Rates outside [0, 1] or summing above 1 are refused, naming the key.
    #[test]
    fn impossible_rates_are_refused() {
        let mut s = settings();
        s.duplicate_rate = 0.7;
        s.delay_rate = 0.7;
        let err = s.validate().unwrap_err();
        assert!(err.contains("duplicate_rate + delay_rate"), "{err}");
        s.duplicate_rate = 1.5;
        assert!(s.validate().unwrap_err().contains("duplicate_rate"));
        assert!(settings().validate().is_ok());
        assert!(FaultSettings::default().is_off());
    }
}

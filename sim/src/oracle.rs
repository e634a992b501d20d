//! The label oracle (labels only on request, under a daily budget, after a delay, flipped
//! at a noise rate) and the feedback queue (true outcomes of served predictions revealed
//! after a delay, grouped per serving version).

use std::collections::VecDeque;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::config::{FeedbackConfig, OracleConfig};
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::policy::{Feedback, LabelAnswer, LabelRequest};
use crate::rng::SimRng;

/// Most outcomes the feedback queue holds (about 1.5 GB of [`Feedback`] at worst).
pub const MAX_PENDING_OUTCOMES: usize = 50_000_000;

/// Label counts of one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelStats {
    /// Requests accepted (within budget).
    pub asked: u64,
    /// Requests refused (over budget or naming a row that does not exist).
    pub refused: u64,
    /// Answers delivered to the policy.
    pub answered: u64,
    /// Answers that were deliberately wrong (noise).
    pub flipped: u64,
}

/// Answers labels on request.
#[derive(Debug)]
pub struct LabelOracle {
    daily_budget: u64,
    delay_hours: u64,
    noise_rate: f64,
    rng: SimRng,
    used_today: u64,
    day: i64,
    pending: VecDeque<(u64, LabelAnswer)>,
    /// Counts since the last [`LabelOracle::take_stats`].
    stats: LabelStats,
}

impl LabelOracle {
    /// An oracle configured by `[oracle]`.
    pub fn new(cfg: &OracleConfig, rng: SimRng) -> Self {
        Self {
            daily_budget: cfg.daily_budget.max(0) as u64,
            delay_hours: cfg.delay_hours.max(0) as u64,
            noise_rate: cfg.noise_rate,
            rng,
            used_today: 0,
            day: i64::MIN,
            pending: VecDeque::new(),
            stats: LabelStats::default(),
        }
    }

    /// Accepts the requests about `batch` made on run day `day`, within the budget.
    pub fn ask(&mut self, day: i64, batch: &Batch, requests: &[LabelRequest], n_classes: usize) {
        if day != self.day {
            self.day = day;
            self.used_today = 0;
        }
        for req in requests {
            let row = req.row as usize;
            if self.used_today >= self.daily_budget || row >= batch.len() {
                self.stats.refused += 1;
                continue;
            }
            self.used_today += 1;
            self.stats.asked += 1;
            let mut label = batch.truth[row];
            if n_classes > 1 && self.noise_rate > 0.0 && self.rng.gen::<f64>() < self.noise_rate {
                // Another class, uniformly.
                let shift = self.rng.gen_range(1..n_classes as u32);
                label = (label + shift) % n_classes as u32;
                self.stats.flipped += 1;
            }
            let answer = LabelAnswer {
                asked_hour: batch.hour,
                row: req.row,
                key: batch.keys[row],
                label,
            };
            self.pending
                .push_back((batch.hour + self.delay_hours, answer));
        }
    }

    /// Moves answers due at or before `hour` into `out` (cleared first).
    pub fn due(&mut self, hour: u64, out: &mut Vec<LabelAnswer>) {
        out.clear();
        while let Some((due, _)) = self.pending.front() {
            if *due > hour {
                break;
            }
            if let Some((_, a)) = self.pending.pop_front() {
                out.push(a);
            }
        }
        self.stats.answered += out.len() as u64;
    }

    /// Returns and resets the counters.
    pub fn take_stats(&mut self) -> LabelStats {
        std::mem::take(&mut self.stats)
    }
}

/// Outcomes of one hour, per serving version, waiting to be revealed.
#[derive(Debug, Default)]
pub struct HourFeedback {
    /// `(version, outcomes)` in first-served order.
    pub by_version: Vec<(String, Vec<Feedback>)>,
}

impl HourFeedback {
    /// The outcome list of `version`, created on first use.
    pub fn slot(&mut self, version: &str) -> &mut Vec<Feedback> {
        let i = match self.by_version.iter().position(|(v, _)| v == version) {
            Some(i) => i,
            None => {
                self.by_version.push((version.to_string(), Vec::new()));
                self.by_version.len() - 1
            }
        };
        &mut self.by_version[i].1
    }
}

/// Delays outcomes of served predictions.
#[derive(Debug)]
pub struct FeedbackQueue {
    enabled: bool,
    delay_hours: u64,
    observed_fraction: f64,
    rng: SimRng,
    pending: VecDeque<(u64, HourFeedback)>,
    /// Outcomes in `pending`.
    pending_outcomes: usize,
    delivered: u64,
}

impl FeedbackQueue {
    /// A queue configured by `[feedback]`.
    pub fn new(cfg: &FeedbackConfig, rng: SimRng) -> Self {
        Self {
            enabled: cfg.enabled,
            delay_hours: cfg.delay_hours.max(0) as u64,
            observed_fraction: cfg.observed_fraction,
            rng,
            pending: VecDeque::new(),
            pending_outcomes: 0,
            delivered: 0,
        }
    }

    /// True when outcomes are revealed at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether the next served row's outcome will be observed.
    #[inline]
    pub fn observes_next(&mut self) -> bool {
        self.enabled
            && (self.observed_fraction >= 1.0 || self.rng.gen::<f64>() < self.observed_fraction)
    }

    /// Queues the outcomes of hour `hour`. The queue holds at most
    /// [`MAX_PENDING_OUTCOMES`] outcomes; beyond that the run stops with an error rather
    /// than growing without bound or silently dropping outcomes.
    pub fn push(&mut self, hour: u64, feedback: HourFeedback) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let added: usize = feedback.by_version.iter().map(|(_, v)| v.len()).sum();
        if self.pending_outcomes + added > MAX_PENDING_OUTCOMES {
            return Err(Error::Scenario {
                name: "feedback".into(),
                reason: format!(
                    "more than {MAX_PENDING_OUTCOMES} outcomes waiting; lower \
                     feedback.delay_hours or feedback.observed_fraction"
                ),
            });
        }
        self.pending_outcomes += added;
        self.pending.push_back((hour + self.delay_hours, feedback));
        Ok(())
    }

    /// Pops the outcomes due at or before `hour`.
    pub fn pop_due(&mut self, hour: u64) -> Option<HourFeedback> {
        match self.pending.front() {
            Some((due, _)) if *due <= hour => {
                let (_, fb) = self.pending.pop_front()?;
                self.delivered += fb
                    .by_version
                    .iter()
                    .map(|(_, v)| v.len() as u64)
                    .sum::<u64>();
                Some(fb)
            }
            _ => None,
        }
    }

    /// Returns and resets the number of outcomes delivered.
    pub fn take_delivered(&mut self) -> u64 {
        std::mem::take(&mut self.delivered)
    }
}

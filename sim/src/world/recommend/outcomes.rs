//! Delayed slate outcomes per serving version, bounded.

use std::collections::VecDeque;

use rand::Rng;

use crate::config::FeedbackConfig;
use crate::error::{Error, Result};
use crate::policy::rank::SlateOutcome;
use crate::rng::SimRng;

/// Most slate outcomes waiting to be delivered; beyond it the run stops with an error.
pub const MAX_PENDING_SLATES: usize = 5_000_000;

/// Outcomes of one hour, per version in first-served order.
type HourOutcomes = Vec<(String, Vec<SlateOutcome>)>;

/// Holds served slates' outcomes until `delay_hours` have passed.
#[derive(Debug)]
pub(super) struct OutcomeQueue {
    enabled: bool,
    delay_hours: u64,
    observed_fraction: f64,
    rng: SimRng,
    current: HourOutcomes,
    pending: VecDeque<(u64, HourOutcomes)>,
    pending_slates: usize,
    delivered: u64,
}

impl OutcomeQueue {
    pub(super) fn new(cfg: &FeedbackConfig, rng: SimRng) -> Self {
        Self {
            enabled: cfg.enabled,
            delay_hours: cfg.delay_hours.max(0) as u64,
            observed_fraction: cfg.observed_fraction,
            rng,
            current: Vec::new(),
            pending: VecDeque::new(),
            pending_slates: 0,
            delivered: 0,
        }
    }

    /// Records one served slate of the current hour (if outcomes are observed for it).
    pub(super) fn record(&mut self, version: &str, outcome: SlateOutcome) {
        if !self.enabled || self.rng.gen::<f64>() >= self.observed_fraction {
            return;
        }
        match self.current.iter_mut().find(|(v, _)| v == version) {
            Some((_, list)) => list.push(outcome),
            None => self.current.push((version.to_string(), vec![outcome])),
        }
    }

    /// Closes hour `hour`: its outcomes become due `delay_hours` later.
    pub(super) fn close_hour(&mut self, hour: u64) -> Result<()> {
        let outcomes = std::mem::take(&mut self.current);
        let n: usize = outcomes.iter().map(|(_, v)| v.len()).sum();
        if n == 0 {
            return Ok(());
        }
        if self.pending_slates + n > MAX_PENDING_SLATES {
            return Err(Error::Scenario {
                name: "feedback".into(),
                reason: format!(
                    "more than {MAX_PENDING_SLATES} slate outcomes waiting; lower \
                     feedback.delay_hours or feedback.observed_fraction"
                ),
            });
        }
        self.pending_slates += n;
        self.pending.push_back((hour + self.delay_hours, outcomes));
        Ok(())
    }

    /// Pops the outcomes due at or before `hour`.
    pub(super) fn pop_due(&mut self, hour: u64) -> Option<HourOutcomes> {
        match self.pending.front() {
            Some((due, _)) if *due <= hour => {
                let (_, outcomes) = self.pending.pop_front()?;
                let n: usize = outcomes.iter().map(|(_, v)| v.len()).sum();
                self.pending_slates -= n;
                self.delivered += n as u64;
                Some(outcomes)
            }
            _ => None,
        }
    }

    /// Returns and resets the number of outcomes delivered.
    pub(super) fn take_delivered(&mut self) -> u64 {
        std::mem::take(&mut self.delivered)
    }
}

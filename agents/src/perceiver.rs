//! The Perceiver: cleans incoming readings, keeps per-feature summaries, chooses which
//! items to send for labelling under a daily budget, accepts confident pseudo-labels and
//! tallies online feedback per serving version.
//!
//! Its state is the fold of its own events only: `BatchIngested` carries the per-batch
//! sums and bin counts that build the summaries, `LabelsRequested` carries the day whose
//! budget it spends, and `FeedbackRecorded` the tallies. Inputs themselves never need to
//! be replayed to rebuild the state.

use std::collections::BTreeMap;

use ledgerloop_events::catalogue::{BatchIngested, FeedbackRecorded, LabelsRequested};
use ledgerloop_events::Event;
use serde::{Deserialize, Serialize};

use crate::decider::Decider;
use crate::error::{Error, Result};

pub mod ingest;
pub mod labels;
pub mod policy;

pub use ingest::FeatureStats;
pub use policy::{
    ConversionKind, FeaturePolicy, MissingValues, PerceiverPolicy, SelectionStrategy,
    UnitConversion,
};

/// Most rows (readings or outcomes) one input may hold; larger inputs are refused so
/// that one event stays a bounded size.
pub const MAX_ROWS_PER_INPUT: usize = 100_000;
/// Serving versions whose feedback tallies are kept; the least recently updated is
/// forgotten beyond this.
pub const MAX_TRACKED_VERSIONS: usize = 32;
/// Days in the rolling week of the weekly label budget.
pub const WEEK_DAYS: u32 = 7;
/// Hours per day, for the daily label budget.
pub const HOURS_PER_DAY: u64 = 24;

/// One raw reading of a batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Identifier of the item (what a label request names).
    pub item_id: String,
    /// Device that reported it; a device reports at most once per batch (hour). Empty
    /// when unknown, which turns duplicate detection off for the reading.
    pub device_id: String,
    /// One value per policy feature, `None` when the device did not report it.
    pub features: Vec<Option<f64>>,
    /// The serving model's predicted class probabilities for the reading.
    pub probabilities: Vec<f64>,
    /// The raw text of a text reading (an utterance); empty for tabular readings. The
    /// Perceiver decides on the probabilities only; the text is kept so that a recorded
    /// batch still holds what a pseudo-label was about.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
}

/// One hour's readings from one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadingBatch {
    /// Unique batch identifier.
    pub batch_id: String,
    /// Where it came from (shard, gateway).
    pub source: String,
    /// Virtual hour since the scenario start; the day is `hour / 24`.
    pub hour: u64,
    /// Feature name to the unit this source reports it in, when not the canonical one.
    pub units: BTreeMap<String, String>,
    /// The readings.
    pub rows: Vec<Reading>,
}

/// One revealed outcome of a served prediction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The item the prediction was about.
    pub item_id: String,
    /// The version that served it.
    pub model_id: String,
    /// The class it predicted.
    pub predicted: u32,
    /// The class that really happened.
    pub actual: u32,
}

/// Outcomes revealed during one hour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackBatch {
    /// Virtual hour of the reveal.
    pub hour: u64,
    /// The outcomes, in arrival order.
    pub outcomes: Vec<Outcome>,
}

/// What the Perceiver reacts to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PerceiverInput {
    /// A batch of readings with the serving model's predictions.
    Batch(ReadingBatch),
    /// Online outcomes.
    Feedback(FeedbackBatch),
}

/// Online outcome tallies of one serving version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionTally {
    /// Outcomes seen.
    pub outcomes: u64,
    /// Of which the prediction was wrong.
    pub errors: u64,
    /// Hour of the latest outcome.
    pub last_hour: u64,
}

/// The fold of the Perceiver's events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerceiverState {
    /// Running summary per feature (at most `policy::MAX_FEATURES` names).
    pub features: BTreeMap<String, FeatureStats>,
    /// The day the label counter refers to.
    pub label_day: u32,
    /// Labels requested on `label_day`.
    pub labels_used_today: u64,
    /// Labels requested since the start.
    pub labels_total: u64,
    /// Pseudo-labels accepted since the start.
    pub pseudo_labels_total: u64,
    /// Batches ingested.
    pub batches: u64,
    /// Readings received and readings kept.
    pub rows_received: u64,
    /// Readings kept after cleaning.
    pub rows_clean: u64,
    /// Feedback tallies per serving version (at most `MAX_TRACKED_VERSIONS`).
    pub feedback: BTreeMap<String, VersionTally>,
    /// Labels requested per day over the last week (for the weekly budget).
    #[serde(default)]
    pub labels_by_day: BTreeMap<u32, u64>,
}

impl PerceiverState {
    /// Labels already requested on `day` (zero on any day after the counter's).
    pub fn labels_used_on(&self, day: u32) -> u64 {
        if day == self.label_day {
            self.labels_used_today
        } else {
            0
        }
    }

    /// Labels requested in the rolling week that ends with `day`.
    pub fn labels_used_in_week(&self, day: u32) -> u64 {
        let first = day.saturating_sub(WEEK_DAYS - 1);
        self.labels_by_day.range(first..=day).map(|(_, n)| n).sum()
    }
}

/// The Perceiver decider: a validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Perceiver {
    policy: PerceiverPolicy,
}

impl Perceiver {
    /// Builds the decider, rejecting an unusable policy.
    pub fn new(policy: PerceiverPolicy) -> Result<Self> {
        policy.validate()?;
        Ok(Self { policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> &PerceiverPolicy {
        &self.policy
    }

    fn decide_feedback(&self, input: &FeedbackBatch) -> Result<Vec<Event>> {
        too_large(input.outcomes.len(), "feedback")?;
        let mut per_version: BTreeMap<&str, FeedbackRecorded> = BTreeMap::new();
        for o in &input.outcomes {
            let tally =
                per_version
                    .entry(o.model_id.as_str())
                    .or_insert_with(|| FeedbackRecorded {
                        model_id: o.model_id.clone(),
                        hour: input.hour,
                        ..FeedbackRecorded::default()
                    });
            let wrong = o.predicted != o.actual;
            tally.outcomes += 1;
            tally.errors += u64::from(wrong);
            tally.error_stream.push(if wrong { '1' } else { '0' });
        }
        Ok(per_version.into_values().map(Event::from).collect())
    }
}

fn too_large(rows: usize, what: &str) -> Result<()> {
    if rows > MAX_ROWS_PER_INPUT {
        return Err(Error::InvalidInput {
            component: "Perceiver",
            reason: format!("{what} holds {rows} rows, more than {MAX_ROWS_PER_INPUT}"),
        });
    }
    Ok(())
}

impl Decider for Perceiver {
    type State = PerceiverState;
    type Input = PerceiverInput;

    fn decide(&self, state: &PerceiverState, input: &PerceiverInput) -> Result<Vec<Event>> {
        match input {
            PerceiverInput::Batch(batch) => {
                too_large(batch.rows.len(), "batch")?;
                labels::decide_batch(&self.policy, state, batch)
            }
            PerceiverInput::Feedback(feedback) => self.decide_feedback(feedback),
        }
    }

    fn evolve(state: &mut PerceiverState, event: &Event) {
        match event {
            Event::BatchIngested(e) => evolve_batch(state, e),
            Event::LabelsRequested(e) => evolve_labels(state, e),
            Event::PseudoLabelsAccepted(e) => {
                state.pseudo_labels_total = state.pseudo_labels_total.saturating_add(e.count);
            }
            Event::FeedbackRecorded(e) => evolve_feedback(state, e),
            _ => {}
        }
    }
}

fn evolve_batch(state: &mut PerceiverState, e: &BatchIngested) {
    state.batches += 1;
    state.rows_received = state.rows_received.saturating_add(e.rows);
    state.rows_clean = state.rows_clean.saturating_add(e.clean_rows);
    for (name, bins) in &e.feature_bins {
        let known = state.features.contains_key(name);
        if !known && state.features.len() >= policy::MAX_FEATURES {
            continue;
        }
        let sum = e.feature_sums.get(name).copied().unwrap_or(0.0);
        state
            .features
            .entry(name.clone())
            .or_default()
            .merge(sum, bins);
    }
}

fn evolve_labels(state: &mut PerceiverState, e: &LabelsRequested) {
    // A request for an earlier day than the counter's is late: it is counted in the total
    // but cannot reopen a closed day's budget.
    let n = e.item_ids.len() as u64;
    if e.day > state.label_day {
        state.label_day = e.day;
        state.labels_used_today = 0;
    }
    if e.day == state.label_day {
        state.labels_used_today = state.labels_used_today.saturating_add(n);
    }
    state.labels_total = state.labels_total.saturating_add(n);
    let entry = state.labels_by_day.entry(e.day).or_insert(0);
    *entry = entry.saturating_add(n);
    let keep_from = state.label_day.saturating_sub(WEEK_DAYS - 1);
    state.labels_by_day.retain(|d, _| *d >= keep_from);
}

fn evolve_feedback(state: &mut PerceiverState, e: &FeedbackRecorded) {
    if !state.feedback.contains_key(&e.model_id) && state.feedback.len() >= MAX_TRACKED_VERSIONS {
        // Forget the version updated longest ago (ties: smallest name), deterministically.
        let oldest = state
            .feedback
            .iter()
            .min_by(|a, b| a.1.last_hour.cmp(&b.1.last_hour).then_with(|| a.0.cmp(b.0)))
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            state.feedback.remove(&k);
        }
    }
    let tally = state.feedback.entry(e.model_id.clone()).or_default();
    tally.outcomes = tally.outcomes.saturating_add(e.outcomes);
    tally.errors = tally.errors.saturating_add(e.errors);
    tally.last_hour = tally.last_hour.max(e.hour);
}

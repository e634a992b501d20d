//! The DriftJudge's state and how the Perceiver's facts move it: the champion's error
//! stream feeds the detector and the error rates, ingested samples fill the reference
//! (a seeded reservoir) and then the current window, whose rounds run the data tests.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use ledgerloop_events::catalogue::{BatchIngested, Evidence, FeedbackRecorded};
use serde::{Deserialize, Serialize};

use super::policy::DriftJudgePolicy;
use super::signal::{concept_signal, data_signals, performance_signal, Signal};
use crate::drift::{AnyDetector, DriftDetector};
use crate::perceiver::labels::mix64;

/// Features whose samples are kept; further names are ignored so the state stays bounded.
pub const MAX_WATCHED_FEATURES: usize = 256;

/// The champion's online errors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorTrack {
    /// Outcomes seen since the champion started serving.
    pub seen: u64,
    /// Errors among the first `error_baseline_outcomes` outcomes.
    pub baseline_errors: u64,
    /// Outcomes counted in the baseline.
    pub baseline_outcomes: u64,
    /// The most recent outcomes, 1 for an error (at most `recent_outcomes`).
    pub recent: VecDeque<u8>,
    /// Errors in `recent`.
    pub recent_errors: u64,
}

impl ErrorTrack {
    /// Baseline error rate, once any outcome was counted.
    pub fn baseline_rate(&self) -> Option<f64> {
        (self.baseline_outcomes > 0)
            .then(|| self.baseline_errors as f64 / self.baseline_outcomes as f64)
    }

    /// Error rate over the recent ring.
    pub fn recent_rate(&self) -> Option<f64> {
        (!self.recent.is_empty()).then(|| self.recent_errors as f64 / self.recent.len() as f64)
    }
}

/// A per-feature sample with the confidence sums of the same batches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Hour of the first batch offered.
    pub start_hour: Option<u64>,
    /// Values per feature name.
    pub values: BTreeMap<String, Vec<f64>>,
    /// Rows offered so far (the reservoir's counter).
    pub rows_offered: u64,
    /// Sum of top-class probabilities over the batches' clean rows.
    pub confidence_sum: f64,
    /// Rows in `confidence_sum`.
    pub confidence_rows: u64,
}

impl Sample {
    /// Mean top-class probability: the label-free expected accuracy (CBPE).
    pub fn confidence(&self) -> Option<f64> {
        (self.confidence_rows > 0).then(|| self.confidence_sum / self.confidence_rows as f64)
    }

    /// Rows held per feature (the shortest feature's count).
    pub fn len(&self) -> usize {
        self.values.values().map(Vec::len).min().unwrap_or(0)
    }

    /// Whether no rows are held.
    pub fn is_empty(&self) -> bool {
        self.rows() == 0
    }

    /// Rows that count towards filling the sample: the feature rows, or for a model
    /// without numeric features (text) the rows with a confidence, so the performance
    /// estimate still runs.
    pub fn rows(&self) -> usize {
        if self.values.is_empty() {
            usize::try_from(self.confidence_rows).unwrap_or(usize::MAX)
        } else {
            self.len()
        }
    }

    fn add_confidence(&mut self, e: &BatchIngested) {
        if e.confidence_sum.is_finite() {
            self.confidence_sum += e.confidence_sum;
            self.confidence_rows = self.confidence_rows.saturating_add(e.confidence_rows);
        }
    }
}

/// The shift an alarm reported, while its signals keep crossing (alarm scope `episode`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// Hour of the alarm that opened it (the latest, when a new feature alarmed while it
    /// was open).
    pub opened_hour: u64,
    /// Signal keys that crossed during it (`data:<feature>`; the error stream and the
    /// confidence always belong to an open episode).
    pub keys: BTreeSet<String>,
    /// Data rounds in a row without a crossing of its signals.
    pub quiet_rounds: u32,
}

impl Episode {
    /// Whether `signal` belongs to the episode: one of its features, or a symptom of any
    /// shift (the error stream, the confidence); with `any_feature`
    /// (`episode_joins_any_feature`), every signal does.
    pub fn covers(&self, signal: &Signal, any_feature: bool) -> bool {
        any_feature || signal.kind != "data" || self.keys.contains(&signal.key())
    }

    /// Adds a signal key, keeping the set bounded like the hysteresis set.
    pub fn add(&mut self, key: String) {
        if self.keys.len() < MAX_WATCHED_FEATURES + 2 {
            self.keys.insert(key);
        }
    }
}

/// What the judge knows about the champion it watches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DriftJudgeState {
    /// The policy recorded when watching began (`None` before any champion).
    pub policy: Option<DriftJudgePolicy>,
    /// The champion watched.
    pub champion: Option<String>,
    /// Latest hour seen in any input.
    pub last_hour: u64,
    /// The concept-drift detector fed with the champion's errors.
    pub detector: Option<AnyDetector>,
    /// The champion's error rates.
    pub errors: ErrorTrack,
    /// Whether the reference period is over.
    pub reference_frozen: bool,
    /// The reference reservoir.
    pub reference: Sample,
    /// The current window.
    pub current: Sample,
    /// Data-drift rounds run on this champion.
    pub rounds: u64,
    /// Signals disarmed by hysteresis (`concept`, `performance`, `data:<feature>`).
    pub disarmed: BTreeSet<String>,
    /// Hour of the last alarm acted on, for the cool-down.
    pub last_alarm_hour: Option<u64>,
    /// Alarms raised since the start.
    pub alarms: u64,
    /// The open alarm episode (alarm scope `episode` only). It outlives a champion
    /// change: a champion trained in answer to a shift that goes on is still in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode: Option<Episode>,
}

impl DriftJudgeState {
    /// Resets everything tied to the previous champion and starts watching `model_id`.
    pub fn start_watch(&mut self, policy: DriftJudgePolicy, model_id: &str, detector: AnyDetector) {
        let (last_hour, last_alarm_hour, alarms) =
            (self.last_hour, self.last_alarm_hour, self.alarms);
        let episode = self.episode.take();
        *self = Self {
            policy: Some(policy),
            champion: Some(model_id.to_owned()),
            detector: Some(detector),
            last_hour,
            last_alarm_hour,
            alarms,
            episode,
            ..Self::default()
        };
    }

    /// Folds a Perceiver fact and returns the signals it produced (fired or not). The
    /// same function serves `evolve` and `decide` (on a copy), so both agree exactly.
    pub fn observe_feedback(&mut self, e: &FeedbackRecorded) -> Vec<Signal> {
        self.last_hour = self.last_hour.max(e.hour);
        let Some(policy) = self.policy.clone() else {
            return Vec::new();
        };
        if self.champion.as_deref() != Some(e.model_id.as_str()) {
            return Vec::new();
        }
        let mut flag: Option<(u64, Evidence)> = None;
        for c in e.error_stream.chars() {
            let x = match c {
                '1' => 1u8,
                '0' => 0u8,
                _ => continue,
            };
            self.push_outcome(&policy, x);
            if let Some(d) = self.detector.as_mut() {
                if d.update(f64::from(x)).drift {
                    let ev = d
                        .evidence()
                        .into_iter()
                        .filter(|n| n.value.is_finite())
                        .fold(Evidence::new(), |ev, n| ev.with(n.name, n.value));
                    flag = Some((self.errors.seen, ev));
                }
            }
        }
        let signal = concept_signal(&policy, self, flag);
        self.rearm(&policy, std::slice::from_ref(&signal));
        // The error stream is a symptom of any shift: its crossing keeps an open episode
        // going between data rounds as much as a feature's does.
        if let Some(episode) = self.episode.as_mut().filter(|_| signal.fired) {
            episode.quiet_rounds = 0;
        }
        vec![signal]
    }

    fn push_outcome(&mut self, policy: &DriftJudgePolicy, x: u8) {
        let t = &mut self.errors;
        t.seen += 1;
        if t.baseline_outcomes < policy.error_baseline_outcomes {
            t.baseline_outcomes += 1;
            t.baseline_errors += u64::from(x);
        }
        t.recent.push_back(x);
        t.recent_errors += u64::from(x);
        while t.recent.len() > policy.recent_outcomes {
            let old = t.recent.pop_front().unwrap_or(0);
            t.recent_errors -= u64::from(old);
        }
    }

    /// Folds a `BatchIngested`: into the reference during the reference hours, then
    /// into the current window. A window spans `window_hours`; the first batch past it
    /// closes the window, runs one data and performance round and opens the next one.
    /// Whole-day windows (the default) compare like with like when the world has a daily
    /// cycle, which windows of a few hours against a day-long reference would not.
    pub fn observe_batch(&mut self, e: &BatchIngested) -> Vec<Signal> {
        self.last_hour = self.last_hour.max(e.hour);
        let Some(policy) = self.policy.clone() else {
            return Vec::new();
        };
        if !self.reference_frozen {
            let start = *self.reference.start_hour.get_or_insert(e.hour);
            let in_period = e.hour < start.saturating_add(policy.reference_hours);
            if in_period || self.reference.is_empty() {
                let (size, seed) = (policy.reference_size, policy.reservoir_seed);
                offer(&mut self.reference, None, size, seed, e);
                return Vec::new();
            }
            self.reference_frozen = true;
        }
        let start = *self.current.start_hour.get_or_insert(e.hour);
        let mut signals = Vec::new();
        if e.hour >= start.saturating_add(policy.window_hours) {
            if !self.current.is_empty() {
                signals = data_signals(&policy, &self.reference, &self.current);
                signals.extend(performance_signal(&policy, &self.reference, &self.current));
                self.rounds += 1;
                self.count_quiet_round(&policy, &signals);
            }
            self.current = Sample {
                start_hour: Some(e.hour),
                ..Sample::default()
            };
            self.rearm(&policy, &signals);
        }
        // A fresh draw sequence per window keeps consecutive windows' samples independent.
        let seed = policy.reservoir_seed ^ mix64(self.rounds.wrapping_add(1));
        offer(
            &mut self.current,
            Some(&self.reference),
            policy.current_window,
            seed,
            e,
        );
        signals
    }

    /// Episode scope: a data round in which none of the open episode's signals crossed
    /// (nor the error stream since the last round) counts towards closing it;
    /// `episode_quiet_rounds` such rounds in a row close it.
    fn count_quiet_round(&mut self, policy: &DriftJudgePolicy, signals: &[Signal]) {
        let Some(episode) = self.episode.as_mut() else {
            return;
        };
        let any_feature = policy.episode_joins_any_feature;
        if signals
            .iter()
            .any(|s| s.fired && episode.covers(s, any_feature))
        {
            episode.quiet_rounds = 0;
            return;
        }
        episode.quiet_rounds = episode.quiet_rounds.saturating_add(1);
        if episode.quiet_rounds >= policy.episode_quiet_rounds {
            self.episode = None;
        }
    }

    /// Hysteresis: a disarmed signal whose score fell below `rearm_score` may alarm again.
    fn rearm(&mut self, policy: &DriftJudgePolicy, signals: &[Signal]) {
        for s in signals {
            if s.score < policy.rearm_score {
                self.disarmed.remove(&s.key());
            }
        }
    }
}

/// Reservoir sampling (Vitter's algorithm R) of a batch's sampled rows into `sample`,
/// with a counter-based seeded draw and the same row index for every feature so the
/// sample keeps whole rows. With `only`, features absent from that sample are skipped.
fn offer(
    sample: &mut Sample,
    only: Option<&Sample>,
    capacity: usize,
    seed: u64,
    e: &BatchIngested,
) {
    sample.add_confidence(e);
    let features: Vec<(&String, &Vec<f64>)> = e
        .feature_samples
        .iter()
        .filter(|(name, _)| only.is_none_or(|o| o.values.contains_key(*name)))
        .collect();
    let rows = features.iter().map(|(_, v)| v.len()).min().unwrap_or(0);
    for r in 0..rows {
        let t = sample.rows_offered;
        sample.rows_offered += 1;
        let slot = if t < capacity as u64 {
            None
        } else {
            match usize::try_from(mix64(mix64(seed) ^ t) % (t + 1)) {
                Ok(j) if j < capacity => Some(j),
                _ => continue,
            }
        };
        for (name, values) in &features {
            if !sample.values.contains_key(*name) && sample.values.len() >= MAX_WATCHED_FEATURES {
                continue;
            }
            let kept = sample.values.entry((*name).clone()).or_default();
            match slot {
                None => kept.push(values[r]),
                Some(j) if j < kept.len() => kept[j] = values[r],
                Some(_) => {}
            }
        }
    }
}

//! What the Perceiver is shown and what comes back of it.
//!
//! The Perceiver sees the readings and outcomes of a stable share of the keys
//! (`host.perceive_share`, chosen by hash), each reading with the probabilities of the
//! version that served it. Items are named `<hour>:<row>`, so a label request names the
//! row the simulator's oracle is asked about. Label answers arrive a delay later; the
//! host keeps the requested rows' features until then and appends the answered rows to
//! the label store, grouped by request, in the order the `LabelsReceived` facts say.

use std::collections::BTreeMap;

use ledgerloop_agents::perceiver::{FeedbackBatch, Outcome, Reading, ReadingBatch};
use ledgerloop_events::catalogue::LabelsReceived;
use ledgerloop_events::Event;
use ledgerloop_sim::data::{Inputs, Observed};
use ledgerloop_sim::policy::{Feedback, LabelAnswer, LabelRequest};
use ledgerloop_sim::rng::{stable_hash, unit_interval};

use super::GovernedPolicy;
use crate::data::{RowStore, RowsRecord};
use crate::error::{Error, Result};
use crate::journal::LABELS_STREAM;
use crate::step::{Input, Role};

/// Salt of the hash that picks the perceived keys, so the choice is independent of the
/// canary's.
const PERCEIVE_SALT: u64 = 0x7065_7263_6569_7665;

/// Salt of the hash that picks the keys whose outcomes are reported.
const FEEDBACK_SALT: u64 = 0x6665_6564_6261_636b;
/// Salt of the class-balancing draw.
const BALANCE_SALT: u64 = 0x6261_6c61_6e63_6521;

/// A requested row waiting for its label.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingLabel {
    /// The `LabelsRequested.request_id` it belongs to.
    pub request_id: String,
    /// The row's raw input (one row of features or one text).
    pub input: Inputs,
    /// Slice.
    pub slice: u16,
}

fn item_id(hour: u64, row: u32) -> String {
    format!("{hour}:{row}")
}

fn row_of(item: &str) -> Option<u32> {
    item.split_once(':').and_then(|(_, r)| r.parse().ok())
}

/// The shortest decimal that reads back as `x` in `f32`, as `f64`: what a device would
/// have sent, and short in the stored input.
fn reported(x: f32) -> Option<f64> {
    if !x.is_finite() {
        return None;
    }
    format!("{x}").parse().ok()
}

impl GovernedPolicy {
    /// Per class, the probability an outcome is kept (all 1 unless balancing is on):
    /// `n_rarest / n_c` over the outcomes revealed so far (this delivery included),
    /// with classes never seen yet kept in full.
    fn outcome_keep_shares(&self) -> Vec<f64> {
        let counts = &self.outcome_counts;
        let rarest = counts.iter().copied().filter(|n| *n > 0).min();
        match (self.config.host.balance_feedback, rarest) {
            (true, Some(r)) => counts
                .iter()
                .map(|n| if *n == 0 { 1.0 } else { r as f64 / *n as f64 })
                .collect(),
            _ => vec![1.0; counts.len()],
        }
    }

    fn perceived(&self, key: u64) -> bool {
        unit_interval(stable_hash(key ^ PERCEIVE_SALT)) < self.config.host.perceive_share
    }

    /// Shows the Perceiver the hour's perceived readings; turns its label requests into
    /// the simulator's and stores its pseudo-labels.
    pub(super) fn perceive(
        &mut self,
        batch: Observed<'_>,
        requests: &mut Vec<LabelRequest>,
    ) -> Result<()> {
        let hour = batch.hour;
        let rows: Vec<usize> = (0..batch.keys.len())
            .filter(|i| self.perceived(batch.keys[*i]))
            .collect();
        let mut probabilities = self.serving_probabilities(&batch, &rows)?;
        let readings = rows
            .iter()
            .map(|&i| reading(&batch, i, probabilities.remove(&i).unwrap_or_default()))
            .collect::<Vec<_>>();
        let input = ReadingBatch {
            batch_id: format!("h{hour}"),
            source: "sim".into(),
            hour,
            units: BTreeMap::new(),
            rows: readings,
        };
        let top_class: BTreeMap<u32, u32> = input
            .rows
            .iter()
            .filter_map(|r| Some((row_of(&r.item_id)?, argmax(&r.probabilities))))
            .collect();
        let decisions = self.call(Role::Perceiver, hour, Input::Readings(input), None, None)?;
        for (id, event) in &decisions {
            match event {
                Event::LabelsRequested(req) => {
                    self.request_events.insert(req.request_id.clone(), *id);
                    for row in req.item_ids.iter().filter_map(|s| row_of(s)) {
                        requests.push(LabelRequest { row });
                        let mut input = batch.inputs.empty_like();
                        input.push_row_from(batch.inputs, row as usize);
                        let pending = PendingLabel {
                            request_id: req.request_id.clone(),
                            input,
                            slice: batch.slices.get(row as usize).copied().unwrap_or(0),
                        };
                        self.pending_labels.insert((hour, row), pending);
                    }
                }
                Event::PseudoLabelsAccepted(p) => {
                    for row in p.item_ids.iter().filter_map(|s| row_of(s)) {
                        let class = top_class.get(&row).copied().unwrap_or(0);
                        self.store_pseudo(&batch, row as usize, class);
                    }
                }
                _ => {}
            }
        }
        self.react(hour, &decisions)
    }

    /// Class probabilities of `rows` of the batch, each from the version that served it.
    fn serving_probabilities(
        &self,
        batch: &Observed<'_>,
        rows: &[usize],
    ) -> Result<BTreeMap<usize, Vec<f64>>> {
        let mut by_version: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for &i in rows {
            let v = self.route.version_for(batch.keys[i]).to_string();
            by_version.entry(v).or_default().push(i);
        }
        let mut probabilities = BTreeMap::new();
        for (version, idx) in &by_version {
            let model = self.models.get(version).ok_or_else(|| Error::Replay {
                stream: "perceiver".into(),
                sequence: 0,
                reason: format!("serving version {version} is not loaded"),
            })?;
            let mut sub = batch.inputs.empty_like();
            for i in idx {
                sub.push_row_from(batch.inputs, *i);
            }
            let p = model.proba(&sub)?;
            for (k, i) in idx.iter().enumerate() {
                let row = &p[k * self.n_classes..(k + 1) * self.n_classes];
                probabilities.insert(*i, row.iter().map(|x| f64::from(*x)).collect());
            }
        }
        Ok(probabilities)
    }

    /// Appends row `r` of the batch to the pseudo-label store as class `class`.
    fn store_pseudo(&mut self, batch: &Observed<'_>, r: usize, class: u32) {
        let slice = batch.slices.get(r).copied().unwrap_or(0);
        match batch.inputs {
            Inputs::Tabular { n_features, values } => {
                self.pseudo
                    .push(&values[r * n_features..(r + 1) * n_features], class, slice)
            }
            Inputs::Text { texts } => self.pseudo.push_text(&texts[r], class, slice),
        }
    }

    /// Appends answered rows to the label store, one `LabelsReceived` per request, and
    /// hands each to the Trainer.
    pub(super) fn deliver_labels(&mut self, hour: u64, answers: &[LabelAnswer]) -> Result<()> {
        let mut groups: Vec<(String, Vec<(super::PendingLabel, u32)>)> = Vec::new();
        for a in answers {
            let Some(p) = self.pending_labels.remove(&(a.asked_hour, a.row)) else {
                // The oracle answers only what was asked; an unknown answer is a bug in
                // the simulator, and dropping it keeps the label store consistent.
                continue;
            };
            match groups.iter_mut().find(|(r, _)| *r == p.request_id) {
                Some((_, rows)) => rows.push((p, a.label)),
                None => groups.push((p.request_id.clone(), vec![(p, a.label)])),
            }
        }
        for (request_id, rows) in groups {
            let mut delivered = RowStore::new(self.labels.n_features);
            for (p, label) in &rows {
                match &p.input {
                    Inputs::Tabular { values, .. } => delivered.push(values, *label, p.slice),
                    Inputs::Text { texts } => delivered.push_text(&texts[0], *label, p.slice),
                }
            }
            self.labels.extend(&delivered);
            let fact = Event::LabelsReceived(LabelsReceived {
                request_id: request_id.clone(),
                labels: rows.len() as u64,
                cost: rows.len() as f64,
            });
            let cause = self.request_events.remove(&request_id);
            let id = self
                .journal
                .fact(LABELS_STREAM, "oracle", hour, &fact, cause)?;
            let input = Input::Rows {
                event: fact,
                fold_only: false,
                rows: Box::new(RowsRecord::of(&delivered)),
            };
            let cause = self.pending_request_cause();
            self.give(Role::Trainer, hour, input, Some(id), cause)?;
        }
        Ok(())
    }

    /// Shows the Perceiver the perceived outcomes `version` served.
    pub(super) fn deliver_feedback(
        &mut self,
        hour: u64,
        version: &str,
        feedback: &[Feedback],
    ) -> Result<()> {
        let share = self.config.host.feedback_share;
        // Counts include this delivery, so the very first hour is balanced too.
        for f in feedback {
            if let Some(n) = self.outcome_counts.get_mut(f.outcome as usize) {
                *n += 1;
            }
        }
        let keep = self.outcome_keep_shares();
        let outcomes: Vec<Outcome> = feedback
            .iter()
            .filter(|f| unit_interval(stable_hash(f.key ^ FEEDBACK_SALT)) < share)
            .filter(|f| {
                let p = keep.get(f.outcome as usize).copied().unwrap_or(1.0);
                let draw = stable_hash(stable_hash(f.hour) ^ u64::from(f.row) ^ BALANCE_SALT);
                p >= 1.0 || unit_interval(draw) < p
            })
            .map(|f| Outcome {
                item_id: item_id(f.hour, f.row),
                model_id: version.to_string(),
                predicted: f.predicted,
                actual: f.outcome,
            })
            .collect();
        if outcomes.is_empty() {
            return Ok(());
        }
        let input = Input::Feedback(FeedbackBatch { hour, outcomes });
        self.give(Role::Perceiver, hour, input, None, None)?;
        Ok(())
    }
}

/// The Perceiver's view of row `i`: its reported values (or text) and probabilities.
fn reading(batch: &Observed<'_>, i: usize, probabilities: Vec<f64>) -> Reading {
    let (features, text) = match batch.inputs {
        Inputs::Tabular { n_features, values } => (
            values[i * n_features..(i + 1) * n_features]
                .iter()
                .map(|x| reported(*x))
                .collect(),
            String::new(),
        ),
        Inputs::Text { texts } => (Vec::new(), texts[i].clone()),
    };
    Reading {
        item_id: item_id(batch.hour, i as u32),
        device_id: batch.keys[i].to_string(),
        features,
        probabilities,
        text,
    }
}

fn argmax(p: &[f64]) -> u32 {
    let mut best = 0;
    for (i, x) in p.iter().enumerate() {
        if *x > p[best] {
            best = i;
        }
    }
    best as u32
}

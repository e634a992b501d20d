//! One simulated day of the classification loop, hour by hour.

use std::sync::Arc;

use super::{DayReport, RunState, SliceDay, VersionDay};
use crate::config::{AccuracyOn, Scenario};
use crate::data::{Batch, StratifiedReservoir};
use crate::error::Result;
use crate::learner::Classifier;
use crate::metrics::{ArmDay, Confusion, ReviewSample, ARMS};
use crate::oracle::HourFeedback;
use crate::policy::{policy_error, Feedback, LabelAnswer, LabelRequest, Policy, ServingRoute};
use crate::world::World;

/// Per-day accumulators.
pub(super) struct DayRunner {
    accuracy_on: AccuracyOn,
    max_canary_fraction: f64,
    confusion: [Confusion; ARMS],
    versions: Vec<(String, Confusion)>,
    /// Per slice: rows, and rows each arm got right.
    slices: Vec<(u64, [u64; ARMS])>,
    review: ReviewSample,
    pool: StratifiedReservoir,
    pred_static: Vec<u32>,
    pred_oracle: Vec<u32>,
    pred_champion: Vec<u32>,
    pred_canary: Vec<u32>,
    answers: Vec<LabelAnswer>,
    requests: Vec<LabelRequest>,
}

impl DayRunner {
    pub(super) fn new(scenario: &Scenario, state: &RunState, like: &Batch) -> Self {
        let k = state.shape.n_classes();
        let per_class = scenario.baselines.rows_per_class_per_day as usize;
        Self {
            accuracy_on: scenario.evaluation.accuracy_on,
            max_canary_fraction: scenario.route.max_canary_fraction,
            confusion: std::array::from_fn(|_| Confusion::new(k)),
            versions: Vec::new(),
            slices: vec![(0, [0; ARMS]); state.shape.slice_names.len()],
            review: ReviewSample::new(k, scenario.evaluation.review_per_class as usize),
            pool: StratifiedReservoir::new(&like.inputs, k, per_class),
            pred_static: Vec::new(),
            pred_oracle: Vec::new(),
            pred_champion: Vec::new(),
            pred_canary: Vec::new(),
            answers: Vec::new(),
            requests: Vec::new(),
        }
    }

    pub(super) fn run(
        &mut self,
        state: &mut RunState,
        world: &mut dyn World,
        policy: &mut dyn Policy,
        batch: &mut Batch,
        day: u32,
    ) -> Result<DayReport> {
        for hour_of_day in 0..24 {
            let hour = state.clock.first_hour_of_day(day) + hour_of_day;
            self.hour(state, world, policy, batch, hour, i64::from(day))?;
        }
        let pool = std::mem::replace(
            &mut self.pool,
            StratifiedReservoir::new(&batch.inputs, 1, 0),
        );
        state.pools.push_back(pool);
        let notes = policy.end_of_day(day)?;
        Ok(self.report(state, policy.route().clone(), notes, day))
    }

    fn report(
        &self,
        state: &mut RunState,
        route: ServingRoute,
        notes: Vec<crate::policy::PolicyNote>,
        day: u32,
    ) -> DayReport {
        let arm = |a: usize| {
            let accuracy = match self.accuracy_on {
                AccuracyOn::AllRows => self.confusion[a].accuracy(),
                AccuracyOn::BalancedReviewSample => self.review.accuracy(a).0,
            };
            ArmDay::from_confusion(self.confusion[a].clone(), accuracy)
        };
        DayReport {
            day,
            date: state
                .clock
                .time_of(state.clock.first_hour_of_day(day))
                .format("%Y-%m-%d")
                .to_string(),
            static_arm: arm(0),
            served: arm(1),
            oracle: arm(2),
            served_versions: self
                .versions
                .iter()
                .map(|(v, c)| VersionDay {
                    version: v.clone(),
                    accuracy: c.accuracy(),
                    balanced_accuracy: c.balanced_accuracy(),
                    rows: c.total(),
                })
                .collect(),
            slices: self
                .slices
                .iter()
                .zip(&state.shape.slice_names)
                .filter(|((rows, _), _)| *rows > 0)
                .map(|((rows, right), name)| SliceDay {
                    slice: name.clone(),
                    rows: *rows,
                    accuracy: right.map(|r| r as f64 / *rows as f64),
                })
                .collect(),
            route,
            labels: state.oracle.take_stats(),
            feedback_delivered: state.feedback.take_delivered(),
            notes,
        }
    }

    fn version_index(&mut self, version: &str, k: usize) -> usize {
        match self.versions.iter().position(|(v, _)| v == version) {
            Some(i) => i,
            None => {
                self.versions.push((version.to_string(), Confusion::new(k)));
                self.versions.len() - 1
            }
        }
    }

    fn hour(
        &mut self,
        state: &mut RunState,
        world: &mut dyn World,
        policy: &mut dyn Policy,
        batch: &mut Batch,
        hour: u64,
        day: i64,
    ) -> Result<()> {
        batch.clear(hour);
        world.generate(hour, batch)?;
        state.oracle.due(hour, &mut self.answers);
        if !self.answers.is_empty() {
            policy.on_labels(hour, &self.answers)?;
        }
        while let Some(fb) = state.feedback.pop_due(hour) {
            for (version, items) in &fb.by_version {
                policy.on_feedback(hour, version, items)?;
            }
        }
        let route = policy.route().clone();
        self.check_route(policy, &route)?;
        self.predict_all(state, policy, &route, batch)?;
        self.score_rows(state, &route, batch)?;
        self.requests.clear();
        policy.observe(batch.observed(), &mut self.requests)?;
        state
            .oracle
            .ask(day, batch, &self.requests, state.shape.n_classes());
        Ok(())
    }

    /// A canary fraction outside [0, `route.max_canary_fraction`] stops the run: the
    /// limit is the operator's, not the policy's, to change.
    fn check_route(&self, policy: &dyn Policy, route: &ServingRoute) -> Result<()> {
        match &route.canary {
            Some(c) if !(0.0..=self.max_canary_fraction).contains(&c.fraction) => {
                Err(policy_error(
                    policy.name(),
                    format!(
                        "canary fraction {} of `{}` is outside [0, route.max_canary_fraction = {}]",
                        c.fraction, c.version, self.max_canary_fraction
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Predictions of the static and oracle baselines and of the route's versions. A
    /// version that is the very same model as a baseline reuses its predictions.
    fn predict_all(
        &mut self,
        state: &RunState,
        policy: &dyn Policy,
        route: &ServingRoute,
        batch: &Batch,
    ) -> Result<()> {
        state
            .static_model
            .predict(&batch.inputs, &mut self.pred_static)?;
        if Arc::ptr_eq(&state.oracle_model, &state.static_model) {
            self.pred_oracle.clone_from(&self.pred_static);
        } else {
            state
                .oracle_model
                .predict(&batch.inputs, &mut self.pred_oracle)?;
        }
        let champion = model_of(policy, &route.champion)?;
        predict_or_reuse(
            &champion,
            state,
            batch,
            &self.pred_static,
            &mut self.pred_champion,
        )?;
        if let Some(canary) = &route.canary {
            let model = model_of(policy, &canary.version)?;
            predict_or_reuse(
                &model,
                state,
                batch,
                &self.pred_static,
                &mut self.pred_canary,
            )?;
        }
        Ok(())
    }

    fn score_rows(
        &mut self,
        state: &mut RunState,
        route: &ServingRoute,
        batch: &Batch,
    ) -> Result<()> {
        let k = state.shape.n_classes();
        let champion = self.version_index(&route.champion, k);
        let canary = route
            .canary
            .as_ref()
            .map(|c| self.version_index(&c.version, k));
        let mut feedback = HourFeedback::default();
        let fb_champion = state
            .feedback
            .enabled()
            .then(|| feedback_slot(&mut feedback, &route.champion));
        let fb_canary = route
            .canary
            .as_ref()
            .filter(|_| state.feedback.enabled())
            .map(|c| feedback_slot(&mut feedback, &c.version));
        let review = self.accuracy_on == AccuracyOn::BalancedReviewSample;
        for r in 0..batch.len() {
            let truth = batch.truth[r];
            let in_canary = canary.is_some() && route.in_canary(batch.keys[r]);
            let served = if in_canary {
                self.pred_canary[r]
            } else {
                self.pred_champion[r]
            };
            let preds = [self.pred_static[r], served, self.pred_oracle[r]];
            let mut mask = 0u8;
            let slice = self.slices.get_mut(usize::from(batch.slices[r]));
            for (a, p) in preds.iter().enumerate() {
                self.confusion[a].add(truth, *p);
                mask |= u8::from(*p == truth) << a;
            }
            if let Some((rows, right)) = slice {
                *rows += 1;
                for (a, p) in preds.iter().enumerate() {
                    right[a] += u64::from(*p == truth);
                }
            }
            let v = if in_canary {
                canary.unwrap_or(champion)
            } else {
                champion
            };
            self.versions[v].1.add(truth, served);
            if review {
                self.review.offer(&mut state.review_rng, truth, mask);
            }
            self.pool
                .offer(&mut state.pool_rng, &batch.inputs, r, truth);
            let slot = if in_canary { fb_canary } else { fb_champion };
            if let Some(slot) = slot {
                if state.feedback.observes_next() {
                    feedback.by_version[slot].1.push(Feedback {
                        hour: batch.hour,
                        row: r as u32,
                        key: batch.keys[r],
                        predicted: served,
                        outcome: truth,
                    });
                }
            }
        }
        state.feedback.push(batch.hour, feedback)
    }
}

fn feedback_slot(feedback: &mut HourFeedback, version: &str) -> usize {
    feedback.slot(version);
    feedback
        .by_version
        .iter()
        .position(|(v, _)| v == version)
        .unwrap_or(0)
}

fn model_of(policy: &dyn Policy, version: &str) -> Result<Arc<dyn Classifier>> {
    policy.model(version).ok_or_else(|| {
        policy_error(
            policy.name(),
            format!("route names unknown version `{version}`"),
        )
    })
}

fn predict_or_reuse(
    model: &Arc<dyn Classifier>,
    state: &RunState,
    batch: &Batch,
    static_preds: &[u32],
    out: &mut Vec<u32>,
) -> Result<()> {
    if Arc::ptr_eq(model, &state.static_model) {
        out.clear();
        out.extend_from_slice(static_preds);
        Ok(())
    } else {
        model.predict(&batch.inputs, out)
    }
}

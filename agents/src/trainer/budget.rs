//! Cost-aware retraining: the compute budget and the gain a retrain must be worth.
//!
//! A retrain request that could start a job is weighed first: the gain the DriftJudge
//! estimated (accuracy points, from the online error increase and the drop of the
//! label-free accuracy estimate against the champion's reference) against the CPU
//! seconds the job is expected to cost (its rows times the cost per row the last job
//! reported, or the policy's prior before any job reported) and against the compute
//! left in the day's and the rolling week's budget. A gain too small to pay for the job
//! is recorded as `not_worth_it` (noticed, not acted on); a job that would overrun the
//! budget waits as `budget_exhausted` until the budget refills. A job larger than a whole
//! window's budget runs once nothing else was spent in the window, so a budget smaller
//! than one job slows the loop down instead of stopping it.
//!
//! The budget's `scope` says what it covers. `training` (the default) counts training
//! jobs only, as before scopes existed. `iteration` counts every worker of a loop
//! iteration: the Trainer's state also charges each distillation and evaluation to the
//! day it ran, and a job's estimate adds the distillation and evaluation it will cause
//! (see [`iteration`]), so the weighed cost is the whole iteration's.

use std::collections::BTreeMap;

use ledgerloop_events::catalogue::CostBenefit;
use ledgerloop_events::Evidence;
use serde::{Deserialize, Serialize};

use crate::error::{invalid, Result};

pub mod iteration;

pub use iteration::{BudgetScope, DistilEvalSpent};

/// Component name used in policy errors.
const POLICY: &str = "trainer budget policy";
/// Hours per budget day.
pub const HOURS_PER_DAY: u64 = 24;
/// Days in the rolling budget week (the current day and the six before it).
pub const WEEK_DAYS: u64 = 7;
/// Seconds per CPU hour, for the gain per CPU hour.
const SECONDS_PER_HOUR: f64 = 3600.0;
/// Accuracy points per unit of rate (a rate of 0.01 is one point).
pub const POINTS_PER_UNIT: f64 = 100.0;

/// Evidence key of the gain a `RetrainRequested` estimates (accuracy points, >= 0).
pub const GAIN_KEY: &str = "gain.points";

/// Evidence keys the Trainer writes when it weighs a request.
pub mod keys {
    /// The estimated gain in accuracy points.
    pub const GAIN: &str = "gain.estimated_points";
    /// Whether the request carried a gain estimate (1) or not (0).
    pub const GAIN_KNOWN: &str = "gain.known";
    /// The estimated CPU seconds of the job.
    pub const COST: &str = "cost.estimated_cpu_seconds";
    /// CPU seconds per row the estimate used.
    pub const COST_PER_ROW: &str = "cost.cpu_seconds_per_row";
    /// CPU seconds spent on training in the current day.
    pub const SPENT_DAY: &str = "budget.cpu_spent_day";
    /// CPU seconds spent on training in the rolling week.
    pub const SPENT_WEEK: &str = "budget.cpu_spent_week";
    /// Iteration scope: the training part of the estimated CPU seconds.
    pub const COST_TRAINING: &str = "cost.training_estimated_cpu_seconds";
    /// Iteration scope: the distillation and evaluation part of the estimate.
    pub const COST_DISTIL_EVAL: &str = "cost.distil_eval_estimated_cpu_seconds";
    /// Iteration scope: CPU seconds of distillation and evaluation in the current day
    /// (included in [`SPENT_DAY`], which then counts every worker).
    pub const SPENT_DAY_DISTIL_EVAL: &str = "budget.distil_eval_cpu_spent_day";
    /// Iteration scope: the same over the rolling week (included in [`SPENT_WEEK`]).
    pub const SPENT_WEEK_DISTIL_EVAL: &str = "budget.distil_eval_cpu_spent_week";
}

/// The Trainer's budget, the `[trainer.budget]` table of a policy file. Absent (the
/// default), the Trainer weighs nothing and decides exactly as before budgets existed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetPolicy {
    /// CPU seconds of training per day (hour / 24); 0 sets no daily limit (default 0).
    pub cpu_seconds_per_day: f64,
    /// CPU seconds of training per rolling week (the day and the six before); 0 sets no
    /// weekly limit (default 0).
    pub cpu_seconds_per_week: f64,
    /// Estimated gain in accuracy points below which a request is not acted on
    /// (default 0: any gain is worth it).
    pub min_gain_points: f64,
    /// Estimated gain per expected CPU hour below which a request is not acted on
    /// (default 0: off).
    pub min_gain_points_per_cpu_hour: f64,
    /// CPU seconds per training row assumed until a job reports its cost, > 0
    /// (default 0.001).
    pub prior_cpu_seconds_per_row: f64,
    /// What the budget covers: `training` jobs only (the default) or the whole
    /// `iteration` (training, distillation and evaluation). Left out of the recorded
    /// policy when it is the default, so logs written before scopes hash unchanged.
    #[serde(skip_serializing_if = "BudgetScope::is_training")]
    pub scope: BudgetScope,
    /// Iteration scope: CPU seconds of distilling a student assumed until one reports
    /// its cost, >= 0 (default 1.0; left out of the recorded policy when default).
    #[serde(skip_serializing_if = "iteration::is_default_prior_distillation")]
    pub prior_distillation_cpu_seconds: f64,
    /// Iteration scope: CPU seconds of evaluating a candidate assumed until one reports
    /// its cost, >= 0 (default 0.2; left out of the recorded policy when default).
    #[serde(skip_serializing_if = "iteration::is_default_prior_evaluation")]
    pub prior_evaluation_cpu_seconds: f64,
}

impl Default for BudgetPolicy {
    fn default() -> Self {
        BudgetPolicy {
            cpu_seconds_per_day: 0.0,
            cpu_seconds_per_week: 0.0,
            min_gain_points: 0.0,
            min_gain_points_per_cpu_hour: 0.0,
            prior_cpu_seconds_per_row: 0.001,
            scope: BudgetScope::Training,
            prior_distillation_cpu_seconds: iteration::DEFAULT_PRIOR_DISTILLATION_CPU_SECONDS,
            prior_evaluation_cpu_seconds: iteration::DEFAULT_PRIOR_EVALUATION_CPU_SECONDS,
        }
    }
}

/// The outcome of weighing a request that could start a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Weighing {
    /// Worth it and within budget.
    Go,
    /// The gain does not pay for the job.
    NotWorthIt,
    /// The job would overrun the budget; it may fit from `not_before_hour`.
    BudgetExhausted {
        /// The start of the next budget day.
        not_before_hour: u64,
    },
}

/// What the Trainer's state knows of compute spent, for the budget.
#[derive(Debug, Clone, Copy)]
pub struct Spent<'a> {
    /// CPU seconds of training charged per day.
    pub by_day: &'a BTreeMap<u64, f64>,
    /// CPU seconds per row last observed.
    pub per_row: Option<f64>,
    /// Distillation and evaluation spent and last observed (read in iteration scope).
    pub distil_eval: DistilEvalSpent<'a>,
}

impl BudgetPolicy {
    /// Checks every field lies in its documented range.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("cpu_seconds_per_day", self.cpu_seconds_per_day),
            ("cpu_seconds_per_week", self.cpu_seconds_per_week),
            ("min_gain_points", self.min_gain_points),
            (
                "min_gain_points_per_cpu_hour",
                self.min_gain_points_per_cpu_hour,
            ),
            (
                "prior_distillation_cpu_seconds",
                self.prior_distillation_cpu_seconds,
            ),
            (
                "prior_evaluation_cpu_seconds",
                self.prior_evaluation_cpu_seconds,
            ),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(POLICY, name, v, "must be finite and >= 0"));
            }
        }
        let p = self.prior_cpu_seconds_per_row;
        if !(p.is_finite() && p > 0.0) {
            return Err(invalid(
                POLICY,
                "prior_cpu_seconds_per_row",
                p,
                "must be finite and > 0",
            ));
        }
        Ok(())
    }

    /// The budget as rule parameters (the scope and its priors only in iteration
    /// scope, so that rules recorded before scopes existed re-derive unchanged).
    pub fn params(&self) -> serde_json::Value {
        let mut params = serde_json::json!({
            "cpu_seconds_per_day": self.cpu_seconds_per_day,
            "cpu_seconds_per_week": self.cpu_seconds_per_week,
            "min_gain_points": self.min_gain_points,
            "min_gain_points_per_cpu_hour": self.min_gain_points_per_cpu_hour,
            "prior_cpu_seconds_per_row": self.prior_cpu_seconds_per_row,
        });
        if let (BudgetScope::Iteration, Some(map)) = (self.scope, params.as_object_mut()) {
            map.insert("scope".into(), self.scope.name().into());
            map.insert(
                "prior_distillation_cpu_seconds".into(),
                self.prior_distillation_cpu_seconds.into(),
            );
            map.insert(
                "prior_evaluation_cpu_seconds".into(),
                self.prior_evaluation_cpu_seconds.into(),
            );
        }
        params
    }

    /// Weighs a job of `rows` rows at `hour` for a request with `gain` (None when the
    /// request carried no estimate: then only the budget is checked, since a missing
    /// estimate is no evidence that the drift is small). Returns the outcome, both sides
    /// of the weighing and the evidence behind them.
    pub fn weigh(
        &self,
        gain: Option<f64>,
        rows: u64,
        hour: u64,
        spent: Spent<'_>,
    ) -> (Weighing, CostBenefit, Evidence) {
        let per_row = spent
            .per_row
            .filter(|v| v.is_finite() && *v > 0.0)
            .unwrap_or(self.prior_cpu_seconds_per_row);
        let training = rows as f64 * per_row;
        let day = hour / HOURS_PER_DAY;
        let training_day = spent.by_day.get(&day).copied().unwrap_or(0.0);
        let training_week = week_spent(spent.by_day, day);
        let part = self.iteration_part(spent.distil_eval, day);
        // Training scope must not even add zeros: an empty week sums to -0.0, and the
        // evidence it wrote before scopes existed must stay byte for byte.
        let (cost, spent_day, spent_week) = match &part {
            None => (training, training_day, training_week),
            Some(p) => (
                training + p.estimated_cpu_seconds,
                training_day + p.spent_day,
                training_week + p.spent_week,
            ),
        };
        let left = |limit: f64, used: f64| (limit > 0.0).then(|| (limit - used).max(0.0));
        let left_day = left(self.cpu_seconds_per_day, spent_day);
        let left_week = left(self.cpu_seconds_per_week, spent_week);
        let g = gain.unwrap_or(0.0).max(0.0);
        let per_hour = if cost > 0.0 {
            g / (cost / SECONDS_PER_HOUR)
        } else {
            0.0
        };
        let weighed = CostBenefit {
            estimated_gain_points: g,
            estimated_cpu_seconds: cost,
            gain_points_per_cpu_hour: per_hour,
            cpu_budget_left_day: left_day,
            cpu_budget_left_week: left_week,
        };
        let evidence = Evidence::new()
            .with(keys::GAIN, g)
            .with(keys::GAIN_KNOWN, if gain.is_some() { 1.0 } else { 0.0 })
            .with(keys::COST, cost)
            .with(keys::COST_PER_ROW, per_row)
            .with(keys::SPENT_DAY, spent_day)
            .with(keys::SPENT_WEEK, spent_week);
        let evidence = match &part {
            Some(p) => p.write(training, evidence),
            None => evidence,
        };
        let worth = gain.is_none()
            || (g >= self.min_gain_points && per_hour >= self.min_gain_points_per_cpu_hour);
        // A job larger than a whole window's budget could never fit and would starve the
        // loop: it may run alone, once nothing else was spent in that window.
        let fits = |limit: f64, used: f64| limit <= 0.0 || cost <= limit - used || used <= 0.0;
        let fits = fits(self.cpu_seconds_per_day, spent_day)
            && fits(self.cpu_seconds_per_week, spent_week);
        let outcome = if !worth {
            Weighing::NotWorthIt
        } else if !fits {
            Weighing::BudgetExhausted {
                not_before_hour: (day + 1) * HOURS_PER_DAY,
            }
        } else {
            Weighing::Go
        };
        (outcome, weighed, evidence)
    }
}

/// CPU seconds charged in the rolling week that ends with `day`.
pub fn week_spent(by_day: &BTreeMap<u64, f64>, day: u64) -> f64 {
    let first = day.saturating_sub(WEEK_DAYS - 1);
    by_day.range(first..=day).map(|(_, v)| v).sum()
}

/// Charges `seconds` (possibly negative, to correct an estimate) to `day`, and forgets
/// days older than a week before it, so the state stays small.
pub fn charge(by_day: &mut BTreeMap<u64, f64>, day: u64, seconds: f64) {
    if !seconds.is_finite() {
        return;
    }
    let entry = by_day.entry(day).or_insert(0.0);
    *entry = (*entry + seconds).max(0.0);
    let latest = by_day.keys().next_back().copied().unwrap_or(day);
    let keep_from = latest.saturating_sub(WEEK_DAYS - 1);
    by_day.retain(|d, _| *d >= keep_from);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tight() -> BudgetPolicy {
        BudgetPolicy {
            cpu_seconds_per_day: 10.0,
            cpu_seconds_per_week: 30.0,
            min_gain_points: 2.0,
            min_gain_points_per_cpu_hour: 0.0,
            prior_cpu_seconds_per_row: 0.01,
            ..BudgetPolicy::default()
        }
    }

    /// A job that fits both windows with a large enough gain goes ahead.
    #[test]
    fn worthwhile_job_within_budget_goes() {
        let by_day = BTreeMap::new();
        let spent = Spent {
            by_day: &by_day,
            per_row: None,
            distil_eval: DistilEvalSpent::default(),
        };
        let (w, cb, _) = tight().weigh(Some(5.0), 500, 30, spent);
        assert_eq!(w, Weighing::Go);
        assert_eq!(cb.estimated_cpu_seconds, 5.0);
        assert_eq!(cb.cpu_budget_left_day, Some(10.0));
    }

    /// A small gain is not worth it; a missing estimate is not taken for a small one.
    #[test]
    fn small_gain_is_not_worth_it() {
        let by_day = BTreeMap::new();
        let spent = Spent {
            by_day: &by_day,
            per_row: None,
            distil_eval: DistilEvalSpent::default(),
        };
        let (w, _, _) = tight().weigh(Some(1.0), 10, 30, spent);
        assert_eq!(w, Weighing::NotWorthIt);
        let (w, _, _) = tight().weigh(None, 10, 30, spent);
        assert_eq!(w, Weighing::Go);
    }

    /// Spending in earlier days of the week counts against the weekly limit, and the
    /// job waits for the next day.
    #[test]
    fn weekly_budget_is_rolling() {
        let mut by_day = BTreeMap::new();
        charge(&mut by_day, 0, 9.0);
        charge(&mut by_day, 1, 9.0);
        charge(&mut by_day, 2, 9.0);
        let spent = Spent {
            by_day: &by_day,
            per_row: Some(0.01),
            distil_eval: DistilEvalSpent::default(),
        };
        let (w, cb, _) = tight().weigh(Some(5.0), 500, 3 * 24 + 5, spent);
        assert_eq!(
            w,
            Weighing::BudgetExhausted {
                not_before_hour: 4 * 24
            }
        );
        assert_eq!(cb.cpu_budget_left_week, Some(3.0));
        // A job larger than the whole week may run alone in an empty window.
        let empty = BTreeMap::new();
        let spent = Spent {
            by_day: &empty,
            per_row: Some(0.01),
            distil_eval: DistilEvalSpent::default(),
        };
        let (w, _, _) = tight().weigh(Some(5.0), 5000, 30, spent);
        assert_eq!(w, Weighing::Go);
        // A week later the old charges have rolled out of the window.
        assert_eq!(week_spent(&by_day, 9), 0.0);
        charge(&mut by_day, 20, 1.0);
        assert_eq!(by_day.len(), 1, "days older than a week are forgotten");
    }
}

//! The iteration scope of the compute budget: distillation and evaluation count too.
//!
//! A retrain does not end with its training job: the candidate is evaluated against the
//! champion, and a promoted (or, by policy, every trained) model is distilled into an
//! edge student. In `iteration` scope the Trainer's state charges each of those to the
//! day it ran, next to the training jobs, and a new job's estimate adds the distillation
//! and evaluation it will cause: the cost each reported the last time it ran, or the
//! policy's prior before any did. Distillation is counted in full even when the policy
//! distils promoted models only, since the Trainer cannot know whether its candidate will
//! be promoted; the estimate is then an upper bound, which is what a budget needs.

use std::collections::BTreeMap;

use ledgerloop_events::Evidence;
use serde::{Deserialize, Serialize};

use super::{keys, week_spent, BudgetPolicy};

/// Default CPU seconds assumed for a distillation before one reports its cost (the ONT
/// policies' students cost about this much in the sim's cost model).
pub const DEFAULT_PRIOR_DISTILLATION_CPU_SECONDS: f64 = 1.0;
/// Default CPU seconds assumed for an evaluation before one reports its cost.
pub const DEFAULT_PRIOR_EVALUATION_CPU_SECONDS: f64 = 0.2;

/// An empty charge table, for a [`DistilEvalSpent`] that knows of no spending.
static NOTHING_SPENT: BTreeMap<u64, f64> = BTreeMap::new();

/// What the compute budget covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetScope {
    /// Training jobs only: the behaviour before scopes existed.
    #[default]
    Training,
    /// Training, distillation and evaluation: the whole loop iteration.
    Iteration,
}

impl BudgetScope {
    /// The scope's name in policy files and rules.
    pub fn name(self) -> &'static str {
        match self {
            BudgetScope::Training => "training",
            BudgetScope::Iteration => "iteration",
        }
    }

    /// True for the default scope (serde leaves it out of the recorded policy).
    pub fn is_training(&self) -> bool {
        *self == BudgetScope::Training
    }
}

/// True when the distillation prior is the default (left out of the recorded policy).
pub fn is_default_prior_distillation(v: &f64) -> bool {
    *v == DEFAULT_PRIOR_DISTILLATION_CPU_SECONDS
}

/// True when the evaluation prior is the default (left out of the recorded policy).
pub fn is_default_prior_evaluation(v: &f64) -> bool {
    *v == DEFAULT_PRIOR_EVALUATION_CPU_SECONDS
}

/// What the Trainer's state knows of distillation and evaluation.
#[derive(Debug, Clone, Copy)]
pub struct DistilEvalSpent<'a> {
    /// CPU seconds of distillation and evaluation charged per day.
    pub by_day: &'a BTreeMap<u64, f64>,
    /// CPU seconds the latest distillation reported.
    pub last_distillation_cpu_seconds: Option<f64>,
    /// CPU seconds the latest evaluation reported.
    pub last_evaluation_cpu_seconds: Option<f64>,
}

impl Default for DistilEvalSpent<'_> {
    fn default() -> Self {
        DistilEvalSpent {
            by_day: &NOTHING_SPENT,
            last_distillation_cpu_seconds: None,
            last_evaluation_cpu_seconds: None,
        }
    }
}

/// The distillation and evaluation part of a weighing in iteration scope.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IterationPart {
    /// Expected CPU seconds of the distillation and evaluation the job will cause.
    pub estimated_cpu_seconds: f64,
    /// CPU seconds of distillation and evaluation charged to the day.
    pub spent_day: f64,
    /// The same over the rolling week.
    pub spent_week: f64,
}

impl BudgetPolicy {
    /// The distillation and evaluation part of a job weighed on `day`: what the last
    /// ones cost (or the priors) and what was spent on them; `None` in training scope.
    pub fn iteration_part(&self, spent: DistilEvalSpent<'_>, day: u64) -> Option<IterationPart> {
        if self.scope == BudgetScope::Training {
            return None;
        }
        let observed =
            |v: Option<f64>, prior: f64| v.filter(|c| c.is_finite() && *c >= 0.0).unwrap_or(prior);
        let distil = observed(
            spent.last_distillation_cpu_seconds,
            self.prior_distillation_cpu_seconds,
        );
        let eval = observed(
            spent.last_evaluation_cpu_seconds,
            self.prior_evaluation_cpu_seconds,
        );
        Some(IterationPart {
            estimated_cpu_seconds: distil + eval,
            spent_day: spent.by_day.get(&day).copied().unwrap_or(0.0),
            spent_week: week_spent(spent.by_day, day),
        })
    }
}

impl IterationPart {
    /// Adds the two parts of the estimate (`training` and this) and of the spending to
    /// `evidence`.
    pub fn write(&self, training: f64, evidence: Evidence) -> Evidence {
        evidence
            .with(keys::COST_TRAINING, training)
            .with(keys::COST_DISTIL_EVAL, self.estimated_cpu_seconds)
            .with(keys::SPENT_DAY_DISTIL_EVAL, self.spent_day)
            .with(keys::SPENT_WEEK_DISTIL_EVAL, self.spent_week)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Weighing;
    use super::*;

    fn weekly(scope: BudgetScope) -> BudgetPolicy {
        BudgetPolicy {
            cpu_seconds_per_week: 10.0,
            prior_cpu_seconds_per_row: 0.01,
            scope,
            ..BudgetPolicy::default()
        }
    }

    /// Training scope ignores distillation and evaluation entirely; iteration scope
    /// adds what the last ones cost to the estimate and what was spent to the week.
    #[test]
    fn iteration_scope_adds_distillation_and_evaluation() {
        let training = BTreeMap::from([(3, 4.0)]);
        let distil_eval = BTreeMap::from([(2, 1.5)]);
        let spent = super::super::Spent {
            by_day: &training,
            per_row: None,
            distil_eval: DistilEvalSpent {
                by_day: &distil_eval,
                last_distillation_cpu_seconds: Some(1.2),
                last_evaluation_cpu_seconds: None,
            },
        };
        let (w, cb, e) = weekly(BudgetScope::Training).weigh(None, 500, 3 * 24, spent);
        assert_eq!(w, Weighing::Go);
        assert_eq!(cb.estimated_cpu_seconds, 5.0);
        assert_eq!(e.get(keys::COST_DISTIL_EVAL), None);
        let (w, cb, e) = weekly(BudgetScope::Iteration).weigh(None, 500, 3 * 24, spent);
        // 4 + 1.5 spent, 5 + 1.2 + 0.2 (evaluation prior) expected: over the 10 a week.
        assert!(matches!(w, Weighing::BudgetExhausted { .. }), "{w:?}");
        assert!((cb.estimated_cpu_seconds - 6.4).abs() < 1e-12, "{cb:?}");
        assert_eq!(cb.cpu_budget_left_week, Some(4.5));
        assert_eq!(e.get(keys::COST_TRAINING), Some(5.0));
        assert_eq!(e.get(keys::SPENT_WEEK_DISTIL_EVAL), Some(1.5));
        assert_eq!(e.get(keys::SPENT_WEEK), Some(5.5));
    }

    /// Training scope writes the spending exactly as before scopes existed, down to the
    /// sign of an empty week's zero (-0.0, which adding a zero would turn into 0.0).
    #[test]
    fn training_scope_keeps_the_empty_weeks_negative_zero() {
        let empty = BTreeMap::new();
        let spent = super::super::Spent {
            by_day: &empty,
            per_row: None,
            distil_eval: DistilEvalSpent::default(),
        };
        let (_, _, e) = weekly(BudgetScope::Training).weigh(None, 10, 5, spent);
        let week = e.get(keys::SPENT_WEEK).expect("week spent");
        assert!(week == 0.0 && week.is_sign_negative(), "{week}");
    }

    /// The scope and its priors enter the rule only in iteration scope, so rules
    /// recorded before scopes existed re-derive unchanged.
    #[test]
    fn default_scope_leaves_the_rule_unchanged() {
        let params = weekly(BudgetScope::Training).params();
        assert!(params.get("scope").is_none(), "{params}");
        assert!(params.get("prior_distillation_cpu_seconds").is_none());
        let params = weekly(BudgetScope::Iteration).params();
        assert_eq!(params["scope"], "iteration");
        let text = serde_json::to_string(&weekly(BudgetScope::Training)).expect("json");
        assert!(!text.contains("scope"), "{text}");
    }
}

//! The learner interface the baselines (and the static policy) train through, and the
//! built-in learners. A learner turns a [`Dataset`] into a [`Classifier`]; both are
//! object-safe so a scenario can pick one at run time and agents can bring their own
//! (for example an adapter over `ledgerloop-models`).

pub mod logistic;
pub mod naive_bayes;

use std::fmt::Debug;
use std::sync::Arc;

use crate::config::LearnerKind;
use crate::data::{Dataset, Inputs, TaskShape};
use crate::error::{Error, Result};

/// Trains classifiers. Must be deterministic for a fixed dataset and seed.
pub trait Learner: Send + Sync + Debug {
    /// Short name recorded in events.
    fn name(&self) -> &str;

    /// Fits a classifier on `data` (rows shaped by `shape`).
    fn fit(&self, shape: &TaskShape, data: &Dataset, seed: u64) -> Result<Arc<dyn Classifier>>;
}

/// A trained model. `predict` must be deterministic.
pub trait Classifier: Send + Sync + Debug {
    /// Writes one predicted class per row of `inputs` into `out` (cleared first).
    fn predict(&self, inputs: &Inputs, out: &mut Vec<u32>) -> Result<()>;
}

/// The built-in learner for a task: logistic regression for tabular inputs, naive Bayes
/// over hashed character n-grams for text.
pub fn builtin(kind: LearnerKind, tabular: bool) -> Arc<dyn Learner> {
    match (kind, tabular) {
        (LearnerKind::Builtin, true) => Arc::new(logistic::LogisticLearner::default()),
        (LearnerKind::Builtin, false) => Arc::new(naive_bayes::NaiveBayesLearner::default()),
    }
}

pub(crate) fn learner_error(learner: &str, reason: impl Into<String>) -> Error {
    Error::Learner {
        learner: learner.to_string(),
        reason: reason.into(),
    }
}

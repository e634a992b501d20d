//! The policy interface: how whatever governs the served model (the static baseline
//! here, the six agents later) plugs into the simulated world.
//!
//! Per simulated hour the engine, in this order:
//! 1. delivers label answers that became due ([`Policy::on_labels`]) and outcomes of
//!    earlier served predictions, grouped per serving version ([`Policy::on_feedback`]);
//! 2. reads the policy's [`ServingRoute`] and predicts every row with the version the
//!    route picks for the row's key ([`Policy::model`]);
//! 3. shows the policy the hour's rows without labels and collects its label requests
//!    ([`Policy::observe`]); the oracle answers within the daily budget after a delay.
//!
//! At the end of each day [`Policy::end_of_day`] lets it retrain, publish a new route
//! (champion / canary + fraction), and return notes, which the day's report (and so
//! `summary.json`) carries. Because the route is read every hour after the deliveries,
//! a policy may also change it within a day (a rollback on bad feedback takes effect
//! the same hour).
//!
//! Retrained models: a policy trains with the scenario's learner
//! ([`PolicyStart::learner`]) or its own, keeps the models, and names their versions in
//! the route; the engine asks [`Policy::model`] for every version the route names and
//! stops the run if one is missing. Policies see no ground truth: only rows without
//! labels, the oracle's (noisy) answers, and delayed outcomes of their own predictions.

pub mod rank;

use std::fmt::Debug;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::data::{Dataset, Observed, TaskShape};
use crate::error::{Error, Result};
use crate::learner::{Classifier, Learner};
use crate::rng::{stable_hash, stable_hash_str, unit_interval};

/// Which model version serves which key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServingRoute {
    /// Version serving every key outside the canary.
    pub champion: String,
    /// Optional canary.
    pub canary: Option<Canary>,
}

/// A canary: `fraction` of keys, chosen by a stable hash, served by `version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Canary {
    /// Candidate version.
    pub version: String,
    /// Share of keys in [0, 1].
    pub fraction: f64,
}

impl ServingRoute {
    /// A route with only a champion.
    pub fn champion(version: impl Into<String>) -> Self {
        Self {
            champion: version.into(),
            canary: None,
        }
    }

    /// True when `key` falls in the canary. The hash is salted with the canary version,
    /// so each canary gets its own keys, and growing the fraction only adds keys.
    pub fn in_canary(&self, key: u64) -> bool {
        match &self.canary {
            Some(c) => unit_interval(stable_hash(key ^ stable_hash_str(&c.version))) < c.fraction,
            None => false,
        }
    }

    /// The version serving `key`.
    pub fn version_for(&self, key: u64) -> &str {
        match &self.canary {
            Some(c) if self.in_canary(key) => &c.version,
            _ => &self.champion,
        }
    }
}

/// A request for the true label of row `row` of the batch being observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRequest {
    /// Row index in the observed batch.
    pub row: u32,
}

/// The oracle's answer (possibly flipped by its noise rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelAnswer {
    /// Hour of the batch the row belonged to.
    pub asked_hour: u64,
    /// Row index in that batch.
    pub row: u32,
    /// Routing key of the row.
    pub key: u64,
    /// Answered label.
    pub label: u32,
}

/// The revealed outcome of one served prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// Hour the prediction was served.
    pub hour: u64,
    /// Row index in that hour's batch.
    pub row: u32,
    /// Routing key.
    pub key: u64,
    /// What the serving version predicted.
    pub predicted: u32,
    /// What really happened.
    pub outcome: u32,
}

/// Something the policy wants recorded at the end of a day (a retrain, a new route ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyNote {
    /// Short kind, e.g. `route_changed`.
    pub kind: String,
    /// Free-form evidence.
    pub detail: serde_json::Value,
}

/// What a policy is given before day 0.
#[derive(Debug, Clone)]
pub struct PolicyStart<'a> {
    /// Classes, columns, slices.
    pub shape: &'a TaskShape,
    /// The labelled warm-up sample the static baseline was trained on.
    pub warmup: &'a Dataset,
    /// The static baseline model, already trained on `warmup`.
    pub baseline: Arc<dyn Classifier>,
    /// Version name of `baseline`.
    pub baseline_version: &'a str,
    /// The scenario's learner, for policies that retrain.
    pub learner: Arc<dyn Learner>,
    /// Seed reserved for the policy (derived from the scenario seed).
    pub seed: u64,
    /// Virtual clock.
    pub clock: Clock,
    /// Labels the oracle answers per day.
    pub label_budget_per_day: u64,
    /// Largest canary fraction the engine accepts (`route.max_canary_fraction`); a route
    /// above it stops the run.
    pub max_canary_fraction: f64,
}

/// A governor of the served model. Implementations must be deterministic given the
/// same calls in the same order.
pub trait Policy: Send + Debug {
    /// Name recorded in the log and the summary.
    fn name(&self) -> &str;

    /// Called once before day 0.
    fn start(&mut self, start: &PolicyStart<'_>) -> Result<()>;

    /// Label answers that became due this hour.
    fn on_labels(&mut self, hour: u64, answers: &[LabelAnswer]) -> Result<()>;

    /// Outcomes of predictions served by `version` that became due this hour.
    fn on_feedback(&mut self, hour: u64, version: &str, feedback: &[Feedback]) -> Result<()>;

    /// The current route; read once per hour before predicting.
    fn route(&self) -> &ServingRoute;

    /// The model of a version named by the route.
    fn model(&self, version: &str) -> Option<Arc<dyn Classifier>>;

    /// The hour's rows without labels; push label requests into `requests`.
    fn observe(&mut self, batch: Observed<'_>, requests: &mut Vec<LabelRequest>) -> Result<()>;

    /// End of run day `day`.
    fn end_of_day(&mut self, day: u32) -> Result<Vec<PolicyNote>>;
}

/// The static policy: serves the warm-up baseline for the whole run, asks for no labels,
/// ignores feedback.
#[derive(Debug)]
pub struct StaticPolicy {
    route: ServingRoute,
    model: Option<Arc<dyn Classifier>>,
}

impl Default for StaticPolicy {
    fn default() -> Self {
        Self {
            route: ServingRoute::champion("unstarted"),
            model: None,
        }
    }
}

impl Policy for StaticPolicy {
    fn name(&self) -> &str {
        "static"
    }

    fn start(&mut self, start: &PolicyStart<'_>) -> Result<()> {
        self.route = ServingRoute::champion(start.baseline_version);
        self.model = Some(start.baseline.clone());
        Ok(())
    }

    fn on_labels(&mut self, _hour: u64, _answers: &[LabelAnswer]) -> Result<()> {
        Ok(())
    }

    fn on_feedback(&mut self, _hour: u64, _version: &str, _feedback: &[Feedback]) -> Result<()> {
        Ok(())
    }

    fn route(&self) -> &ServingRoute {
        &self.route
    }

    fn model(&self, version: &str) -> Option<Arc<dyn Classifier>> {
        if self.route.champion == version {
            self.model.clone()
        } else {
            None
        }
    }

    fn observe(&mut self, _batch: Observed<'_>, _requests: &mut Vec<LabelRequest>) -> Result<()> {
        Ok(())
    }

    fn end_of_day(&mut self, _day: u32) -> Result<Vec<PolicyNote>> {
        Ok(Vec::new())
    }
}

pub(crate) fn policy_error(policy: &str, reason: impl Into<String>) -> Error {
    Error::Policy {
        policy: policy.to_string(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canary share follows the fraction, and growing it keeps earlier keys in.
    #[test]
    fn canary_split_is_stable_and_monotone() {
        let mut route = ServingRoute::champion("v1");
        route.canary = Some(Canary {
            version: "v2".into(),
            fraction: 0.1,
        });
        let small: Vec<u64> = (0..10_000).filter(|k| route.in_canary(*k)).collect();
        assert!((800..1200).contains(&small.len()), "{}", small.len());
        route.canary = Some(Canary {
            version: "v2".into(),
            fraction: 0.5,
        });
        assert!(small.iter().all(|k| route.in_canary(*k)));
        assert_eq!(route.version_for(small[0]), "v2");
    }
}

//! The ranking side of the policy interface, for the recommend world. Same shape as
//! [`super::Policy`]: the engine reads the policy's [`ServingRoute`] every hour, serves
//! each session's slate from the version the route picks for the user (champion, or
//! canary by stable hash and fraction), and later tells the policy what the user did
//! with every slate it served, per version. Per simulated hour the engine, in order:
//! delivers due outcomes ([`RankPolicy::on_outcomes`]), reads the route, serves the
//! hour's sessions. At the end of a day [`RankPolicy::end_of_day`] sees the catalogue
//! (new items included) and may refit and publish a new route.

use std::fmt::Debug;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{PolicyNote, ServingRoute};
use crate::clock::Clock;
use crate::error::Result;

/// A trained recommender.
pub trait Ranker: Send + Sync + Debug {
    /// Writes the `k` best items for `user`, best first, into `out` (cleared first).
    fn top_k(&self, user: u32, k: usize, out: &mut Vec<u32>);
}

/// An item a user consumed (the warm-up history a baseline fits on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumption {
    /// Simulated hour.
    pub hour: u64,
    /// User.
    pub user: u32,
    /// Item.
    pub item: u32,
}

/// A served slate and what the user did with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlateOutcome {
    /// Hour the slate was shown.
    pub hour: u64,
    /// User.
    pub user: u32,
    /// Items shown, best first.
    pub items: Vec<u32>,
    /// Whether each shown item was clicked.
    pub clicked: Vec<bool>,
    /// The item the user consumed in the session (from the slate or elsewhere), when the
    /// world logs consumption: the portal knows what was watched even when it was not
    /// shown. A governed policy learns from it and counts a miss when it is not in the
    /// slate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumed: Option<u32>,
}

/// What a ranking policy is given before day 0.
#[derive(Debug, Clone)]
pub struct RankStart<'a> {
    /// Users (ids are `0..users`).
    pub users: u32,
    /// Items shown per session.
    pub slate_size: usize,
    /// Category of every item live at the start (item ids index it).
    pub item_categories: &'a [u16],
    /// The warm-up's consumption, which the static baseline was fitted on.
    pub warmup: &'a [Consumption],
    /// The static baseline, already fitted.
    pub baseline: Arc<dyn Ranker>,
    /// Version name of `baseline`.
    pub baseline_version: &'a str,
    /// Seed reserved for the policy.
    pub seed: u64,
    /// Virtual clock.
    pub clock: Clock,
    /// Largest canary fraction the engine accepts.
    pub max_canary_fraction: f64,
}

/// A governor of the served recommender. Implementations must be deterministic given
/// the same calls in the same order.
pub trait RankPolicy: Send + Debug {
    /// Name recorded in the summary.
    fn name(&self) -> &str;

    /// Called once before day 0.
    fn start(&mut self, start: &RankStart<'_>) -> Result<()>;

    /// Outcomes of slates served by `version` that became due this hour.
    fn on_outcomes(&mut self, hour: u64, version: &str, outcomes: &[SlateOutcome]) -> Result<()>;

    /// The current route; read once per hour.
    fn route(&self) -> &ServingRoute;

    /// The model of a version named by the route.
    fn model(&self, version: &str) -> Option<Arc<dyn Ranker>>;

    /// End of run day `day`; `item_categories` covers every live item, launches included.
    fn end_of_day(&mut self, day: u32, item_categories: &[u16]) -> Result<Vec<PolicyNote>>;
}

/// Serves the warm-up baseline for the whole run and ignores outcomes.
#[derive(Debug)]
pub struct StaticRankPolicy {
    route: ServingRoute,
    model: Option<Arc<dyn Ranker>>,
}

impl Default for StaticRankPolicy {
    fn default() -> Self {
        Self {
            route: ServingRoute::champion("unstarted"),
            model: None,
        }
    }
}

impl RankPolicy for StaticRankPolicy {
    fn name(&self) -> &str {
        "static"
    }

    fn start(&mut self, start: &RankStart<'_>) -> Result<()> {
        self.route = ServingRoute::champion(start.baseline_version);
        self.model = Some(start.baseline.clone());
        Ok(())
    }

    fn on_outcomes(
        &mut self,
        _hour: u64,
        _version: &str,
        _outcomes: &[SlateOutcome],
    ) -> Result<()> {
        Ok(())
    }

    fn route(&self) -> &ServingRoute {
        &self.route
    }

    fn model(&self, version: &str) -> Option<Arc<dyn Ranker>> {
        (self.route.champion == version)
            .then(|| self.model.clone())
            .flatten()
    }

    fn end_of_day(&mut self, _day: u32, _item_categories: &[u16]) -> Result<Vec<PolicyNote>> {
        Ok(Vec::new())
    }
}

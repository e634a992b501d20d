//! The recommend world: users and items with latent tastes. Each session a user arrives;
//! the item they would consume next is drawn from a softmax over the true utilities of
//! the live catalogue (the ground truth for HR@k and NDCG@k); the served model shows a
//! slate of `slate_size` items, each examined with a probability that decays with its
//! position and clicked with `sigmoid(click_bias + utility)` when examined (online CTR).
//!
//! Utility = `taste_weight * user . item / sqrt(dim)` + item appeal + season of the
//! item's category + novelty of a launched item. Drift: new items launch every day, a
//! share of users move their taste to a new direction, categories go in and out of
//! season.
//!
//! Baselines side by side: *static* (fitted on the warm-up's consumption) and *oracle*
//! (refitted every day on the last window of true consumption). The served arm is the
//! recommender a [`crate::policy::rank::RankPolicy`] serves; outcomes (which shown
//! items were clicked) reach the policy after `feedback.delay_hours`, per version.

pub mod model;
mod outcomes;
pub mod replay;
mod runner;
mod truth;

pub use model::LEARNER_NAME;
pub use runner::run;

use serde::{Deserialize, Serialize};

/// One arm's figures for one day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecommendArm {
    /// Expected click-through rate of the arm's slates (clicks per shown item).
    pub ctr: f64,
    /// Share of sessions whose consumed item is in the arm's slate.
    pub hit_rate: f64,
    /// Mean NDCG of the consumed item in the arm's slate.
    pub ndcg: f64,
}

/// Online figures of one serving version for one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendVersionDay {
    /// Version name.
    pub version: String,
    /// Items shown.
    pub impressions: u64,
    /// Clicks drawn from the click model.
    pub clicks: u64,
    /// `clicks / impressions`.
    pub ctr: f64,
}

/// Everything measured on one run day of the recommend world (the label oracle is not
/// used by this world: clicks are its labels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendDay {
    /// Run day.
    pub day: u32,
    /// Calendar date (UTC).
    pub date: String,
    /// Slate size: HR and NDCG are @ this cut-off.
    pub k: u32,
    /// Sessions of the day.
    pub sessions: u64,
    /// Items live at the end of the day.
    pub live_items: u64,
    /// Share of sessions whose consumed item launched during the run.
    pub new_item_share: f64,
    /// Static baseline.
    pub static_arm: RecommendArm,
    /// What was served.
    pub served: RecommendArm,
    /// Oracle baseline.
    pub oracle: RecommendArm,
    /// Online CTR per serving version.
    pub served_versions: Vec<RecommendVersionDay>,
    /// Route at the end of the day.
    pub route: crate::policy::ServingRoute,
    /// Slate outcomes delivered to the policy.
    pub feedback_delivered: u64,
    /// Policy notes of the day.
    pub notes: Vec<crate::policy::PolicyNote>,
}

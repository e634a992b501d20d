//! `[recommend]`: users and items with latent tastes. Every field is documented in
//! `scenarios/recommend.toml`.

use serde::{Deserialize, Serialize};

use super::Check;
use crate::error::Result;

/// Largest catalogue (initial items plus every launch) a scenario may reach.
pub const MAX_ITEMS: i64 = 100_000;

/// Most users a scenario may have (the built-in recommender keeps a dense user x
/// category table).
pub const MAX_USERS: i64 = 1_000_000;

/// The recommend world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendConfig {
    /// Users.
    pub users: i64,
    /// Items in the catalogue at the start of the warm-up.
    pub items: i64,
    /// Item categories (genres); items of one category have similar latent vectors.
    pub categories: i64,
    /// Dimension of the latent taste space.
    pub latent_dim: i64,
    /// How far an item's vector strays from its category's (standard deviation).
    pub item_spread: f64,
    /// Weight of taste (user . item) in an item's utility.
    pub taste_weight: f64,
    /// Spread of item appeal (a per-item utility bias; standard deviation).
    pub appeal_spread: f64,
    /// Mean sessions per hour (a diurnal curve modulates it).
    pub sessions_per_hour: f64,
    /// Items shown per session (HR and NDCG are measured at this cut-off).
    pub slate_size: i64,
    /// Click logit of an item of utility 0 that was examined.
    pub click_bias: f64,
    /// Probability that position p (0-based) is examined is `position_decay ^ p`.
    pub position_decay: f64,
    /// Weight of a user's category history in the built-in recommender's score.
    pub affinity_weight: f64,
    /// Scheduled changes.
    pub drift: RecommendDrift,
}

/// `[recommend.drift]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendDrift {
    /// New items enter the catalogue.
    pub new_items: NewItems,
    /// A share of users change their tastes.
    pub preference_shift: PreferenceShift,
    /// Category appeal follows a seasonal cycle.
    pub seasonality: Seasonality,
}

/// `[recommend.drift.new_items]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewItems {
    /// Off switch.
    pub enabled: bool,
    /// First launch day.
    pub start_day: u32,
    /// Items launched per day from then on.
    pub items_per_day: i64,
    /// Extra appeal of a launched item (novelty) on its launch day.
    pub novelty_boost: f64,
    /// Days for the novelty boost to halve.
    pub novelty_half_life_days: f64,
}

/// `[recommend.drift.preference_shift]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferenceShift {
    /// Off switch.
    pub enabled: bool,
    /// Day tastes start moving.
    pub start_day: u32,
    /// Day they reach their new direction.
    pub end_day: u32,
    /// Share of users whose taste moves.
    pub share: f64,
}

/// `[recommend.drift.seasonality]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seasonality {
    /// Off switch.
    pub enabled: bool,
    /// Length of one cycle (days).
    pub period_days: f64,
    /// Utility added to a category at its season's peak (and removed at its trough).
    pub amplitude: f64,
}

impl RecommendConfig {
    /// Rejects impossible values.
    pub fn validate(&self, c: &Check<'_>) -> Result<()> {
        c.range_i("recommend.users", self.users, 1, MAX_USERS)?;
        c.range_i("recommend.items", self.items, 1, MAX_ITEMS)?;
        c.range_i("recommend.categories", self.categories, 1, 1_000)?;
        c.range_i("recommend.latent_dim", self.latent_dim, 1, 256)?;
        c.range_f("recommend.item_spread", self.item_spread, 0.0, 100.0)?;
        c.range_f("recommend.taste_weight", self.taste_weight, 0.0, 100.0)?;
        c.range_f("recommend.appeal_spread", self.appeal_spread, 0.0, 100.0)?;
        c.range_f(
            "recommend.sessions_per_hour",
            self.sessions_per_hour,
            1.0,
            1e6,
        )?;
        c.range_i(
            "recommend.slate_size",
            self.slate_size,
            1,
            self.items.max(1),
        )?;
        c.range_f("recommend.click_bias", self.click_bias, -50.0, 50.0)?;
        c.fraction("recommend.position_decay", self.position_decay)?;
        c.range_f(
            "recommend.affinity_weight",
            self.affinity_weight,
            0.0,
            100.0,
        )?;
        let d = &self.drift;
        c.range_i(
            "recommend.drift.new_items.items_per_day",
            d.new_items.items_per_day,
            0,
            10_000,
        )?;
        c.range_f(
            "recommend.drift.new_items.novelty_boost",
            d.new_items.novelty_boost,
            -50.0,
            50.0,
        )?;
        c.range_f(
            "recommend.drift.new_items.novelty_half_life_days",
            d.new_items.novelty_half_life_days,
            0.1,
            3650.0,
        )?;
        let p = &d.preference_shift;
        c.ordered(
            "recommend.drift.preference_shift.end_day",
            p.start_day,
            p.end_day,
        )?;
        c.fraction("recommend.drift.preference_shift.share", p.share)?;
        c.range_f(
            "recommend.drift.seasonality.period_days",
            d.seasonality.period_days,
            1.0,
            3650.0,
        )?;
        c.range_f(
            "recommend.drift.seasonality.amplitude",
            d.seasonality.amplitude,
            0.0,
            50.0,
        )
    }
}

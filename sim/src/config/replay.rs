//! `[replay]`: a stream replayed from CSV or JSONL files instead of generated. The file
//! schema is documented in `sim/README.md` and the `scenarios/replay-*.toml` samples.

use serde::{Deserialize, Serialize};

use super::Check;
use crate::error::Result;

/// Most rows one replay may load (all files together); keeps memory bounded.
pub const MAX_REPLAY_ROWS: i64 = 20_000_000;

/// What the rows hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayKind {
    /// `time, <numeric features>..., label`.
    Tabular,
    /// `time, text, intent`.
    Text,
    /// `time, user, item, rating and/or click`: drives the recommend loop.
    Interaction,
}

/// File format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayFormat {
    /// Comma-separated with a header line; fields may be double-quoted.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// The replay world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// Kind of rows.
    pub kind: ReplayKind,
    /// Format of every file.
    pub format: ReplayFormat,
    /// Files, relative to the scenario file's folder; rows of all files are merged in
    /// time order (ties keep file order, then line order).
    pub files: Vec<String>,
    /// Column holding the time (RFC 3339, or whole seconds since 1970 UTC).
    pub time_column: String,
    /// Column holding the label (class name).
    pub label_column: String,
    /// Column holding the text (`kind = "text"` only).
    pub text_column: String,
    /// Column holding the routing key (device, customer); empty: the line number is used.
    pub key_column: String,
    /// Class names in label order; empty: the sorted distinct labels found in the files.
    pub classes: Vec<String>,
    /// Tabular columns read as `ln(1 + x)` by learners (heavy-tailed counters).
    pub log_scale_columns: Vec<String>,
    /// Most rows loaded; rows beyond it are quarantined with that reason.
    pub max_rows: i64,
    /// Columns and thresholds of `kind = "interaction"` (required for it, refused
    /// otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction: Option<InteractionConfig>,
}

/// Largest slate an interaction replay may rank (HR and NDCG are @ this cut-off).
pub const MAX_REPLAY_SLATE: i64 = 1_000;

/// `[replay.interaction]`: how `(time, user, item, rating or click)` rows are read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionConfig {
    /// Column holding the user id (any non-empty string).
    pub user_column: String,
    /// Column holding the item id (any non-empty string).
    pub item_column: String,
    /// Column holding a numeric rating; empty: no rating column.
    pub rating_column: String,
    /// Column holding a click, `0` or `1` (`true` / `false` in JSON); empty: none.
    pub click_column: String,
    /// A row is positive when its rating is at least this (or its click is 1).
    pub positive_rating: f64,
    /// Items ranked per request; HR and NDCG are measured at this cut-off.
    pub slate_size: i64,
}

impl ReplayConfig {
    /// Rejects impossible values.
    pub fn validate(&self, c: &Check<'_>) -> Result<()> {
        c.require(
            !self.files.is_empty(),
            "replay.files",
            "needs at least one file",
        )?;
        c.require(
            !self.time_column.is_empty(),
            "replay.time_column",
            "must not be empty",
        )?;
        let interaction = self.kind == ReplayKind::Interaction;
        c.require(
            interaction || !self.label_column.is_empty(),
            "replay.label_column",
            "must not be empty",
        )?;
        c.require(
            interaction == self.interaction.is_some(),
            "replay.interaction",
            "is required when kind = \"interaction\" and refused otherwise",
        )?;
        if let Some(i) = &self.interaction {
            i.validate(c)?;
        }
        c.require(
            self.kind != ReplayKind::Text || !self.text_column.is_empty(),
            "replay.text_column",
            "must name a column when kind = \"text\"",
        )?;
        c.range_i("replay.max_rows", self.max_rows, 1, MAX_REPLAY_ROWS)
    }
}

impl InteractionConfig {
    /// Rejects impossible values.
    fn validate(&self, c: &Check<'_>) -> Result<()> {
        for (key, column) in [
            ("replay.interaction.user_column", &self.user_column),
            ("replay.interaction.item_column", &self.item_column),
        ] {
            c.require(!column.is_empty(), key, "must not be empty")?;
        }
        c.require(
            !self.rating_column.is_empty() || !self.click_column.is_empty(),
            "replay.interaction.click_column",
            "a rating_column or a click_column is needed to tell positives",
        )?;
        c.range_f(
            "replay.interaction.positive_rating",
            self.positive_rating,
            -1e9,
            1e9,
        )?;
        c.range_i(
            "replay.interaction.slate_size",
            self.slate_size,
            1,
            MAX_REPLAY_SLATE,
        )
    }
}

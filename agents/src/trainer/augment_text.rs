//! Rare-intent augmentation of a text job's messages (`[trainer.augment_text]`).
//!
//! As with the tabular table ([`super::augment`]), the Trainer decides only *whether* and
//! *how* a job augments; the worker, which composes the messages, finds the rare intents
//! and makes the variants (seeded from the job) and records what it did on
//! `ModelTrained`. Evidence holds numbers only, and the lexicon is words, so the whole
//! table travels in the Trainer's rule (parameter `augment_text`, present only when the
//! table is): `TrainingJob::from_started` reads it back from there, and a re-run worker
//! (`audit --deep`) needs nothing but the event.
//!
//! Tabular jobs ignore this table, and text jobs ignore `[trainer.augment]`, so one
//! policy may carry both.

use serde::{Deserialize, Serialize};

use crate::error::{invalid, Error, Result};

/// Component name used in policy errors.
const POLICY: &str = "trainer augment_text policy";
/// The rule parameter (and policy key) the table is recorded under.
pub const RULE_PARAM: &str = "augment_text";
/// Most variants per real message (as `ledgerloop_models::augment::text`), so a rare
/// intent cannot be blown up into thousands of near-copies.
pub const MAX_COPIES_PER_ROW: u32 = 20;
/// Most lexicon pairs: the table is copied into every Trainer decision's rule, so it
/// must stay a small hand-written list, not a dictionary.
pub const MAX_LEXICON_PAIRS: usize = 200;
/// Longest lexicon entry, in characters (a word or a short phrase).
pub const MAX_ENTRY_CHARS: usize = 40;

/// The `[trainer.augment_text]` table. Absent (the default), text jobs train on their
/// messages as composed, exactly as before text augmentation existed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextAugmentPolicy {
    /// Intents with fewer than this many messages among a job's training messages are
    /// augmented, >= 1 (default 30).
    pub rare_below_rows: u32,
    /// Variants made from each message of a rare intent, in [1, 20] (default 5).
    pub copies_per_row: u32,
    /// Chance that a word of a variant gets one typo (a swapped, dropped or doubled
    /// character), in [0, 1] (default 0.15).
    pub char_noise_rate: f64,
    /// Chance that a lexicon entry found in a variant is replaced by its equivalent, in
    /// [0, 1] (default 0.5).
    pub substitution_rate: f64,
    /// Equivalent words or phrases, `[word, equivalent]`: synonyms or code-switched
    /// pairs; either side stands for the other. Both sides non-empty and different, at
    /// most 40 characters each, at most 200 pairs (default none: character noise only).
    pub lexicon: Vec<(String, String)>,
}

impl Default for TextAugmentPolicy {
    fn default() -> Self {
        TextAugmentPolicy {
            rare_below_rows: 30,
            copies_per_row: 5,
            char_noise_rate: 0.15,
            substitution_rate: 0.5,
            lexicon: Vec::new(),
        }
    }
}

impl TextAugmentPolicy {
    /// Checks every field lies in its documented range; a bad lexicon entry is named by
    /// its position (from 0) and content.
    pub fn validate(&self) -> Result<()> {
        if self.rare_below_rows == 0 {
            return Err(invalid(POLICY, "rare_below_rows", 0, "must be >= 1"));
        }
        if !(1..=MAX_COPIES_PER_ROW).contains(&self.copies_per_row) {
            let v = self.copies_per_row;
            return Err(invalid(POLICY, "copies_per_row", v, "must lie in [1, 20]"));
        }
        for (name, v) in [
            ("char_noise_rate", self.char_noise_rate),
            ("substitution_rate", self.substitution_rate),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(invalid(POLICY, name, v, "must lie in [0, 1]"));
            }
        }
        if self.lexicon.len() > MAX_LEXICON_PAIRS {
            let n = self.lexicon.len();
            return Err(invalid(POLICY, "lexicon", n, "must hold at most 200 pairs"));
        }
        for (i, (a, b)) in self.lexicon.iter().enumerate() {
            let entry = || format!("entry {i} [{a:?}, {b:?}]");
            if a.trim().is_empty() || b.trim().is_empty() {
                let why = "both sides of a pair must be non-empty";
                return Err(invalid(POLICY, "lexicon", entry(), why));
            }
            if a == b {
                let why = "the two sides of a pair must differ";
                return Err(invalid(POLICY, "lexicon", entry(), why));
            }
            if a.chars().count() > MAX_ENTRY_CHARS || b.chars().count() > MAX_ENTRY_CHARS {
                let why = "each side must be at most 40 characters";
                return Err(invalid(POLICY, "lexicon", entry(), why));
            }
        }
        Ok(())
    }

    /// The parameters recorded in the Trainer's rule: the whole table, lexicon included,
    /// since the worker reads it back from there.
    pub fn params(&self) -> serde_json::Value {
        serde_json::json!({
            "rare_below_rows": self.rare_below_rows,
            "copies_per_row": self.copies_per_row,
            "char_noise_rate": self.char_noise_rate,
            "substitution_rate": self.substitution_rate,
            "lexicon": self.lexicon,
        })
    }

    /// Reads the table back from a decision's rule parameter `augment_text`, refusing a
    /// recorded table that is malformed or out of range.
    pub(crate) fn read(params: &serde_json::Value) -> Result<TextAugmentPolicy> {
        let policy: TextAugmentPolicy =
            serde_json::from_value(params.clone()).map_err(|e| Error::InvalidInput {
                component: POLICY,
                reason: format!("rule parameter `{RULE_PARAM}` is malformed: {e}"),
            })?;
        policy.validate()?;
        Ok(policy)
    }
}

//! `[intent]`: the customer-service intent world. Every field is documented in
//! `scenarios/intent.toml`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Check;
use crate::error::Result;

/// Most intents a scenario may define (keeps the per-class model bounded).
pub const MAX_INTENTS: usize = 256;

/// The intent world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentConfig {
    /// Mean utterances per hour (a diurnal curve modulates it).
    pub utterances_per_hour: f64,
    /// Distinct customers; an utterance's routing key is its customer.
    pub customers: i64,
    /// Probability that an utterance carries at least one typo.
    pub typo_rate: f64,
    /// Probability that a message is phrased like another intent (a customer describes a
    /// symptom instead of what they want): the label stays the true intent.
    pub ambiguity_rate: f64,
    /// Greetings and sign-offs put around a message, shared by every intent.
    pub prefixes: Vec<String>,
    /// Sign-offs appended to a message.
    pub suffixes: Vec<String>,
    /// Share of English, Chinese and code-switched utterances.
    pub languages: LanguageMix,
    /// Slot values by slot name; templates refer to them as `{name}`.
    pub slots: BTreeMap<String, Vec<String>>,
    /// The intents (the label space), in label order.
    pub intents: Vec<IntentSpec>,
    /// Scheduled changes.
    pub drift: IntentDrift,
}

/// Language shares (normalised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageMix {
    /// English.
    pub en: f64,
    /// Chinese.
    pub zh: f64,
    /// Code-switched Chinese and English in one utterance.
    pub mixed: f64,
}

/// One intent with its templates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentSpec {
    /// Label name.
    pub name: String,
    /// Share of traffic before the mix shift (shares are normalised).
    pub share: f64,
    /// Share of traffic once the mix shift is complete.
    pub late_share: f64,
    /// English templates.
    pub en: Vec<String>,
    /// Chinese templates.
    pub zh: Vec<String>,
    /// Code-switched templates.
    pub mixed: Vec<String>,
}

/// `[intent.drift]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentDrift {
    /// An intent that does not exist before a day (a new product).
    pub new_intent: NewIntent,
    /// Customers start phrasing things differently.
    pub phrasing_shift: PhrasingShift,
    /// The intent mix moves from `share` to `late_share`.
    pub mix_shift: MixShift,
}

/// `[intent.drift.new_intent]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewIntent {
    /// Off switch (when off, the intent is present all along).
    pub enabled: bool,
    /// Name of an intent in `intents`.
    pub intent: String,
    /// First run day it occurs.
    pub start_day: u32,
    /// Days over which its share ramps from 0 to its configured share.
    pub ramp_days: u32,
}

/// `[intent.drift.phrasing_shift]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhrasingShift {
    /// Off switch.
    pub enabled: bool,
    /// Day the new phrasing starts to appear.
    pub start_day: u32,
    /// Day it reaches `share`.
    pub end_day: u32,
    /// Share of utterances rephrased once the shift is complete.
    pub share: f64,
    /// `[from, to]` substitutions applied to a rephrased utterance.
    pub replacements: Vec<[String; 2]>,
}

/// `[intent.drift.mix_shift]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixShift {
    /// Off switch.
    pub enabled: bool,
    /// Day the mix starts to move.
    pub start_day: u32,
    /// Day it reaches `late_share`.
    pub end_day: u32,
}

impl IntentConfig {
    /// Rejects impossible values and templates naming unknown slots.
    pub fn validate(&self, c: &Check<'_>) -> Result<()> {
        c.range_f(
            "intent.utterances_per_hour",
            self.utterances_per_hour,
            1.0,
            1e6,
        )?;
        c.range_i("intent.customers", self.customers, 1, 100_000_000)?;
        c.fraction("intent.typo_rate", self.typo_rate)?;
        c.fraction("intent.ambiguity_rate", self.ambiguity_rate)?;
        let l = &self.languages;
        for (k, v) in [("en", l.en), ("zh", l.zh), ("mixed", l.mixed)] {
            c.range_f(&format!("intent.languages.{k}"), v, 0.0, 1e6)?;
        }
        c.require(
            l.en + l.zh + l.mixed > 0.0,
            "intent.languages",
            "needs a positive share",
        )?;
        c.require(
            (2..=MAX_INTENTS).contains(&self.intents.len()),
            "intent.intents",
            "needs between 2 and 256 intents",
        )?;
        for (name, values) in &self.slots {
            c.require(
                !values.is_empty(),
                &format!("intent.slots.{name}"),
                "has no values",
            )?;
        }
        for (i, spec) in self.intents.iter().enumerate() {
            self.validate_intent(c, i, spec)?;
        }
        let shares: f64 = self.intents.iter().map(|i| i.share).sum();
        let late: f64 = self.intents.iter().map(|i| i.late_share).sum();
        c.require(
            shares > 0.0,
            "intent.intents",
            "needs an intent with a positive share",
        )?;
        c.require(
            late > 0.0,
            "intent.intents",
            "needs an intent with a positive late_share",
        )?;
        self.drift.validate(c, &self.intents)
    }

    fn validate_intent(&self, c: &Check<'_>, i: usize, spec: &IntentSpec) -> Result<()> {
        let key = format!("intent.intents.{i}");
        c.require(
            !spec.name.trim().is_empty(),
            &format!("{key}.name"),
            "must not be empty",
        )?;
        let dup = self.intents[..i].iter().any(|o| o.name == spec.name);
        c.require(!dup, &format!("{key}.name"), "duplicates an earlier intent")?;
        c.range_f(&format!("{key}.share"), spec.share, 0.0, 1e6)?;
        c.range_f(&format!("{key}.late_share"), spec.late_share, 0.0, 1e6)?;
        for (lang, templates) in [("en", &spec.en), ("zh", &spec.zh), ("mixed", &spec.mixed)] {
            let tkey = format!("{key}.{lang}");
            c.require(!templates.is_empty(), &tkey, "needs at least one template")?;
            for t in templates {
                for slot in placeholders(t) {
                    let known = self.slots.contains_key(slot);
                    c.require(
                        known,
                        &tkey,
                        &format!("template names unknown slot `{{{slot}}}`"),
                    )?;
                }
            }
        }
        Ok(())
    }
}

impl IntentDrift {
    fn validate(&self, c: &Check<'_>, intents: &[IntentSpec]) -> Result<()> {
        let n = &self.new_intent;
        let known = intents.iter().any(|i| i.name == n.intent);
        c.require(
            !n.enabled || known,
            "intent.drift.new_intent.intent",
            "is not in intent.intents",
        )?;
        let p = &self.phrasing_shift;
        c.ordered(
            "intent.drift.phrasing_shift.end_day",
            p.start_day,
            p.end_day,
        )?;
        c.fraction("intent.drift.phrasing_shift.share", p.share)?;
        let empty_from = p.replacements.iter().any(|[from, _]| from.is_empty());
        c.require(
            !empty_from,
            "intent.drift.phrasing_shift.replacements",
            "has an empty `from`",
        )?;
        let m = &self.mix_shift;
        c.ordered("intent.drift.mix_shift.end_day", m.start_day, m.end_day)
    }
}

/// The slot names a template refers to (`{name}`), in order.
pub fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

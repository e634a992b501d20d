//! The customer-service intent world: home-broadband customers write to a support bot in
//! English, Chinese or a mix of both; each utterance is rendered from one of its intent's
//! templates with random slot values, sometimes with typos. The label is the intent.
//!
//! Drift (all in `[intent.drift]`): a new intent appears on a given day (a new product),
//! a growing share of utterances is rephrased with new vocabulary, and the intent mix
//! moves from `share` to `late_share`.

mod text;

use rand::Rng;

use crate::clock::Clock;
use crate::config::intent::IntentConfig;
use crate::data::{Batch, Inputs, TaskShape};
use crate::error::Result;
use crate::rng::{component_rng, weighted_index, SimRng};
use crate::world::World;

/// Slice names: the language of an utterance.
pub const LANGUAGES: [&str; 3] = ["en", "zh", "mixed"];

/// Hard cap on utterances generated in one hour, so a mistyped rate cannot exhaust memory.
pub const MAX_UTTERANCES_PER_HOUR: usize = 100_000;

/// The intent world.
#[derive(Debug)]
pub struct IntentWorld {
    cfg: IntentConfig,
    shape: TaskShape,
    clock: Clock,
    rng: SimRng,
    /// Index of the intent that appears mid-run, when that drift is enabled.
    new_intent: Option<usize>,
    weights: Vec<f64>,
}

impl IntentWorld {
    /// Builds the world for `cfg` with the scenario seed.
    pub fn new(cfg: &IntentConfig, clock: Clock, seed: u64) -> Self {
        let new_intent = cfg
            .drift
            .new_intent
            .enabled
            .then(|| {
                cfg.intents
                    .iter()
                    .position(|i| i.name == cfg.drift.new_intent.intent)
            })
            .flatten();
        let shape = TaskShape {
            class_names: cfg.intents.iter().map(|i| i.name.clone()).collect(),
            features: Vec::new(),
            slice_names: LANGUAGES.iter().map(|s| (*s).to_string()).collect(),
        };
        Self {
            cfg: cfg.clone(),
            shape,
            clock,
            rng: component_rng(seed, "world/intent"),
            new_intent,
            weights: vec![0.0; cfg.intents.len()],
        }
    }

    /// Run day (fractional; negative in the warm-up) of `hour`.
    fn run_day(&self, hour: u64) -> f64 {
        (hour as f64 - self.clock.warmup_hours() as f64) / 24.0
    }

    /// Intent weights at fractional run day `day`.
    fn update_weights(&mut self, day: f64) {
        let mix = &self.cfg.drift.mix_shift;
        let t = if mix.enabled {
            progress(day, mix.start_day, mix.end_day)
        } else {
            0.0
        };
        for (w, spec) in self.weights.iter_mut().zip(&self.cfg.intents) {
            *w = spec.share * (1.0 - t) + spec.late_share * t;
        }
        if let Some(i) = self.new_intent {
            let n = &self.cfg.drift.new_intent;
            let start = f64::from(n.start_day);
            let ramp = if day < start {
                0.0
            } else if n.ramp_days == 0 {
                1.0
            } else {
                ((day - start) / f64::from(n.ramp_days)).min(1.0)
            };
            self.weights[i] *= ramp;
        }
    }

    /// Utterances in `hour`: the mean rate shaped by a day curve peaking in the evening,
    /// with the fractional part drawn so the long-run mean is exact.
    fn volume(&mut self, hour: u64) -> usize {
        let phase = 2.0 * std::f64::consts::PI * f64::from(self.clock.hour_of_day(hour)) / 24.0;
        let expected = self.cfg.utterances_per_hour * (1.0 + 0.5 * (phase - 2.5).sin());
        let whole = expected.floor();
        let extra = u8::from(self.rng.gen::<f64>() < expected - whole);
        (whole as usize + usize::from(extra)).min(MAX_UTTERANCES_PER_HOUR)
    }
}

/// Linear progress in [0, 1] of fractional day `day` between `start` and `end`.
fn progress(day: f64, start: u32, end: u32) -> f64 {
    let (s, e) = (f64::from(start), f64::from(end));
    if day < s {
        0.0
    } else if e <= s {
        1.0
    } else {
        ((day - s) / (e - s)).min(1.0)
    }
}

impl World for IntentWorld {
    fn shape(&self) -> &TaskShape {
        &self.shape
    }

    fn empty_batch(&self) -> Batch {
        Batch::new(Inputs::Text { texts: Vec::new() })
    }

    fn generate(&mut self, hour: u64, batch: &mut Batch) -> Result<()> {
        batch.hour = hour;
        let day = self.run_day(hour);
        self.update_weights(day);
        let n = self.volume(hour);
        let shift = &self.cfg.drift.phrasing_shift;
        let rephrase = if shift.enabled {
            shift.share * progress(day, shift.start_day, shift.end_day)
        } else {
            0.0
        };
        let l = &self.cfg.languages;
        let lang_weights = [l.en, l.zh, l.mixed];
        let Inputs::Text { texts } = &mut batch.inputs else {
            return Ok(());
        };
        for _ in 0..n {
            let intent = weighted_index(&mut self.rng, &self.weights);
            let lang = weighted_index(&mut self.rng, &lang_weights);
            let phrased_as = if self.rng.gen::<f64>() < self.cfg.ambiguity_rate {
                weighted_index(&mut self.rng, &self.weights)
            } else {
                intent
            };
            let spec = &self.cfg.intents[phrased_as];
            let templates = match lang {
                0 => &spec.en,
                1 => &spec.zh,
                _ => &spec.mixed,
            };
            let template = &templates[self.rng.gen_range(0..templates.len())];
            let mut utterance = text::render(template, &self.cfg.slots, &mut self.rng);
            utterance = text::wrap(
                utterance,
                &self.cfg.prefixes,
                &self.cfg.suffixes,
                &mut self.rng,
            );
            if self.rng.gen::<f64>() < rephrase {
                utterance = text::rephrase(&utterance, &shift.replacements);
            }
            if self.rng.gen::<f64>() < self.cfg.typo_rate {
                utterance = text::typo(&utterance, &mut self.rng);
            }
            texts.push(utterance);
            batch.truth.push(intent as u32);
            batch.slices.push(lang as u16);
            batch
                .keys
                .push(self.rng.gen_range(0..self.cfg.customers as u64));
        }
        Ok(())
    }
}

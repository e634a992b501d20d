//! Negative sampling strategies of the recommender: which items a user did not interact
//! with are scored as negatives beside each positive.
//!
//! `uniform` (every item equally likely) is the default and draws exactly as before the
//! option existed. `popularity` draws an item with probability proportional to
//! `(interactions + 1)^exponent` (word2vec's unigram^0.75 when `exponent = 0.75`): a
//! popular item the user skipped says more about the user's taste than an obscure one,
//! and uniform negatives are mostly obscure items the model already scores low.
//! `mixed` draws each negative uniformly with probability `uniform_share` and by
//! popularity otherwise: a practitioner's compromise that keeps some pressure on the
//! popular head (which pushes tail items up the ranking) without the all-popular
//! negatives that cost held-out hits on a popularity-driven world.
//!
//! The sampling-bias ("logQ") correction of Yi et al. 2019 (Sampling-Bias-Corrected
//! Neural Modeling, RecSys) is an option of the non-uniform strategies
//! (`MfTrainConfig.logq_correction`, a weight `w` in [0, 1], 0 = off): every scored
//! item's training logit (the positive's and each negative's) is lowered by
//! `w * ln(n_items * q_i)`, where `q_i` is the probability that the sampler draws item
//! `i`. Measured against uniform's `q = 1 / n_items` the offset is zero for an item drawn
//! as often as under uniform sampling, negative for a rarely drawn one and positive for a
//! popular one, so with `w = 1` the logistic loss has the optimum it has under uniform
//! negatives (the noise-contrastive argument: the learnt logit is `ln p - ln(k q)` plus
//! the offset) while the popular items still get most of the negative draws. Scoring and
//! ranking never see the offset. Redraws of an item the user has seen are ignored in
//! `q_i`.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::Interactions;
use crate::{Error, Result};

/// Largest popularity exponent accepted: beyond it the sampler draws almost only the few
/// most popular items.
pub const MAX_POPULARITY_EXPONENT: f32 = 2.0;

/// Largest sampling-bias correction weight accepted: 1 removes the sampler's bias in full,
/// more would push the model against the popularity it was shown.
pub const MAX_LOGQ_CORRECTION: f32 = 1.0;

/// How negatives are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NegativeSampling {
    /// Every item equally likely.
    #[default]
    Uniform,
    /// An item with probability proportional to `(interactions + 1)^exponent`.
    Popularity {
        /// In [0, 2]; 0 is uniform, 1 proportional to popularity.
        exponent: f32,
    },
    /// Uniform with probability `uniform_share`, otherwise as `popularity { exponent }`.
    Mixed {
        /// In [0, 1]; 1 is uniform, 0 is `popularity { exponent }`.
        uniform_share: f32,
        /// In [0, 2], as for `popularity`.
        exponent: f32,
    },
}

impl NegativeSampling {
    /// True for the default, which the training options leave out of their JSON so that
    /// reports written before the option existed are unchanged.
    pub fn is_uniform(&self) -> bool {
        matches!(self, NegativeSampling::Uniform)
    }

    /// Rejects an exponent outside [0, 2] or a uniform share outside [0, 1], naming the field.
    pub fn validate(&self) -> Result<()> {
        let (exponent, share) = match *self {
            NegativeSampling::Uniform => return Ok(()),
            NegativeSampling::Popularity { exponent } => (exponent, None),
            NegativeSampling::Mixed {
                uniform_share,
                exponent,
            } => (exponent, Some(uniform_share)),
        };
        if !(exponent.is_finite() && (0.0..=MAX_POPULARITY_EXPONENT).contains(&exponent)) {
            return Err(Error::InvalidConfig {
                field: "negative_sampling.exponent",
                reason: format!("popularity exponent must lie in [0, 2], got {exponent}"),
            });
        }
        match share {
            Some(s) if !(s.is_finite() && (0.0..=1.0).contains(&s)) => Err(Error::InvalidConfig {
                field: "negative_sampling.uniform_share",
                reason: format!("the uniform share must lie in [0, 1], got {s}"),
            }),
            _ => Ok(()),
        }
    }
}

/// Rejects a sampling-bias correction weight outside [0, 1], or a non-zero one with
/// uniform negatives (whose correction is zero for every item, so the option would be
/// recorded without doing anything), naming `logq_correction`.
pub fn validate_logq_correction(strategy: NegativeSampling, weight: f32) -> Result<()> {
    let reason = if !(weight.is_finite() && (0.0..=MAX_LOGQ_CORRECTION).contains(&weight)) {
        format!("the sampling-bias correction weight must lie in [0, 1], got {weight}")
    } else if weight > 0.0 && strategy.is_uniform() {
        "the sampling-bias correction needs popularity or mixed negative sampling \
         (it is zero for uniform negatives)"
            .to_string()
    } else {
        return Ok(());
    };
    Err(Error::InvalidConfig {
        field: "logq_correction",
        reason,
    })
}

/// Draws candidate negatives for one training run.
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    n_items: u32,
    /// Cumulative popularity weights per item (`None`: uniform).
    cumulative: Option<Vec<f64>>,
    /// Probability of a uniform draw instead of a popularity one (`mixed` only).
    uniform_share: Option<f64>,
    /// Per item, what the sampling-bias correction subtracts from its training logit
    /// (`None`: no correction).
    logit_offsets: Option<Vec<f32>>,
}

impl Sampler {
    /// The sampler of `strategy` over the items of `train`.
    pub(crate) fn new(strategy: NegativeSampling, train: &Interactions) -> Sampler {
        let n_items = train.n_items as u32;
        let (exponent, uniform_share) = match strategy {
            NegativeSampling::Uniform => {
                return Sampler {
                    n_items,
                    cumulative: None,
                    uniform_share: None,
                    logit_offsets: None,
                }
            }
            NegativeSampling::Popularity { exponent } => (exponent, None),
            NegativeSampling::Mixed {
                uniform_share,
                exponent,
            } => (exponent, Some(f64::from(uniform_share))),
        };
        let mut counts = vec![0u64; train.n_items];
        for &(_, i) in &train.pairs {
            if let Some(c) = counts.get_mut(i as usize) {
                *c += 1;
            }
        }
        let mut total = 0.0;
        let cumulative = counts
            .iter()
            .map(|&c| {
                total += (c as f64 + 1.0).powf(f64::from(exponent));
                total
            })
            .collect();
        Sampler {
            n_items,
            cumulative: Some(cumulative),
            uniform_share,
            logit_offsets: None,
        }
    }

    /// The same sampler with the sampling-bias correction of weight `weight`: item `i`'s
    /// training logit is lowered by `weight * ln(n_items * q_i)`. A zero weight (the
    /// default) or a uniform sampler leaves the training exactly as without it.
    pub(crate) fn with_logq_correction(mut self, weight: f32) -> Sampler {
        if weight == 0.0 {
            return self;
        }
        self.logit_offsets = self.draw_probabilities().map(|q| {
            let n = f64::from(self.n_items);
            q.iter()
                .map(|&qi| (f64::from(weight) * (n * qi).ln()) as f32)
                .collect()
        });
        self
    }

    /// Per item, what the correction subtracts from its training logit, if it is on.
    pub(crate) fn logit_offsets(&self) -> Option<&[f32]> {
        self.logit_offsets.as_deref()
    }

    /// Probability of each item in one draw (`None` for the uniform sampler): its share
    /// of the popularity weights, mixed with `1 / n_items` by the uniform share.
    fn draw_probabilities(&self) -> Option<Vec<f64>> {
        let cumulative = self.cumulative.as_ref()?;
        let total = cumulative
            .last()
            .copied()
            .unwrap_or(0.0)
            .max(f64::MIN_POSITIVE);
        let share = self.uniform_share.unwrap_or(0.0);
        let uniform = 1.0 / f64::from(self.n_items.max(1));
        let mut previous = 0.0;
        let q = cumulative
            .iter()
            .map(|&c| {
                let w = c - previous;
                previous = c;
                share * uniform + (1.0 - share) * w / total
            })
            .collect();
        Some(q)
    }

    /// One item id. The uniform sampler takes one `gen_range` from `rng`, as the trainer
    /// did before strategies existed, so default runs draw the same negatives. The mixed
    /// sampler first draws which of the two to use, from the same seeded stream.
    pub(crate) fn draw(&self, rng: &mut ChaCha8Rng) -> u32 {
        let Some(cumulative) = &self.cumulative else {
            return rng.gen_range(0..self.n_items);
        };
        if let Some(share) = self.uniform_share {
            if rng.gen::<f64>() < share {
                return rng.gen_range(0..self.n_items);
            }
        }
        let total = cumulative.last().copied().unwrap_or(0.0);
        let x = rng.gen::<f64>() * total;
        let i = cumulative.partition_point(|&c| c <= x);
        (i as u32).min(self.n_items.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// Item 0 has 30 interactions, items 1..10 one each: a skewed training set.
    fn skewed() -> Interactions {
        let mut pairs: Vec<(u32, u32)> = (0..30).map(|u| (u, 0)).collect();
        pairs.extend((1..10).map(|i| (0, i)));
        Interactions {
            n_users: 30,
            n_items: 10,
            pairs,
        }
    }

    /// How often item 0 is drawn in `DRAWS` draws of `strategy`.
    fn share_of_item_zero(strategy: NegativeSampling) -> f64 {
        const DRAWS: usize = 20_000;
        let sampler = Sampler::new(strategy, &skewed());
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let hits = (0..DRAWS).filter(|_| sampler.draw(&mut rng) == 0).count();
        hits as f64 / DRAWS as f64
    }

    /// The mixed sampler draws the popular item between uniform's and popularity's rates,
    /// near the share-weighted average of the two.
    #[test]
    fn mixed_sampler_lies_between_uniform_and_popularity() {
        let uniform = share_of_item_zero(NegativeSampling::Uniform);
        let popular = share_of_item_zero(NegativeSampling::Popularity { exponent: 1.0 });
        let mixed = share_of_item_zero(NegativeSampling::Mixed {
            uniform_share: 0.5,
            exponent: 1.0,
        });
        // Expected rates: uniform 1/10, popularity 31/49 (weights 31 and 9 x 2).
        assert!((uniform - 0.1).abs() < 0.01, "{uniform}");
        assert!((popular - 31.0 / 49.0).abs() < 0.02, "{popular}");
        let expected = 0.5 * 0.1 + 0.5 * 31.0 / 49.0;
        assert!((mixed - expected).abs() < 0.02, "{mixed} vs {expected}");
    }

    /// The correction lowers each item's logit by `weight * ln(n_items * q_i)`, with `q_i`
    /// the rate at which the sampler really draws the item; off, it changes nothing.
    #[test]
    fn correction_offsets_follow_the_draw_rates() {
        let mixed = NegativeSampling::Mixed {
            uniform_share: 0.5,
            exponent: 1.0,
        };
        let sampler = Sampler::new(mixed, &skewed()).with_logq_correction(1.0);
        let offsets = sampler.logit_offsets().expect("on");
        // Popularity rates 31/49 for item 0 and 2/49 for the others, mixed half and half
        // with uniform's 1/10.
        let q0: f64 = 0.5 * 0.1 + 0.5 * 31.0 / 49.0;
        let q1: f64 = 0.5 * 0.1 + 0.5 * 2.0 / 49.0;
        assert!((f64::from(offsets[0]) - (10.0 * q0).ln()).abs() < 1e-5);
        assert!((f64::from(offsets[1]) - (10.0 * q1).ln()).abs() < 1e-5);
        assert!((share_of_item_zero(mixed) - q0).abs() < 0.02);
        let half = Sampler::new(mixed, &skewed()).with_logq_correction(0.5);
        let half = half.logit_offsets().expect("on");
        assert!((half[0] - 0.5 * offsets[0]).abs() < 1e-6);
        let popular = NegativeSampling::Popularity { exponent: 1.0 };
        assert!(Sampler::new(popular, &skewed())
            .with_logq_correction(0.0)
            .logit_offsets()
            .is_none());
        assert!(Sampler::new(NegativeSampling::Uniform, &skewed())
            .with_logq_correction(1.0)
            .logit_offsets()
            .is_none());
    }

    /// A correction weight outside [0, 1], or any correction with uniform negatives, is
    /// refused naming `logq_correction`; zero is accepted with every strategy.
    #[test]
    fn invalid_correction_is_named() {
        let popular = NegativeSampling::Popularity { exponent: 0.75 };
        for bad in [-0.5, 1.5, f32::NAN] {
            let err = validate_logq_correction(popular, bad).expect_err("refused");
            assert!(err.to_string().contains("logq_correction"), "{err}");
        }
        let err = validate_logq_correction(NegativeSampling::Uniform, 1.0).expect_err("refused");
        assert!(err.to_string().contains("logq_correction"), "{err}");
        assert!(validate_logq_correction(NegativeSampling::Uniform, 0.0).is_ok());
        assert!(validate_logq_correction(popular, 1.0).is_ok());
    }

    /// Each invalid field is named in the error.
    #[test]
    fn invalid_fields_are_named() {
        let bad_exponent = NegativeSampling::Mixed {
            uniform_share: 0.5,
            exponent: 3.0,
        };
        let bad_share = NegativeSampling::Mixed {
            uniform_share: 2.0,
            exponent: 0.5,
        };
        let err = bad_exponent.validate().expect_err("refused").to_string();
        assert!(err.contains("negative_sampling.exponent"), "{err}");
        let err = bad_share.validate().expect_err("refused").to_string();
        assert!(err.contains("negative_sampling.uniform_share"), "{err}");
    }

    /// The JSON form is tagged like the existing strategies.
    #[test]
    fn mixed_serialises_tagged() {
        let mixed = NegativeSampling::Mixed {
            uniform_share: 0.5,
            exponent: 0.75,
        };
        let json = serde_json::to_value(mixed).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({"mixed": {"uniform_share": 0.5, "exponent": 0.75}})
        );
        assert_eq!(
            serde_json::to_value(NegativeSampling::Uniform).expect("serialises"),
            serde_json::json!("uniform")
        );
    }
}

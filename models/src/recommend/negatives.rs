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

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::Interactions;
use crate::{Error, Result};

/// Largest popularity exponent accepted: beyond it the sampler draws almost only the few
/// most popular items.
pub const MAX_POPULARITY_EXPONENT: f32 = 2.0;

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

/// Draws candidate negatives for one training run.
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    n_items: u32,
    /// Cumulative popularity weights per item (`None`: uniform).
    cumulative: Option<Vec<f64>>,
    /// Probability of a uniform draw instead of a popularity one (`mixed` only).
    uniform_share: Option<f64>,
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
        }
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

    /// How often item 0 is drawn in `DRAWS` draws of `strategy`.
    fn share_of_item_zero(strategy: NegativeSampling) -> f64 {
        const DRAWS: usize = 20_000;
        // Item 0 has 30 interactions, items 1..10 one each: a skewed training set.
        let mut pairs: Vec<(u32, u32)> = (0..30).map(|u| (u, 0)).collect();
        pairs.extend((1..10).map(|i| (0, i)));
        let train = Interactions {
            n_users: 30,
            n_items: 10,
            pairs,
        };
        let sampler = Sampler::new(strategy, &train);
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

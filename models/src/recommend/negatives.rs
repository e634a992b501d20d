//! Negative sampling strategies of the recommender: which items a user did not interact
//! with are scored as negatives beside each positive.
//!
//! `uniform` (every item equally likely) is the default and draws exactly as before the
//! option existed. `popularity` draws an item with probability proportional to
//! `(interactions + 1)^exponent` (word2vec's unigram^0.75 when `exponent = 0.75`): a
//! popular item the user skipped says more about the user's taste than an obscure one,
//! and uniform negatives are mostly obscure items the model already scores low.

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
}

impl NegativeSampling {
    /// True for the default, which the training options leave out of their JSON so that
    /// reports written before the option existed are unchanged.
    pub fn is_uniform(&self) -> bool {
        matches!(self, NegativeSampling::Uniform)
    }

    /// Rejects an exponent outside [0, 2].
    pub fn validate(&self) -> Result<()> {
        match self {
            NegativeSampling::Popularity { exponent }
                if !(exponent.is_finite()
                    && (0.0..=MAX_POPULARITY_EXPONENT).contains(exponent)) =>
            {
                Err(Error::InvalidConfig {
                    field: "negative_sampling",
                    reason: format!("popularity exponent must lie in [0, 2], got {exponent}"),
                })
            }
            _ => Ok(()),
        }
    }
}

/// Draws candidate negatives for one training run.
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    n_items: u32,
    /// Cumulative weights per item (`None`: uniform).
    cumulative: Option<Vec<f64>>,
}

impl Sampler {
    /// The sampler of `strategy` over the items of `train`.
    pub(crate) fn new(strategy: NegativeSampling, train: &Interactions) -> Sampler {
        let n_items = train.n_items as u32;
        let NegativeSampling::Popularity { exponent } = strategy else {
            return Sampler {
                n_items,
                cumulative: None,
            };
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
        }
    }

    /// One item id. The uniform sampler takes one `gen_range` from `rng`, as the trainer
    /// did before strategies existed, so default runs draw the same negatives.
    pub(crate) fn draw(&self, rng: &mut ChaCha8Rng) -> u32 {
        let Some(cumulative) = &self.cumulative else {
            return rng.gen_range(0..self.n_items);
        };
        let total = cumulative.last().copied().unwrap_or(0.0);
        let x = rng.gen::<f64>() * total;
        let i = cumulative.partition_point(|&c| c <= x);
        (i as u32).min(self.n_items.saturating_sub(1))
    }
}

//! Multinomial naive Bayes over hashed features of the lower-cased text: character
//! 1- to 3-grams (which work for Chinese, where there are no spaces, and survive typos)
//! plus whitespace words. Buckets are fixed ([`BUCKETS`]), so the model size does not grow
//! with the vocabulary and an unseen word costs nothing.

use std::sync::Arc;

use super::{learner_error, Classifier, Learner};
use crate::data::{Dataset, Inputs, TaskShape};
use crate::error::Result;
use crate::rng::stable_hash_str;

const NAME: &str = "naive_bayes";
/// Hash buckets per class.
pub const BUCKETS: usize = 1 << 15;

/// Fits [`NaiveBayesModel`]s.
#[derive(Debug, Clone)]
pub struct NaiveBayesLearner {
    /// Additive smoothing.
    pub alpha: f64,
}

impl Default for NaiveBayesLearner {
    fn default() -> Self {
        Self { alpha: 0.2 }
    }
}

/// Log-probabilities per class and bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct NaiveBayesModel {
    n_classes: usize,
    log_prior: Vec<f64>,
    log_likelihood: Vec<f32>,
}

/// Calls `f` with the bucket of every feature of `text`.
pub fn for_each_bucket(text: &str, mut f: impl FnMut(usize)) {
    let lower = text.to_lowercase();
    let chars: Vec<char> = lower.chars().filter(|c| !c.is_whitespace()).collect();
    let mut buf = String::new();
    for n in 1..=3 {
        for w in chars.windows(n) {
            buf.clear();
            buf.push(char::from(b'0' + n as u8));
            buf.extend(w.iter());
            f((stable_hash_str(&buf) as usize) % BUCKETS);
        }
    }
    for word in lower.split_whitespace() {
        buf.clear();
        buf.push('w');
        buf.push_str(word);
        f((stable_hash_str(&buf) as usize) % BUCKETS);
    }
}

impl Learner for NaiveBayesLearner {
    fn name(&self) -> &str {
        NAME
    }

    fn fit(&self, _shape: &TaskShape, data: &Dataset, _seed: u64) -> Result<Arc<dyn Classifier>> {
        let Inputs::Text { texts } = &data.inputs else {
            return Err(learner_error(NAME, "needs text inputs"));
        };
        let k = data.n_classes;
        if texts.is_empty() || k == 0 {
            return Err(learner_error(NAME, "empty dataset"));
        }
        let mut counts = vec![0f64; k * BUCKETS];
        let mut docs = vec![0f64; k];
        for (text, label) in texts.iter().zip(&data.labels) {
            let c = *label as usize;
            if c >= k {
                continue;
            }
            docs[c] += 1.0;
            for_each_bucket(text, |b| counts[c * BUCKETS + b] += 1.0);
        }
        let total_docs: f64 = docs.iter().sum();
        // Classes never seen get a prior that makes them (almost) never predicted.
        let log_prior = docs
            .iter()
            .map(|d| {
                if *d > 0.0 {
                    (d / total_docs).ln()
                } else {
                    -1e9
                }
            })
            .collect();
        let mut log_likelihood = vec![0f32; k * BUCKETS];
        for c in 0..k {
            let row = &counts[c * BUCKETS..(c + 1) * BUCKETS];
            let denom = row.iter().sum::<f64>() + self.alpha * BUCKETS as f64;
            for (b, n) in row.iter().enumerate() {
                log_likelihood[c * BUCKETS + b] = ((n + self.alpha) / denom).ln() as f32;
            }
        }
        Ok(Arc::new(NaiveBayesModel {
            n_classes: k,
            log_prior,
            log_likelihood,
        }))
    }
}

impl Classifier for NaiveBayesModel {
    fn predict(&self, inputs: &Inputs, out: &mut Vec<u32>) -> Result<()> {
        let Inputs::Text { texts } = inputs else {
            return Err(learner_error(NAME, "needs text inputs"));
        };
        out.clear();
        let mut scores = vec![0f64; self.n_classes];
        for text in texts {
            scores.copy_from_slice(&self.log_prior);
            for_each_bucket(text, |b| {
                for (c, s) in scores.iter_mut().enumerate() {
                    *s += f64::from(self.log_likelihood[c * BUCKETS + b]);
                }
            });
            let best =
                scores
                    .iter()
                    .enumerate()
                    .fold((0usize, f64::NEG_INFINITY), |acc, (c, s)| {
                        if *s > acc.1 {
                            (c, *s)
                        } else {
                            acc
                        }
                    });
            out.push(best.0 as u32);
        }
        Ok(())
    }
}

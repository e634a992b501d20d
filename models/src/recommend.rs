//! Recommender: matrix factorisation with global, user and item biases, trained on
//! implicit feedback with a logistic loss over each positive and sampled negatives.
//!
//! Logistic rather than BPR because BPR's pairwise difference cancels the user bias and
//! the global bias, which the issue asks for, and because a logistic score is a probability.
//! Cold start (defined answer): an unknown user is scored with the popularity part only
//! (`global + item bias`), so they get the most popular items; an unknown item gets
//! `global + user bias + mean item bias` with no interaction term, i.e. an average item.
//! Training is in `recommend/train.rs`, negative sampling in `recommend/negatives.rs` and
//! the long-tail metric in `recommend/tail.rs`.

mod negatives;
mod tail;
mod train;

pub use negatives::{
    validate_logq_correction, NegativeSampling, MAX_LOGQ_CORRECTION, MAX_POPULARITY_EXPONENT,
};
pub use tail::{long_tail_items, tail_ranking_metrics, TailMetrics, DEFAULT_HEAD_SHARE};
pub use train::{evaluate_ranking, rank_held_out, NEGATIVES_DRAWN_KEY};

use serde::{Deserialize, Serialize};

use crate::artifact::{Artifact, ManifestFields, Model, TensorSet};
use crate::report::TrainReport;
use crate::{Error, Result};

/// Implicit feedback: each `(user, item)` pair is an observed positive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interactions {
    pub n_users: usize,
    pub n_items: usize,
    pub pairs: Vec<(u32, u32)>,
}

impl Interactions {
    /// Checks non-empty and ids in range.
    pub fn validate(&self) -> Result<()> {
        if self.pairs.is_empty() {
            return Err(Error::EmptyDataset {
                what: "interactions",
            });
        }
        for &(u, i) in &self.pairs {
            if u as usize >= self.n_users {
                return Err(Error::UnknownId {
                    what: "user",
                    id: u,
                });
            }
            if i as usize >= self.n_items {
                return Err(Error::UnknownId {
                    what: "item",
                    id: i,
                });
            }
        }
        Ok(())
    }

    /// SHA-256 over sizes and pairs.
    pub fn content_hash(&self) -> String {
        let mut bytes = b"ledgerloop.interactions.v1".to_vec();
        bytes.extend_from_slice(&(self.n_users as u64).to_le_bytes());
        bytes.extend_from_slice(&(self.n_items as u64).to_le_bytes());
        for (u, i) in &self.pairs {
            bytes.extend_from_slice(&u.to_le_bytes());
            bytes.extend_from_slice(&i.to_le_bytes());
        }
        crate::data::sha256_hex(&bytes)
    }
}

/// Factor dimension of the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfConfig {
    pub dim: usize,
}

impl Default for MfConfig {
    fn default() -> Self {
        Self { dim: 32 }
    }
}

/// Training options for matrix factorisation: mini-batches of positives, each with
/// `negatives_per_positive` sampled negatives, lazy AdamW on the touched rows, early
/// stopping on validation HR@K.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MfTrainConfig {
    pub seed: u64,
    /// Most epochs to run (fewer when early stopping fires).
    pub epochs: usize,
    pub learning_rate: f32,
    /// AdamW's decoupled weight decay on user and item factor rows (biases are not decayed).
    pub l2: f32,
    pub negatives_per_positive: usize,
    /// Cut-off for HR@K / NDCG@K on the validation set.
    pub eval_k: usize,
    /// Positives per mini-batch.
    #[serde(default = "default_mf_batch")]
    pub batch_size: usize,
    /// Stop after this many epochs without a better validation HR@K (0 = never).
    #[serde(default)]
    pub early_stopping_patience: usize,
    /// How negatives are drawn (default uniform, left out of the JSON when uniform so
    /// that reports written before the option existed are unchanged).
    #[serde(default, skip_serializing_if = "NegativeSampling::is_uniform")]
    pub negative_sampling: NegativeSampling,
    /// Weight in [0, 1] of the sampling-bias ("logQ") correction of popularity or mixed
    /// negatives (`recommend/negatives.rs`); 0, the default, is off and left out of the
    /// JSON so that reports written before the option existed are unchanged.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub logq_correction: f32,
}

/// True for a weight of exactly zero (an option that is off).
fn is_zero(weight: &f32) -> bool {
    *weight == 0.0
}

fn default_mf_batch() -> usize {
    DEFAULT_MF_BATCH
}

/// Default positives per mini-batch: small enough for many updates per epoch on the sparse
/// tables, large enough to amortise the per-step bookkeeping.
const DEFAULT_MF_BATCH: usize = 64;

impl Default for MfTrainConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            epochs: 20,
            learning_rate: 0.01,
            l2: 1e-4,
            negatives_per_positive: 4,
            eval_k: 10,
            batch_size: DEFAULT_MF_BATCH,
            early_stopping_patience: 3,
            negative_sampling: NegativeSampling::Uniform,
            logq_correction: 0.0,
        }
    }
}

/// Trained factorisation model.
#[derive(Debug, Clone)]
pub struct MatrixFactorization {
    pub(crate) n_users: usize,
    pub(crate) n_items: usize,
    pub(crate) dim: usize,
    pub(crate) user_factors: Vec<f32>,
    pub(crate) item_factors: Vec<f32>,
    pub(crate) user_bias: Vec<f32>,
    pub(crate) item_bias: Vec<f32>,
    pub(crate) global_bias: f32,
    pub(crate) seed: u64,
    pub(crate) dataset_hash: String,
    pub(crate) report: Option<TrainReport>,
}

const FAMILY: &str = "recommender";

impl MatrixFactorization {
    /// Trains on `train`; `valid` pairs (held-out positives) drive HR@K / NDCG@K in the report.
    pub fn fit(
        cfg: &MfConfig,
        train: &Interactions,
        valid: Option<&Interactions>,
        opts: &MfTrainConfig,
    ) -> Result<(MatrixFactorization, TrainReport)> {
        train::fit(cfg, train, valid, opts)
    }

    /// Logit of "user would interact with item"; cold-start rules in the module doc.
    pub fn score(&self, user: u32, item: u32) -> f32 {
        let (u, i, d) = (user as usize, item as usize, self.dim);
        let known_user = u < self.n_users;
        let known_item = i < self.n_items;
        let mut s = self.global_bias;
        if known_item {
            s += self.item_bias[i];
        } else {
            s += self.item_bias.iter().sum::<f32>() / self.n_items.max(1) as f32;
        }
        if known_user {
            s += self.user_bias[u];
        }
        if known_user && known_item {
            s += crate::dense::dot(
                &self.user_factors[u * d..(u + 1) * d],
                &self.item_factors[i * d..(i + 1) * d],
            );
        }
        s
    }

    /// The `k` best items for `user` as `(item, score)`, best first, ties by item id;
    /// items in `exclude` (e.g. already seen) are skipped.
    pub fn top_k(&self, user: u32, k: usize, exclude: &[u32]) -> Vec<(u32, f32)> {
        let mut scored: Vec<(u32, f32)> = (0..self.n_items as u32)
            .filter(|i| !exclude.contains(i))
            .map(|i| (i, self.score(user, i)))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        scored
    }

    /// Probabilities `sigmoid(score)` for `(user, item)` pairs.
    pub fn predict_proba(&self, pairs: &[(u32, u32)]) -> Vec<f32> {
        pairs
            .iter()
            .map(|&(u, i)| 1.0 / (1.0 + (-self.score(u, i)).exp()))
            .collect()
    }

    pub fn parameter_count(&self) -> usize {
        self.user_factors.len() + self.item_factors.len() + self.n_users + self.n_items + 1
    }
}

impl Model for MatrixFactorization {
    type Dataset = Interactions;
    type Config = MfConfig;
    type Options = MfTrainConfig;
    type Input<'a> = &'a [(u32, u32)];

    fn family(&self) -> &'static str {
        FAMILY
    }

    fn fit(
        cfg: &MfConfig,
        train: &Interactions,
        valid: Option<&Interactions>,
        opts: &MfTrainConfig,
    ) -> Result<(Self, TrainReport)> {
        MatrixFactorization::fit(cfg, train, valid, opts)
    }

    fn predict_proba_batch(&self, input: &[(u32, u32)]) -> Result<Vec<f32>> {
        Ok(self.predict_proba(input))
    }

    /// Tensors: `user.weight` `[n_users, dim]`, `item.weight` `[n_items, dim]`,
    /// `user.bias` `[n_users]`, `item.bias` `[n_items]`, `global.bias` `[1]`.
    fn to_artifact(&self) -> Result<Artifact> {
        let (nu, ni, d) = (self.n_users, self.n_items, self.dim);
        let mut set = TensorSet::default();
        set.insert_f32("user.weight", vec![nu, d], self.user_factors.clone());
        set.insert_f32("item.weight", vec![ni, d], self.item_factors.clone());
        set.insert_f32("user.bias", vec![nu], self.user_bias.clone());
        set.insert_f32("item.bias", vec![ni], self.item_bias.clone());
        set.insert_f32("global.bias", vec![1], vec![self.global_bias]);
        let config = serde_json::json!({ "dim": d, "n_users": nu, "n_items": ni });
        Artifact::build(
            &set,
            ManifestFields {
                family: FAMILY.into(),
                config,
                parameter_count: self.parameter_count(),
                dataset_hash: self.dataset_hash.clone(),
                seed: self.seed,
                parent_model_id: None,
                training_report: self.report.clone(),
            },
        )
    }

    fn from_artifact(artifact: &Artifact) -> Result<Self> {
        let set = artifact.verify_family(FAMILY)?;
        let m = &artifact.manifest;
        let get = |k: &str| {
            m.config[k]
                .as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| Error::ArtifactMismatch {
                    reason: format!("manifest config lacks `{k}`"),
                })
        };
        let (d, nu, ni) = (get("dim")?, get("n_users")?, get("n_items")?);
        // Ids are u32, so larger tables could never be addressed; this also bounds what a
        // hand-edited manifest can make the loader expect.
        if u32::try_from(nu.max(ni)).is_err() {
            return Err(Error::ArtifactMismatch {
                reason: format!("{nu} users / {ni} items exceed the u32 id space"),
            });
        }
        Ok(Self {
            n_users: nu,
            n_items: ni,
            dim: d,
            user_factors: set.f32("user.weight", &[nu, d])?,
            item_factors: set.f32("item.weight", &[ni, d])?,
            user_bias: set.f32("user.bias", &[nu])?,
            item_bias: set.f32("item.bias", &[ni])?,
            global_bias: set.f32("global.bias", &[1])?[0],
            seed: m.seed,
            dataset_hash: m.dataset_hash.clone(),
            report: m.training_report.clone(),
        })
    }
}

//! Text intent classifier over hashed character and word n-grams (fastText-like): a mean
//! bag of embedding rows, then a linear layer. Written in plain Rust because only the ~30
//! embedding rows a batch touches need updating; candle's dense embedding gradient would
//! touch all 2^18 rows each step. Tokenisation in `text/tokenize.rs`, training in
//! `text/train.rs`.

pub mod tokenize;
pub(crate) mod train;

use serde::{Deserialize, Serialize};

use crate::artifact::{Artifact, ManifestFields, Model, TensorSet};
use crate::data::sha256_hex;
use crate::dense::softmax_rows;
use crate::report::TrainReport;
use crate::{Error, Result};
pub use tokenize::NgramConfig;

/// Labelled texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextDataset {
    pub texts: Vec<String>,
    pub labels: Vec<u32>,
    pub n_classes: usize,
}

impl TextDataset {
    /// Checks non-empty, equal lengths and label range.
    pub fn validate(&self) -> Result<()> {
        if self.texts.is_empty() {
            return Err(Error::EmptyDataset {
                what: "text dataset",
            });
        }
        if self.n_classes < 2 {
            return Err(Error::InvalidConfig {
                field: "n_classes",
                reason: format!("must be at least 2, got {}", self.n_classes),
            });
        }
        if self.texts.len() != self.labels.len() {
            return Err(Error::ShapeMismatch {
                what: "texts vs labels".into(),
                expected: self.texts.len().to_string(),
                got: self.labels.len().to_string(),
            });
        }
        if let Some((row, &label)) = self
            .labels
            .iter()
            .enumerate()
            .find(|(_, l)| **l as usize >= self.n_classes)
        {
            return Err(Error::UnknownLabel {
                label,
                row,
                n_classes: self.n_classes,
            });
        }
        Ok(())
    }

    /// SHA-256 over texts and labels.
    pub fn content_hash(&self) -> String {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"ledgerloop.text.v1");
        bytes.extend_from_slice(&(self.n_classes as u64).to_le_bytes());
        for (t, l) in self.texts.iter().zip(&self.labels) {
            bytes.extend_from_slice(&(t.len() as u64).to_le_bytes());
            bytes.extend_from_slice(t.as_bytes());
            bytes.extend_from_slice(&l.to_le_bytes());
        }
        sha256_hex(&bytes)
    }
}

/// Architecture of the text classifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextConfig {
    pub n_classes: usize,
    pub dim: usize,
    pub ngrams: NgramConfig,
}

impl TextConfig {
    /// 2^18 buckets x 64 dims, word bigrams, char trigrams.
    pub fn new(n_classes: usize) -> Self {
        Self {
            n_classes,
            dim: 64,
            ngrams: NgramConfig::default(),
        }
    }

    /// Rejects shapes the model cannot run: fewer than 2 classes, zero dims, zero buckets,
    /// or more buckets than a `u32` feature id can address.
    pub fn validate(&self) -> Result<()> {
        let buckets_ok = self.ngrams.buckets > 0 && u32::try_from(self.ngrams.buckets).is_ok();
        if self.n_classes < 2 || self.dim == 0 || !buckets_ok {
            return Err(Error::InvalidConfig {
                field: "TextConfig",
                reason: format!("need n_classes >= 2, dim >= 1, 1 <= buckets <= 2^32-1: {self:?}"),
            });
        }
        Ok(())
    }

    /// Checks that `data` is valid and has this config's class count.
    pub(crate) fn check_dataset(&self, data: &TextDataset) -> Result<()> {
        data.validate()?;
        if data.n_classes != self.n_classes {
            return Err(Error::ShapeMismatch {
                what: "text dataset n_classes vs config".into(),
                expected: self.n_classes.to_string(),
                got: data.n_classes.to_string(),
            });
        }
        Ok(())
    }
}

/// Training options for the text classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextTrainConfig {
    pub seed: u64,
    pub max_epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f32,
    pub weight_decay: f32,
    pub early_stopping_patience: usize,
    pub valid_fraction: f32,
}

impl Default for TextTrainConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            max_epochs: 10,
            batch_size: 32,
            learning_rate: 1e-2,
            weight_decay: 0.0,
            early_stopping_patience: 3,
            valid_fraction: 0.1,
        }
    }
}

/// Trained hashed-n-gram classifier.
#[derive(Debug, Clone)]
pub struct TextClassifier {
    pub(crate) config: TextConfig,
    /// `[buckets, dim]` row-major.
    pub(crate) embedding: Vec<f32>,
    /// `[n_classes, dim]`.
    pub(crate) fc_weight: Vec<f32>,
    pub(crate) fc_bias: Vec<f32>,
    pub(crate) seed: u64,
    pub(crate) dataset_hash: String,
    /// The model this one was warm-started from.
    pub(crate) parent_model_id: Option<String>,
    pub(crate) report: Option<TrainReport>,
}

const FAMILY: &str = "text";

impl TextClassifier {
    /// Trains on `train`, early-stopping on `valid` (or a seeded split of `train`).
    pub fn fit(
        cfg: &TextConfig,
        train: &TextDataset,
        valid: Option<&TextDataset>,
        opts: &TextTrainConfig,
    ) -> Result<(TextClassifier, TrainReport)> {
        cfg.validate()?;
        train::run(train::init(cfg, opts.seed), None, train, valid, opts)
    }

    /// Warm start: continues training a copy of `self` (same buckets, dims and classes) on
    /// `train`; the parent's id goes into the report and the manifest.
    pub fn fine_tune(
        &self,
        train: &TextDataset,
        valid: Option<&TextDataset>,
        opts: &TextTrainConfig,
    ) -> Result<(TextClassifier, TrainReport)> {
        let parent = self.model_id()?;
        let mut start = self.clone();
        start.report = None;
        train::run(start, Some(parent), train, valid, opts)
    }

    /// Mean of the embedding rows of `ids` (zero vector for no features).
    pub(crate) fn bag(&self, ids: &[u32], out: &mut [f32]) {
        out.iter_mut().for_each(|v| *v = 0.0);
        let d = self.config.dim;
        for &id in ids {
            let row = &self.embedding[id as usize * d..(id as usize + 1) * d];
            out.iter_mut().zip(row).for_each(|(o, r)| *o += r);
        }
        let inv = 1.0 / ids.len().max(1) as f32;
        out.iter_mut().for_each(|v| *v *= inv);
    }

    /// Logits for one feature bag into `out` (`n_classes`).
    pub(crate) fn logits_ids(&self, ids: &[u32], h: &mut [f32], out: &mut [f32]) {
        self.bag(ids, h);
        let d = self.config.dim;
        for (c, o) in out.iter_mut().enumerate() {
            *o = self.fc_bias[c] + crate::dense::dot(h, &self.fc_weight[c * d..(c + 1) * d]);
        }
    }

    /// Class probabilities, row-major `texts.len() x n_classes`. Any string is valid input
    /// (an empty one is scored from the bias alone).
    pub fn predict_proba(&self, texts: &[&str]) -> Result<Vec<f32>> {
        let c = self.config.n_classes;
        let mut out = vec![0f32; texts.len() * c];
        let mut h = vec![0f32; self.config.dim];
        for (t, o) in texts.iter().zip(out.chunks_exact_mut(c)) {
            let ids = tokenize::feature_ids(t, &self.config.ngrams);
            self.logits_ids(&ids, &mut h, o);
        }
        softmax_rows(&mut out, c);
        Ok(out)
    }

    pub fn config(&self) -> &TextConfig {
        &self.config
    }

    /// Parameter count (embedding + linear layer).
    pub fn parameter_count(&self) -> usize {
        self.embedding.len() + self.fc_weight.len() + self.fc_bias.len()
    }
}

impl Model for TextClassifier {
    type Dataset = TextDataset;
    type Config = TextConfig;
    type Options = TextTrainConfig;
    type Input<'a> = &'a [&'a str];

    fn family(&self) -> &'static str {
        FAMILY
    }

    fn fit(
        cfg: &TextConfig,
        train: &TextDataset,
        valid: Option<&TextDataset>,
        opts: &TextTrainConfig,
    ) -> Result<(Self, TrainReport)> {
        TextClassifier::fit(cfg, train, valid, opts)
    }

    fn predict_proba_batch(&self, input: &[&str]) -> Result<Vec<f32>> {
        self.predict_proba(input)
    }

    /// Tensors: `embedding.weight` `[buckets, dim]` (PyTorch `nn.EmbeddingBag(mode="mean")`),
    /// `fc.weight` `[n_classes, dim]`, `fc.bias` `[n_classes]`.
    fn to_artifact(&self) -> Result<Artifact> {
        let (b, d, c) = (
            self.config.ngrams.buckets,
            self.config.dim,
            self.config.n_classes,
        );
        let mut set = TensorSet::default();
        set.insert_f32("embedding.weight", vec![b, d], self.embedding.clone());
        set.insert_f32("fc.weight", vec![c, d], self.fc_weight.clone());
        set.insert_f32("fc.bias", vec![c], self.fc_bias.clone());
        Artifact::build(
            &set,
            ManifestFields {
                family: FAMILY.into(),
                config: serde_json::to_value(&self.config)?,
                parameter_count: self.parameter_count(),
                dataset_hash: self.dataset_hash.clone(),
                seed: self.seed,
                parent_model_id: self.parent_model_id.clone(),
                training_report: self.report.clone(),
            },
        )
    }

    fn from_artifact(artifact: &Artifact) -> Result<Self> {
        let set = artifact.verify_family(FAMILY)?;
        let m = &artifact.manifest;
        let config: TextConfig = serde_json::from_value(m.config.clone())?;
        config.validate()?;
        let (b, d, c) = (config.ngrams.buckets, config.dim, config.n_classes);
        Ok(Self {
            embedding: set.f32("embedding.weight", &[b, d])?,
            fc_weight: set.f32("fc.weight", &[c, d])?,
            fc_bias: set.f32("fc.bias", &[c])?,
            config,
            seed: m.seed,
            dataset_hash: m.dataset_hash.clone(),
            parent_model_id: m.parent_model_id.clone(),
            report: m.training_report.clone(),
        })
    }
}

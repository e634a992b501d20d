//! Tabular MLP classifier: configuration, the trained model, prediction, and the `fit` /
//! fine-tune entry points. The training loop lives in `tabular/train.rs`, the candle network
//! used while training in `tabular/net.rs`.

mod io;
mod net;
mod options;
mod schedule;
mod train;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::artifact::Model;
use crate::data::{check_features, ReplayBuffer, Standardizer, TabularDataset};
use crate::dense::{mlp_logits, softmax_rows, DenseLayer};
use crate::report::{ReplayRecord, TrainReport};
use crate::{Error, Result};

pub(crate) use net::{init_layers, TrainNet};
pub(crate) use options::check_options;
pub(crate) use train::{run as train_run, train_loop, Objective};

/// Shape of an MLP: features in, hidden ReLU layers, class logits out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlpConfig {
    pub n_features: usize,
    pub n_classes: usize,
    pub hidden: Vec<usize>,
}

impl MlpConfig {
    /// The large model the Trainer fits: two hidden layers of 128.
    pub fn teacher(n_features: usize, n_classes: usize) -> Self {
        Self {
            n_features,
            n_classes,
            hidden: vec![128, 128],
        }
    }

    /// The edge model the Distiller produces: hidden 64 then 32 (wide enough that int8
    /// weights dominate the size, so quantization gives > 3.5x).
    pub fn student(n_features: usize, n_classes: usize) -> Self {
        Self {
            n_features,
            n_classes,
            hidden: vec![64, 32],
        }
    }

    /// Parameter count of this shape.
    pub fn parameter_count(&self) -> usize {
        self.layer_dims().iter().map(|(i, o)| i * o + o).sum()
    }

    /// `(in, out)` of every linear layer in order.
    pub fn layer_dims(&self) -> Vec<(usize, usize)> {
        let mut dims = Vec::new();
        let mut prev = self.n_features;
        for &h in self.hidden.iter().chain(std::iter::once(&self.n_classes)) {
            dims.push((prev, h));
            prev = h;
        }
        dims
    }

    /// Rejects shapes that cannot be built: no features, fewer than 2 classes, a zero-width
    /// hidden layer.
    pub fn validate(&self) -> Result<()> {
        if self.n_features == 0 || self.n_classes < 2 || self.hidden.contains(&0) {
            return Err(Error::InvalidConfig {
                field: "MlpConfig",
                reason: format!("need n_features >= 1, n_classes >= 2, hidden > 0: {self:?}"),
            });
        }
        Ok(())
    }
}

/// How class imbalance is handled in the loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClassWeighting {
    /// Every row weighs 1.
    None,
    /// Weight `n / (n_classes * count_c)`, so rare positives (offline events) count as much
    /// in total as the common class.
    Balanced,
    /// Explicit per-class weights.
    Manual(Vec<f32>),
}

/// Which parameters a fine-tune may change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FineTuneMode {
    /// Every weight and bias.
    Full,
    /// Only the last (output) layer; the body is frozen.
    HeadOnly,
    /// Low-rank adapters `W + (alpha / rank) * B A` on every linear layer; merged on export.
    Lora { rank: usize, alpha: f32 },
}

/// Reduce the learning rate when the monitored loss stops improving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReduceLrOnPlateau {
    pub factor: f64,
    pub patience_epochs: usize,
    pub min_learning_rate: f64,
}

/// Grow the batch when batch losses are noisy (coefficient of variation above a threshold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchGrowth {
    pub noise_cv: f64,
    pub factor: usize,
    pub max_batch_size: usize,
}

/// Training options; all of them are copied into the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub seed: u64,
    pub max_epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Stop after this many epochs without a better validation loss (0 = never).
    pub early_stopping_patience: usize,
    /// Held out from `train` for early stopping when no validation set is given (0 = none).
    pub valid_fraction: f32,
    pub class_weighting: ClassWeighting,
    pub reduce_lr: Option<ReduceLrOnPlateau>,
    pub batch_growth: Option<BatchGrowth>,
    /// Used by fine-tunes only; `fit` always trains everything.
    pub fine_tune: FineTuneMode,
    /// FedProx proximal term `mu / 2 * ||w - w_start||^2` (0 = plain training).
    pub prox_mu: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            max_epochs: 30,
            batch_size: 256,
            learning_rate: 3e-3,
            weight_decay: 1e-4,
            early_stopping_patience: 5,
            valid_fraction: 0.1,
            class_weighting: ClassWeighting::Balanced,
            reduce_lr: Some(ReduceLrOnPlateau {
                factor: 0.5,
                patience_epochs: 2,
                min_learning_rate: 1e-5,
            }),
            batch_growth: None,
            fine_tune: FineTuneMode::Full,
            prox_mu: 0.0,
        }
    }
}

/// Where a model came from; written into its manifest.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Provenance {
    pub seed: u64,
    pub dataset_hash: String,
    pub parent_model_id: Option<String>,
    pub report: Option<TrainReport>,
}

/// A trained MLP with its input standardiser. Cheap to clone (weights are small).
#[derive(Debug, Clone)]
pub struct TabularModel {
    pub(crate) config: MlpConfig,
    pub(crate) standardizer: Standardizer,
    pub(crate) layers: Vec<DenseLayer>,
    pub(crate) provenance: Provenance,
    /// candle copies of the weights for large batches, where gemm beats the plain loop.
    cached: Vec<(Tensor, Tensor)>,
}

/// Below this many rows the plain-Rust forward is faster than candle's per-op overhead.
const SMALL_BATCH_ROWS: usize = 32;
/// Rows per candle chunk: bounds memory when scoring millions of rows.
const CHUNK_ROWS: usize = 8192;

impl TabularModel {
    /// Builds a model from parts, checking that the layers match the config.
    pub fn from_parts(
        config: MlpConfig,
        standardizer: Standardizer,
        layers: Vec<DenseLayer>,
        provenance: Provenance,
    ) -> Result<Self> {
        config.validate()?;
        let dims = config.layer_dims();
        let got: Vec<(usize, usize)> = layers
            .iter()
            .map(|l| (l.in_features, l.out_features))
            .collect();
        let sizes_ok = layers.iter().all(|l| {
            l.weight.len() == l.in_features * l.out_features && l.bias.len() == l.out_features
        });
        standardizer.validate()?;
        if dims != got || !sizes_ok || standardizer.mean.len() != config.n_features {
            return Err(Error::ShapeMismatch {
                what: "tabular layers vs config".into(),
                expected: format!("{dims:?}"),
                got: format!("{got:?}"),
            });
        }
        let mut cached = Vec::with_capacity(layers.len());
        for l in &layers {
            let w = Tensor::from_slice(&l.weight, (l.out_features, l.in_features), &Device::Cpu)?;
            let b = Tensor::from_slice(&l.bias, l.out_features, &Device::Cpu)?;
            cached.push((w, b));
        }
        Ok(Self {
            config,
            standardizer,
            layers,
            provenance,
            cached,
        })
    }

    /// Trains a fresh model (all layers) on `train`, early-stopping on `valid` (or on a
    /// seeded split of `train` when `valid` is `None` and `opts.valid_fraction > 0`).
    pub fn fit(
        cfg: &MlpConfig,
        train: &TabularDataset,
        valid: Option<&TabularDataset>,
        opts: &TrainConfig,
    ) -> Result<(TabularModel, TrainReport)> {
        cfg.validate()?;
        check_dataset_matches(cfg, train)?;
        let layers = init_layers(cfg, opts.seed);
        let standardizer = Standardizer::fit(train);
        let net = TrainNet::new(&layers, &FineTuneMode::Full)?;
        train::run(
            cfg,
            standardizer,
            net,
            None,
            train,
            valid,
            opts,
            &Objective::default(),
        )
    }

    /// Warm start from `self`: trains a copy per `opts.fine_tune` (full, head-only or LoRA,
    /// LoRA merged into the weights on export). Keeps the parent's standardiser so old and
    /// new data are seen on the same scale.
    pub fn fine_tune(
        &self,
        train: &TabularDataset,
        valid: Option<&TabularDataset>,
        opts: &TrainConfig,
    ) -> Result<(TabularModel, TrainReport)> {
        check_dataset_matches(&self.config, train)?;
        let net = TrainNet::new(&self.layers, &opts.fine_tune)?;
        train::run(
            &self.config,
            self.standardizer.clone(),
            net,
            Some(self.model_id()?),
            train,
            valid,
            opts,
            &Objective::default(),
        )
    }

    /// Warm start with replay against forgetting: fine-tunes on `new_data` plus up to
    /// `replay_fraction * new_data.len()` past rows drawn from `buffer`, records the mix in
    /// the report, then offers `new_data` to the buffer so later updates can replay it too.
    pub fn fine_tune_with_replay(
        &self,
        new_data: &TabularDataset,
        buffer: &mut ReplayBuffer,
        replay_fraction: f32,
        valid: Option<&TabularDataset>,
        opts: &TrainConfig,
    ) -> Result<(TabularModel, TrainReport)> {
        if !(replay_fraction.is_finite() && replay_fraction >= 0.0) {
            return Err(Error::InvalidConfig {
                field: "replay_fraction",
                reason: format!("must be finite and >= 0, got {replay_fraction}"),
            });
        }
        check_dataset_matches(&self.config, new_data)?;
        let buffer_rows = buffer.len();
        let mixed = buffer.mix(new_data, replay_fraction)?;
        let (mut model, mut report) = self.fine_tune(&mixed, valid, opts)?;
        report.replay = Some(ReplayRecord {
            new_rows: new_data.len(),
            replayed_rows: mixed.len() - new_data.len(),
            replay_fraction,
            buffer_rows,
            buffer_capacity: buffer.capacity(),
        });
        model.provenance.report = Some(report.clone());
        buffer.add(new_data)?;
        Ok((model, report))
    }

    /// Class probabilities for raw features, row-major `n x n_classes`.
    pub fn predict_proba(&self, features: &[f32]) -> Result<Vec<f32>> {
        let mut logits = self.predict_logits(features)?;
        softmax_rows(&mut logits, self.config.n_classes);
        Ok(logits)
    }

    /// Raw logits for raw features, row-major `n x n_classes`.
    pub fn predict_logits(&self, features: &[f32]) -> Result<Vec<f32>> {
        let n = check_features(features, self.config.n_features)?;
        if n <= SMALL_BATCH_ROWS {
            return Ok(mlp_logits(&self.layers, &self.standardizer.apply(features)));
        }
        let mut out = Vec::with_capacity(n * self.config.n_classes);
        for chunk in features.chunks(CHUNK_ROWS * self.config.n_features) {
            let x = self.standardizer.apply(chunk);
            let rows = x.len() / self.config.n_features;
            let mut h = Tensor::from_vec(x, (rows, self.config.n_features), &Device::Cpu)?;
            for (i, (w, b)) in self.cached.iter().enumerate() {
                h = h.matmul(&w.t()?)?.broadcast_add(b)?;
                if i + 1 < self.cached.len() {
                    h = h.relu()?;
                }
            }
            out.extend(h.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }

    /// Most likely class per row.
    pub fn predict(&self, features: &[f32]) -> Result<Vec<u32>> {
        let p = self.predict_proba(features)?;
        Ok(crate::metrics::argmax_rows(&p, self.config.n_classes))
    }

    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    pub fn layers(&self) -> &[DenseLayer] {
        &self.layers
    }

    pub fn standardizer(&self) -> &Standardizer {
        &self.standardizer
    }

    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    /// Number of trainable parameters (the standardiser is not counted).
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(DenseLayer::parameter_count).sum()
    }

    /// f32 bytes of weights + biases + standardiser: the size quantization is compared to.
    pub fn size_bytes(&self) -> usize {
        (self.parameter_count() + 2 * self.config.n_features) * 4
    }
}

/// A dataset must be valid and have the model's feature and class counts.
pub(crate) fn check_dataset_matches(cfg: &MlpConfig, data: &TabularDataset) -> Result<()> {
    data.validate()?;
    if data.n_features != cfg.n_features {
        return Err(Error::FeatureCount {
            expected: cfg.n_features,
            got: data.n_features,
            what: "dataset n_features vs model",
        });
    }
    if data.n_classes != cfg.n_classes {
        return Err(Error::ShapeMismatch {
            what: "dataset n_classes vs model".into(),
            expected: cfg.n_classes.to_string(),
            got: data.n_classes.to_string(),
        });
    }
    Ok(())
}

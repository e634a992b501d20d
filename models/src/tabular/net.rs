//! The candle network used while training: each layer trainable, frozen, or frozen with a
//! trainable low-rank adapter. Exported back to plain [`DenseLayer`]s (LoRA merged).

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{FineTuneMode, MlpConfig};
use crate::dense::DenseLayer;
use crate::{Error, Result};

/// One linear layer during training.
#[derive(Debug)]
pub(crate) enum TrainLayer {
    Trainable {
        w: Var,
        b: Var,
    },
    Frozen {
        w: Tensor,
        b: Tensor,
    },
    /// `W + scale * B A`; only `a` (`[rank, in]`) and `bm` (`[out, rank]`) train.
    Lora {
        w: Tensor,
        b: Tensor,
        a: Var,
        bm: Var,
        scale: f64,
    },
}

/// The whole MLP as candle tensors.
#[derive(Debug)]
pub(crate) struct TrainNet {
    pub(crate) layers: Vec<TrainLayer>,
    dims: Vec<(usize, usize)>,
}

/// Kaiming-uniform initialisation from a seeded ChaCha stream (candle's own init uses an
/// unseeded RNG, which would break byte-identical retraining).
pub(crate) fn init_layers(cfg: &MlpConfig, seed: u64) -> Vec<DenseLayer> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1a7e_0001);
    cfg.layer_dims()
        .into_iter()
        .map(|(i, o)| {
            let bound = (6.0 / i as f32).sqrt();
            let weight = (0..i * o).map(|_| rng.gen_range(-bound..bound)).collect();
            DenseLayer {
                in_features: i,
                out_features: o,
                weight,
                bias: vec![0.0; o],
            }
        })
        .collect()
}

fn tensors(l: &DenseLayer) -> Result<(Tensor, Tensor)> {
    let w = Tensor::from_slice(&l.weight, (l.out_features, l.in_features), &Device::Cpu)?;
    let b = Tensor::from_slice(&l.bias, l.out_features, &Device::Cpu)?;
    Ok((w, b))
}

impl TrainNet {
    /// Wraps `layers` for training in `mode`; LoRA adapters start at `B = 0` so the first
    /// forward equals the parent exactly, `A` from a seeded small uniform.
    pub(crate) fn new(layers: &[DenseLayer], mode: &FineTuneMode) -> Result<Self> {
        let last = layers.len().saturating_sub(1);
        let mut rng = ChaCha8Rng::seed_from_u64(0x10ba);
        let mut out = Vec::with_capacity(layers.len());
        for (idx, l) in layers.iter().enumerate() {
            let (w, b) = tensors(l)?;
            let layer = match mode {
                FineTuneMode::Full => TrainLayer::Trainable {
                    w: Var::from_tensor(&w)?,
                    b: Var::from_tensor(&b)?,
                },
                FineTuneMode::HeadOnly if idx == last => TrainLayer::Trainable {
                    w: Var::from_tensor(&w)?,
                    b: Var::from_tensor(&b)?,
                },
                FineTuneMode::HeadOnly => TrainLayer::Frozen { w, b },
                FineTuneMode::Lora { rank, alpha } => {
                    if *rank == 0 {
                        return Err(Error::InvalidConfig {
                            field: "fine_tune.rank",
                            reason: "LoRA rank must be at least 1".into(),
                        });
                    }
                    let bound = 1.0 / (l.in_features as f32).sqrt();
                    let a: Vec<f32> = (0..rank * l.in_features)
                        .map(|_| rng.gen_range(-bound..bound))
                        .collect();
                    let a = Tensor::from_vec(a, (*rank, l.in_features), &Device::Cpu)?;
                    let bm = Tensor::zeros((l.out_features, *rank), DType::F32, &Device::Cpu)?;
                    TrainLayer::Lora {
                        w,
                        b,
                        a: Var::from_tensor(&a)?,
                        bm: Var::from_tensor(&bm)?,
                        scale: f64::from(*alpha) / *rank as f64,
                    }
                }
            };
            out.push(layer);
        }
        let dims = layers
            .iter()
            .map(|l| (l.in_features, l.out_features))
            .collect();
        Ok(Self { layers: out, dims })
    }

    /// Effective weight and bias of layer `l` as tensors in the autograd graph.
    fn effective(layer: &TrainLayer) -> Result<(Tensor, Tensor)> {
        Ok(match layer {
            TrainLayer::Trainable { w, b } => (w.as_tensor().clone(), b.as_tensor().clone()),
            TrainLayer::Frozen { w, b } => (w.clone(), b.clone()),
            TrainLayer::Lora { w, b, a, bm, scale } => {
                let delta = (bm.as_tensor().matmul(a.as_tensor())? * *scale)?;
                ((w + delta)?, b.clone())
            }
        })
    }

    /// Logits for a standardised batch `[rows, in]`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let (w, b) = Self::effective(layer)?;
            h = h.matmul(&w.t()?)?.broadcast_add(&b)?;
            if i + 1 < self.layers.len() {
                h = h.relu()?;
            }
        }
        Ok(h)
    }

    /// Mask tensors shaped like each layer's weight.
    pub(crate) fn mask_tensors(&self, masks: &[Vec<f32>]) -> Result<Vec<Tensor>> {
        masks
            .iter()
            .zip(&self.dims)
            .map(|(m, &(i, o))| Ok(Tensor::from_slice(m, (o, i), &Device::Cpu)?))
            .collect()
    }

    /// Zeroes pruned weights of trainable layers again (AdamW moves them otherwise).
    pub(crate) fn apply_masks(&self, masks: &[Tensor]) -> Result<()> {
        for (layer, m) in self.layers.iter().zip(masks) {
            if let TrainLayer::Trainable { w, .. } = layer {
                w.set(&w.as_tensor().mul(m)?)?;
            }
        }
        Ok(())
    }

    /// The tensors AdamW updates.
    pub(crate) fn trainable(&self) -> Vec<Var> {
        let mut vars = Vec::new();
        for layer in &self.layers {
            match layer {
                TrainLayer::Trainable { w, b } => vars.extend([w.clone(), b.clone()]),
                TrainLayer::Frozen { .. } => {}
                TrainLayer::Lora { a, bm, .. } => vars.extend([a.clone(), bm.clone()]),
            }
        }
        vars
    }

    /// Effective weights of every layer, each paired with a detached copy; the FedProx
    /// anchor is the copy taken before training starts.
    pub(crate) fn effective_weights(&self) -> Result<Vec<Tensor>> {
        self.layers
            .iter()
            .map(|l| Ok(Self::effective(l)?.0))
            .collect()
    }

    /// Plain layers with adapters merged: the form that is saved and served.
    pub(crate) fn export(&self) -> Result<Vec<DenseLayer>> {
        let mut out = Vec::with_capacity(self.layers.len());
        for (layer, &(i, o)) in self.layers.iter().zip(&self.dims) {
            let (w, b) = Self::effective(layer)?;
            out.push(DenseLayer {
                in_features: i,
                out_features: o,
                weight: w.flatten_all()?.to_vec1::<f32>()?,
                bias: b.to_vec1::<f32>()?,
            });
        }
        Ok(out)
    }
}

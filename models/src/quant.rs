//! int8 quantization of a tabular MLP, with inference on the quantized form.
//!
//! Scheme: per-output-channel symmetric int8 weights (`w ~ scale[o] * q`, `q` in -127..=127)
//! and per-row dynamic symmetric int8 activations, so every layer is an integer dot product
//! accumulated in i32 and rescaled once per output. Why per-channel symmetric rather than
//! candle's Q8_0: Q8_0 groups 32 consecutive inputs per scale, and the student's layers
//! have 16 or 32 inputs and 2 outputs, so blocks do not fit its shapes; one scale per output
//! row tracks the very different row norms of small layers, and a zero point of 0 means
//! the integer dot needs no correction terms. The input standardiser stays in f32 and runs
//! first (folding it into layer 0 would make the int8 activations see raw features, whose
//! scales differ by orders of magnitude), so the quantized model takes raw features. Scales and
//! biases are stored as f16 (they are 1/in of the weights, and f16 keeps them 3 digits
//! precise), which is what takes the size ratio past 3.5x on narrow layers.

use half::f16;

use crate::artifact::{Artifact, ManifestFields, TensorSet};
use crate::data::{check_features, Standardizer};
use crate::dense::DenseLayer;
use crate::tabular::TabularModel;
use crate::{Error, Result};

/// One int8 linear layer.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantLayer {
    pub in_features: usize,
    pub out_features: usize,
    /// `[out, in]` row-major.
    pub weight: Vec<i8>,
    /// Per output channel: `w[o, i] ~ scale[o] * weight[o, i]`.
    pub scale: Vec<f32>,
    pub bias: Vec<f32>,
}

impl QuantLayer {
    /// Quantizes a float layer per output channel; f16 round-trips scale and bias so the
    /// in-memory model equals the saved one.
    pub fn quantize(l: &DenseLayer) -> Self {
        let mut weight = Vec::with_capacity(l.weight.len());
        let mut scale = Vec::with_capacity(l.out_features);
        // `max(1)` only matters for a zero-width layer, which has no weights to chunk.
        for row in l.weight.chunks_exact(l.in_features.max(1)) {
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = f16::from_f32(if max > 0.0 { max / 127.0 } else { 1.0 }).to_f32();
            let s = if s > 0.0 { s } else { f32::MIN_POSITIVE };
            weight.extend(
                row.iter()
                    .map(|v| (v / s).round().clamp(-127.0, 127.0) as i8),
            );
            scale.push(s);
        }
        Self {
            in_features: l.in_features,
            out_features: l.out_features,
            weight,
            scale,
            bias: l.bias.iter().map(|b| f16::from_f32(*b).to_f32()).collect(),
        }
    }

    /// `x` quantized with `x_scale`; writes `out_features` floats.
    fn forward(&self, xq: &[i8], x_scale: f32, out: &mut Vec<f32>) {
        // Sized once and written through `iter_mut` rather than pushed, so no length
        // bookkeeping sits between the independent output rows.
        out.clear();
        out.resize(self.out_features, 0.0);
        let rows = self.weight.chunks_exact(self.in_features.max(1));
        for (((o, row), s), b) in out.iter_mut().zip(rows).zip(&self.scale).zip(&self.bias) {
            *o = dot_i8(row, xq) as f32 * s * x_scale + b;
        }
    }
}

/// i8 dot product in 16 independent i32 lanes (i16 products of two i8 never overflow;
/// the lanes let LLVM use widening multiply-add instructions).
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..16 {
            acc[k] += i32::from(i16::from(x[k]) * i16::from(y[k]));
        }
    }
    acc.iter().sum::<i32>() + tail
}

/// Symmetric per-row quantization of activations into `q`; returns the scale.
fn quantize_row(x: &[f32], q: &mut Vec<i8>) -> f32 {
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let s = if max > 0.0 { max / 127.0 } else { 1.0 };
    let inv = 1.0 / s;
    q.clear();
    // Round half away from zero by adding +-0.5 and truncating: `f32::round` is a libm call
    // on baseline x86-64 (no SSE4.1), which cost more than the integer dot products here.
    // |v * inv| <= 127 by construction, so the cast cannot saturate.
    q.extend(x.iter().map(|v| {
        let y = v * inv;
        (y + 0.5f32.copysign(y)) as i8
    }));
    s
}

/// An int8 MLP taking raw features (standardiser folded in).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedMlp {
    pub n_features: usize,
    pub n_classes: usize,
    pub standardizer: Standardizer,
    pub layers: Vec<QuantLayer>,
    /// Id of the float model this was quantized from.
    pub parent_model_id: String,
}

impl QuantizedMlp {
    /// Quantizes every linear layer of `model`.
    pub fn from_model(model: &TabularModel) -> Result<Self> {
        use crate::artifact::Model;
        Ok(Self {
            n_features: model.config().n_features,
            n_classes: model.config().n_classes,
            standardizer: model.standardizer().clone(),
            layers: model.layers().iter().map(QuantLayer::quantize).collect(),
            parent_model_id: model.model_id()?,
        })
    }

    /// Class probabilities for raw features, computed in int8 arithmetic.
    pub fn predict_proba(&self, features: &[f32]) -> Result<Vec<f32>> {
        check_features(features, self.n_features)?;
        // The fields are public, so guard the one shape that would make softmax panic.
        if self.n_classes == 0 {
            return Err(Error::InvalidConfig {
                field: "QuantizedMlp::n_classes",
                reason: "must be at least 1".into(),
            });
        }
        let mut out = Vec::with_capacity(features.len() / self.n_features * self.n_classes);
        // One allocation per buffer for the whole call, sized for the widest layer.
        let width = self
            .layers
            .iter()
            .map(|l| l.in_features.max(l.out_features))
            .max()
            .unwrap_or(0)
            .max(self.n_features);
        let mut q = Vec::with_capacity(width);
        let (mut h, mut next) = (Vec::with_capacity(width), Vec::with_capacity(width));
        let st = &self.standardizer;
        for row in features.chunks_exact(self.n_features) {
            h.clear();
            h.extend(
                row.iter()
                    .zip(&st.mean)
                    .zip(&st.std)
                    .map(|((x, m), s)| (x - m) / s),
            );
            for (i, layer) in self.layers.iter().enumerate() {
                let s = quantize_row(&h, &mut q);
                layer.forward(&q, s, &mut next);
                if i + 1 < self.layers.len() {
                    crate::dense::relu_in_place(&mut next);
                }
                std::mem::swap(&mut h, &mut next);
            }
            out.extend_from_slice(&h);
        }
        crate::dense::softmax_rows(&mut out, self.n_classes);
        Ok(out)
    }

    /// Tensors: `layers.{i}.weight` I8 `[out, in]`, `layers.{i}.scale` and `layers.{i}.bias`
    /// F16 `[out]`; dequantize as `weight * scale[:, None]`.
    pub fn tensor_set(&self) -> TensorSet {
        let mut set = TensorSet::default();
        let nf = self.n_features;
        set.insert_f32("input.mean", vec![nf], self.standardizer.mean.clone());
        set.insert_f32("input.std", vec![nf], self.standardizer.std.clone());
        for (i, l) in self.layers.iter().enumerate() {
            let half = |v: &[f32]| v.iter().map(|x| f16::from_f32(*x)).collect();
            set.insert_i8(
                &format!("layers.{i}.weight"),
                vec![l.out_features, l.in_features],
                l.weight.clone(),
            );
            set.insert_f16(
                &format!("layers.{i}.scale"),
                vec![l.out_features],
                half(&l.scale),
            );
            set.insert_f16(
                &format!("layers.{i}.bias"),
                vec![l.out_features],
                half(&l.bias),
            );
        }
        set
    }

    /// Bytes of tensor data.
    pub fn size_bytes(&self) -> usize {
        self.tensor_set().data_bytes()
    }

    /// Artifact with family `tabular_int8`.
    pub fn to_artifact(&self) -> Result<Artifact> {
        let dims: Vec<(usize, usize)> = self
            .layers
            .iter()
            .map(|l| (l.in_features, l.out_features))
            .collect();
        Artifact::build(
            &self.tensor_set(),
            ManifestFields {
                family: "tabular_int8".into(),
                config: serde_json::json!({ "n_features": self.n_features, "n_classes": self.n_classes, "layers": dims }),
                parameter_count: self
                    .layers
                    .iter()
                    .map(|l| l.weight.len() + l.bias.len())
                    .sum(),
                dataset_hash: String::new(),
                seed: 0,
                parent_model_id: Some(self.parent_model_id.clone()),
                training_report: None,
            },
        )
    }

    /// Loads and verifies a `tabular_int8` artifact. The manifest is not covered by the
    /// weights' SHA-256, so its shapes are checked against each other before use.
    pub fn from_artifact(art: &Artifact) -> Result<Self> {
        let set = art.verify_family("tabular_int8")?;
        let cfg = &art.manifest.config;
        let field = |k: &str| {
            cfg[k]
                .as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| Error::ArtifactMismatch {
                    reason: format!("tabular_int8 manifest config lacks `{k}`"),
                })
        };
        let (nf, nc) = (field("n_features")?, field("n_classes")?);
        let dims: Vec<(usize, usize)> = serde_json::from_value(cfg["layers"].clone())?;
        check_layer_chain(nf, nc, &dims)?;
        let mut layers = Vec::new();
        for (i, (inp, out)) in dims.into_iter().enumerate() {
            let f = |v: Vec<f16>| v.into_iter().map(f16::to_f32).collect();
            layers.push(QuantLayer {
                in_features: inp,
                out_features: out,
                weight: set.i8(&format!("layers.{i}.weight"), &[out, inp])?,
                scale: f(set.f16(&format!("layers.{i}.scale"), &[out])?),
                bias: f(set.f16(&format!("layers.{i}.bias"), &[out])?),
            });
        }
        let standardizer = Standardizer {
            mean: set.f32("input.mean", &[nf])?,
            std: set.f32("input.std", &[nf])?,
        };
        standardizer.validate()?;
        Ok(Self {
            standardizer,
            n_features: nf,
            n_classes: nc,
            layers,
            parent_model_id: art.manifest.parent_model_id.clone().unwrap_or_default(),
        })
    }
}

/// Layer `(in, out)` pairs must start at `n_features`, chain, end at `n_classes >= 2`, and
/// have no zero width; anything else would index out of range at inference.
fn check_layer_chain(n_features: usize, n_classes: usize, dims: &[(usize, usize)]) -> Result<()> {
    let mut prev = n_features;
    let chained = dims.iter().all(|&(i, o)| {
        let ok = i == prev && i > 0 && o > 0;
        prev = o;
        ok
    });
    if n_features == 0 || n_classes < 2 || dims.is_empty() || !chained || prev != n_classes {
        return Err(Error::ArtifactMismatch {
            reason: format!(
                "tabular_int8 layers {dims:?} do not chain {n_features} features to {n_classes} classes"
            ),
        });
    }
    Ok(())
}

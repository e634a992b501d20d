//! Plain-Rust dense layers: the host-side form of every linear layer (PyTorch layout,
//! weight `[out, in]`), with a small-batch forward that avoids candle's per-op overhead.

use serde::{Deserialize, Serialize};

/// One linear layer, `y = x W^T + b`, weight row-major `[out_features, in_features]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseLayer {
    pub in_features: usize,
    pub out_features: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl DenseLayer {
    /// Number of parameters (weights + biases).
    pub fn parameter_count(&self) -> usize {
        self.weight.len() + self.bias.len()
    }

    /// `out[r, o] = bias[o] + x[r, :] . W[o, :]` for every row of `x`.
    pub fn forward_rows(&self, x: &[f32], out: &mut Vec<f32>) {
        out.clear();
        // A zero-width layer has no rows to read; `chunks_exact(0)` would panic.
        if self.in_features == 0 {
            return;
        }
        // Sized once and written through `iter_mut`: pushing kept the vector's length in
        // memory, a serial dependency between otherwise independent outputs.
        out.resize(x.len() / self.in_features * self.out_features, 0.0);
        let outputs = out.chunks_exact_mut(self.out_features.max(1));
        for (row, out_row) in x.chunks_exact(self.in_features).zip(outputs) {
            let weights = self.weight.chunks_exact(self.in_features);
            for ((o, w_row), b) in out_row.iter_mut().zip(weights).zip(&self.bias) {
                *o = b + dot(row, w_row);
            }
        }
    }
}

/// Dot product with eight independent accumulators so LLVM can vectorise it (a single
/// accumulator is a serial dependency chain it must not reorder).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// ReLU in place.
pub(crate) fn relu_in_place(v: &mut [f32]) {
    for x in v {
        *x = x.max(0.0);
    }
}

/// Row-wise softmax in place over rows of `n_classes` logits.
pub(crate) fn softmax_rows(v: &mut [f32], n_classes: usize) {
    for row in v.chunks_exact_mut(n_classes) {
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut s = 0.0;
        for x in row.iter_mut() {
            *x = (*x - m).exp();
            s += *x;
        }
        for x in row.iter_mut() {
            *x /= s;
        }
    }
}

/// Runs an MLP (ReLU between layers, none after the last) over flat rows; returns logits.
pub(crate) fn mlp_logits(layers: &[DenseLayer], x: &[f32]) -> Vec<f32> {
    let mut cur = x.to_vec();
    let mut next = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        layer.forward_rows(&cur, &mut next);
        if i + 1 < layers.len() {
            relu_in_place(&mut next);
        }
        std::mem::swap(&mut cur, &mut next);
    }
    cur
}

//! AdamW for the plain-Rust models (text classifier, recommender), applied lazily: a sparse
//! table updates only the rows a batch touched, so a step costs O(touched rows x dim)
//! rather than O(table). Untouched rows keep their moments unchanged until next touched,
//! as in PyTorch's `SparseAdam`; bias correction uses the global step count.

/// AdamW's first-moment decay (PyTorch default).
pub(crate) const BETA1: f32 = 0.9;
/// AdamW's second-moment decay (PyTorch default).
pub(crate) const BETA2: f32 = 0.999;
/// Added to the root of the second moment so a zero gradient history cannot divide by 0.
pub(crate) const EPS: f32 = 1e-8;

/// The per-step constants of one AdamW update.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamStep {
    pub(crate) lr: f32,
    pub(crate) weight_decay: f32,
    bc1: f32,
    bc2: f32,
}

impl AdamStep {
    /// Constants for step `t` (1-based).
    pub(crate) fn new(t: i32, lr: f32, weight_decay: f32) -> Self {
        Self {
            lr,
            weight_decay,
            bc1: 1.0 - BETA1.powi(t),
            bc2: 1.0 - BETA2.powi(t),
        }
    }

    /// The same step without weight decay (biases are not decayed).
    pub(crate) fn without_decay(self) -> Self {
        Self {
            weight_decay: 0.0,
            ..self
        }
    }

    /// One AdamW update of parameters `p` with gradient `g` and moments `m`, `v`
    /// (all the same length): decoupled weight decay, bias-corrected moments.
    pub(crate) fn apply(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        for (((p, g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = BETA1 * *m + (1.0 - BETA1) * g;
            *v = BETA2 * *v + (1.0 - BETA2) * g * g;
            let update = (*m / self.bc1) / ((*v / self.bc2).sqrt() + EPS);
            *p -= self.lr * (update + self.weight_decay * *p);
        }
    }
}

/// Adam moments for a row table of `rows x dim` parameters.
#[derive(Debug, Clone)]
pub(crate) struct Moments {
    pub(crate) m: Vec<f32>,
    pub(crate) v: Vec<f32>,
}

impl Moments {
    pub(crate) fn zeros(len: usize) -> Self {
        Self {
            m: vec![0.0; len],
            v: vec![0.0; len],
        }
    }

    /// Updates row `row` (width `dim`) of `params` with `grad` (one row).
    pub(crate) fn step_row(
        &mut self,
        step: &AdamStep,
        params: &mut [f32],
        row: usize,
        dim: usize,
        grad: &[f32],
    ) {
        let r = row * dim..(row + 1) * dim;
        step.apply(
            &mut params[r.clone()],
            grad,
            &mut self.m[r.clone()],
            &mut self.v[r],
        );
    }

    /// Updates every parameter (dense tensors such as a linear head).
    pub(crate) fn step_all(&mut self, step: &AdamStep, params: &mut [f32], grad: &[f32]) {
        step.apply(params, grad, &mut self.m, &mut self.v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first AdamW step moves each parameter by `lr` against its gradient's sign (the
    /// bias-corrected ratio m/sqrt(v) is +-1), plus the decoupled decay `lr * wd * p`.
    #[test]
    fn first_step_matches_closed_form() {
        let step = AdamStep::new(1, 0.1, 0.5);
        let mut p = [1.0f32, -2.0];
        let mut mom = Moments::zeros(2);
        mom.step_all(&step, &mut p, &[3.0, -0.5]);
        assert!(
            (p[0] - (1.0 - 0.1 * (1.0 + 0.5 * 1.0))).abs() < 1e-6,
            "{p:?}"
        );
        assert!(
            (p[1] - (-2.0 - 0.1 * (-1.0 + 0.5 * -2.0))).abs() < 1e-6,
            "{p:?}"
        );
    }
}

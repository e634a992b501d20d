//! Validation of [`TrainConfig`] and the per-class loss weights it asks for.

use super::{ClassWeighting, TrainConfig};
use crate::data::TabularDataset;
use crate::{Error, Result};

/// Rejects options that would make training meaningless or panic: zero sizes, non-finite
/// rates, fractions out of range, a plateau factor that does not reduce.
pub(crate) fn check_options(opts: &TrainConfig) -> Result<()> {
    let bad = |field: &'static str, reason: &str| {
        Err(Error::InvalidConfig {
            field,
            reason: reason.into(),
        })
    };
    if opts.batch_size == 0 {
        return bad("batch_size", "must be at least 1");
    }
    if opts.max_epochs == 0 {
        return bad("max_epochs", "must be at least 1");
    }
    if !(opts.learning_rate.is_finite() && opts.learning_rate > 0.0) {
        return bad("learning_rate", "must be finite and > 0");
    }
    if !(0.0..1.0).contains(&opts.valid_fraction) {
        return bad("valid_fraction", "must be in [0, 1)");
    }
    if !(opts.prox_mu.is_finite() && opts.prox_mu >= 0.0) {
        return bad("prox_mu", "must be finite and >= 0");
    }
    if !(opts.weight_decay.is_finite() && opts.weight_decay >= 0.0) {
        return bad("weight_decay", "must be finite and >= 0");
    }
    if let Some(r) = &opts.reduce_lr {
        let factor_ok = r.factor > 0.0 && r.factor < 1.0;
        let min_ok = r.min_learning_rate.is_finite() && r.min_learning_rate >= 0.0;
        if !(factor_ok && min_ok) {
            return bad(
                "reduce_lr",
                "factor must be in (0, 1), min_learning_rate >= 0",
            );
        }
    }
    if let Some(g) = &opts.batch_growth {
        if !(g.noise_cv.is_finite() && g.noise_cv >= 0.0) || g.max_batch_size == 0 {
            return bad(
                "batch_growth",
                "noise_cv must be finite and >= 0, max_batch_size >= 1",
            );
        }
    }
    Ok(())
}

/// Per-class loss weights for `opts.class_weighting`.
pub(crate) fn class_weights(opts: &TrainConfig, data: &TabularDataset) -> Result<Vec<f32>> {
    Ok(match &opts.class_weighting {
        ClassWeighting::None => vec![1.0; data.n_classes],
        ClassWeighting::Balanced => {
            let n = data.len() as f32;
            let k = data.n_classes as f32;
            data.class_counts()
                .iter()
                .map(|&c| if c == 0 { 0.0 } else { n / (k * c as f32) })
                .collect()
        }
        ClassWeighting::Manual(w) => {
            if w.len() != data.n_classes || w.iter().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(Error::InvalidConfig {
                    field: "class_weighting",
                    reason: format!("need {} finite weights >= 0, got {w:?}", data.n_classes),
                });
            }
            w.clone()
        }
    })
}

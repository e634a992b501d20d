//! One-vs-rest logistic regression fitted by Newton's method (IRLS) with a small ridge
//! penalty. Heavy-tailed columns (`log_scale`) are read as `ln(1 + x)`; every column is
//! standardised on the training data. Classes are weighted to equal total weight, so the
//! 0.5 threshold of a binary model is the balanced-error threshold. Prediction folds the
//! standardisation into the weights: one dot product per row and class, no allocation.

use std::sync::Arc;

use super::{learner_error, Classifier, Learner};
use crate::data::{Dataset, Inputs, TaskShape};
use crate::error::Result;

const NAME: &str = "logistic";

/// Fits [`LogisticModel`]s.
#[derive(Debug, Clone)]
pub struct LogisticLearner {
    /// Ridge penalty on standardised weights.
    pub l2: f64,
    /// Newton iterations.
    pub iterations: usize,
}

impl Default for LogisticLearner {
    fn default() -> Self {
        Self {
            l2: 1.0,
            iterations: 12,
        }
    }
}

/// A fitted one-vs-rest logistic model.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticModel {
    n_features: usize,
    log_scale: Vec<bool>,
    /// Per scored class: bias then one weight per raw (possibly log-transformed) column.
    weights: Vec<Vec<f64>>,
}

impl Learner for LogisticLearner {
    fn name(&self) -> &str {
        NAME
    }

    fn fit(&self, shape: &TaskShape, data: &Dataset, _seed: u64) -> Result<Arc<dyn Classifier>> {
        let Inputs::Tabular { n_features, values } = &data.inputs else {
            return Err(learner_error(NAME, "needs tabular inputs"));
        };
        let d = *n_features;
        let rows = data.labels.len();
        if rows == 0 || values.len() != rows * d {
            return Err(learner_error(
                NAME,
                format!("bad dataset: {rows} labels, {} values", values.len()),
            ));
        }
        let log_scale: Vec<bool> = (0..d)
            .map(|j| shape.features.get(j).is_some_and(|f| f.log_scale))
            .collect();
        let x = transform(values, d, &log_scale);
        let (mean, sd) = moments(&x, d);
        let z: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, v)| (v - mean[i % d]) / sd[i % d])
            .collect();
        let n_classes = data.n_classes.max(2);
        let scored: Vec<u32> = if n_classes == 2 {
            vec![1]
        } else {
            (0..n_classes as u32).collect()
        };
        let mut weights = Vec::with_capacity(scored.len());
        for class in scored {
            let y: Vec<f64> = data
                .labels
                .iter()
                .map(|l| f64::from(u8::from(*l == class)))
                .collect();
            let w = self.newton(&z, &y, d)?;
            weights.push(unstandardise(&w, &mean, &sd));
        }
        Ok(Arc::new(LogisticModel {
            n_features: d,
            log_scale,
            weights,
        }))
    }
}

impl LogisticLearner {
    /// IRLS on standardised inputs `z` (rows x d) with balanced class weights.
    fn newton(&self, z: &[f64], y: &[f64], d: usize) -> Result<Vec<f64>> {
        let rows = y.len();
        let positives = y.iter().sum::<f64>();
        let negatives = rows as f64 - positives;
        if positives == 0.0 || negatives == 0.0 {
            // One class only: a constant model.
            let mut w = vec![0.0; d + 1];
            w[0] = if positives > 0.0 { 10.0 } else { -10.0 };
            return Ok(w);
        }
        let (wp, wn) = (
            rows as f64 / (2.0 * positives),
            rows as f64 / (2.0 * negatives),
        );
        let p = d + 1;
        let mut w = vec![0.0; p];
        let mut xrow = vec![0.0; p];
        for _ in 0..self.iterations {
            let mut grad = vec![0.0; p];
            let mut hess = vec![0.0; p * p];
            for (r, yr) in y.iter().enumerate() {
                xrow[0] = 1.0;
                xrow[1..].copy_from_slice(&z[r * d..(r + 1) * d]);
                let eta: f64 = xrow.iter().zip(&w).map(|(a, b)| a * b).sum();
                let pr = 1.0 / (1.0 + (-eta).exp());
                let sw = if *yr > 0.5 { wp } else { wn };
                let g = sw * (yr - pr);
                let h = sw * pr * (1.0 - pr);
                for a in 0..p {
                    grad[a] += g * xrow[a];
                    for b in 0..=a {
                        hess[a * p + b] += h * xrow[a] * xrow[b];
                    }
                }
            }
            for a in 0..p {
                for b in 0..a {
                    hess[b * p + a] = hess[a * p + b];
                }
                if a > 0 {
                    grad[a] -= self.l2 * w[a];
                    hess[a * p + a] += self.l2;
                }
                hess[a * p + a] += 1e-9;
            }
            let step = solve(&mut hess, &mut grad, p)
                .ok_or_else(|| learner_error(NAME, "singular Hessian"))?;
            for (wi, s) in w.iter_mut().zip(&step) {
                *wi += s;
            }
        }
        Ok(w)
    }
}

fn transform(values: &[f32], d: usize, log_scale: &[bool]) -> Vec<f64> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| feature_value(f64::from(*v), log_scale[i % d]))
        .collect()
}

#[inline]
fn feature_value(v: f64, log: bool) -> f64 {
    if log {
        v.max(0.0).ln_1p()
    } else {
        v
    }
}

fn moments(x: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let rows = (x.len() / d).max(1) as f64;
    let mut mean = vec![0.0; d];
    for (i, v) in x.iter().enumerate() {
        mean[i % d] += v / rows;
    }
    let mut var = vec![0.0; d];
    for (i, v) in x.iter().enumerate() {
        var[i % d] += (v - mean[i % d]).powi(2) / rows;
    }
    let sd = var
        .iter()
        .map(|v| if *v > 1e-12 { v.sqrt() } else { 1.0 })
        .collect();
    (mean, sd)
}

/// Folds standardisation into the weights: w'_j = w_j / sd_j, b' = b - sum w_j mean_j / sd_j.
fn unstandardise(w: &[f64], mean: &[f64], sd: &[f64]) -> Vec<f64> {
    let mut out = w.to_vec();
    for j in 0..mean.len() {
        out[j + 1] = w[j + 1] / sd[j];
        out[0] -= w[j + 1] * mean[j] / sd[j];
    }
    out
}

/// Solves `a x = b` (a: n x n, row-major) by Gaussian elimination with partial pivoting.
fn solve(a: &mut [f64], b: &mut [f64], n: usize) -> Option<Vec<f64>> {
    for col in 0..n {
        let pivot =
            (col..n).max_by(|i, j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[pivot * n + col].abs() < 1e-15 {
            return None;
        }
        if pivot != col {
            for k in 0..n {
                a.swap(pivot * n + k, col * n + k);
            }
            b.swap(pivot, col);
        }
        for r in col + 1..n {
            let f = a[r * n + col] / a[col * n + col];
            for k in col..n {
                a[r * n + k] -= f * a[col * n + k];
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r * n + k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r * n + r];
    }
    Some(x)
}

impl LogisticModel {
    #[inline]
    fn score(&self, w: &[f64], row: &[f32]) -> f64 {
        let mut eta = w[0];
        for ((v, wj), log) in row.iter().zip(&w[1..]).zip(&self.log_scale) {
            eta += wj * feature_value(f64::from(*v), *log);
        }
        eta
    }
}

impl Classifier for LogisticModel {
    fn predict(&self, inputs: &Inputs, out: &mut Vec<u32>) -> Result<()> {
        let Inputs::Tabular { n_features, values } = inputs else {
            return Err(learner_error(NAME, "needs tabular inputs"));
        };
        if *n_features != self.n_features {
            return Err(learner_error(
                NAME,
                format!("expects {} features, got {n_features}", self.n_features),
            ));
        }
        out.clear();
        out.reserve(values.len() / self.n_features.max(1));
        for row in values.chunks_exact(self.n_features) {
            let class = if self.weights.len() == 1 {
                u32::from(self.score(&self.weights[0], row) > 0.0)
            } else {
                let mut best = (0u32, f64::NEG_INFINITY);
                for (c, w) in self.weights.iter().enumerate() {
                    let s = self.score(w, row);
                    if s > best.1 {
                        best = (c as u32, s);
                    }
                }
                best.0
            };
            out.push(class);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FeatureSpec;

    /// A linearly separable problem is learned almost perfectly.
    #[test]
    fn learns_a_separable_problem() {
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for i in 0..400 {
            let x = (i as f32) / 400.0 - 0.5;
            values.extend_from_slice(&[x, 0.3]);
            labels.push(u32::from(x > 0.1));
        }
        let shape = TaskShape {
            class_names: vec!["a".into(), "b".into()],
            features: vec![
                FeatureSpec {
                    name: "x".into(),
                    log_scale: false,
                },
                FeatureSpec {
                    name: "c".into(),
                    log_scale: false,
                },
            ],
            slice_names: vec![],
        };
        let data = Dataset {
            inputs: Inputs::Tabular {
                n_features: 2,
                values,
            },
            labels,
            n_classes: 2,
        };
        let model = LogisticLearner::default().fit(&shape, &data, 0).unwrap();
        let mut out = Vec::new();
        model.predict(&data.inputs, &mut out).unwrap();
        let right = out.iter().zip(&data.labels).filter(|(a, b)| a == b).count();
        assert!(right >= 390, "{right}");
    }
}

//! Per-day classification metrics for the three arms (static, served, oracle).
//!
//! `accuracy` is measured on the day's class-balanced *review sample* (up to
//! `review_per_class` readings of each class drawn uniformly from the day, the way an
//! operations team audits predictions) when the evaluation asks for it, otherwise on all
//! rows. `balanced_accuracy` and `f1` are always on all rows of the day. With a rare
//! positive class the three differ: accuracy on all rows would stay above 98% for a model
//! that never predicts an outage, which is why the ONT scenario uses the review sample.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::rng::SimRng;

/// An n x n confusion matrix, `counts[truth * n + predicted]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Number of classes.
    pub n_classes: usize,
    /// Row-major counts.
    pub counts: Vec<u64>,
}

impl Confusion {
    /// An all-zero matrix.
    pub fn new(n_classes: usize) -> Self {
        Self {
            n_classes,
            counts: vec![0; n_classes * n_classes],
        }
    }

    /// Records one prediction.
    #[inline]
    pub fn add(&mut self, truth: u32, predicted: u32) {
        let n = self.n_classes;
        let (t, p) = (truth as usize, predicted as usize);
        if t < n && p < n {
            self.counts[t * n + p] += 1;
        }
    }

    /// Adds another matrix of the same shape.
    pub fn merge(&mut self, other: &Confusion) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    /// Total rows.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn correct(&self) -> u64 {
        (0..self.n_classes)
            .map(|i| self.counts[i * self.n_classes + i])
            .sum()
    }

    fn truth_count(&self, c: usize) -> u64 {
        self.counts[c * self.n_classes..(c + 1) * self.n_classes]
            .iter()
            .sum()
    }

    fn predicted_count(&self, c: usize) -> u64 {
        (0..self.n_classes)
            .map(|t| self.counts[t * self.n_classes + c])
            .sum()
    }

    /// Fraction of rows predicted correctly.
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct(), self.total())
    }

    /// Mean recall over the classes that occur.
    pub fn balanced_accuracy(&self) -> f64 {
        let recalls: Vec<f64> = (0..self.n_classes)
            .filter(|c| self.truth_count(*c) > 0)
            .map(|c| ratio(self.counts[c * self.n_classes + c], self.truth_count(c)))
            .collect();
        mean(&recalls)
    }

    /// F1 of class `c`.
    pub fn f1_of(&self, c: usize) -> f64 {
        let tp = self.counts[c * self.n_classes + c];
        let denom = self.truth_count(c) + self.predicted_count(c);
        ratio(2 * tp, denom)
    }

    /// Binary: F1 of class 1 (the positive class). Multiclass: macro F1 over the classes
    /// that occur in truth or predictions.
    pub fn f1(&self) -> f64 {
        if self.n_classes == 2 {
            return self.f1_of(1);
        }
        let f1s: Vec<f64> = (0..self.n_classes)
            .filter(|c| self.truth_count(*c) + self.predicted_count(*c) > 0)
            .map(|c| self.f1_of(c))
            .collect();
        mean(&f1s)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Number of arms compared side by side.
pub const ARMS: usize = 3;
/// Arm names, in the order used by every per-arm array.
pub const ARM_NAMES: [&str; ARMS] = ["static", "served", "oracle"];

/// The day's class-balanced review sample: per class, a reservoir of rows, each holding
/// one "was this arm right" bit per arm.
#[derive(Debug, Clone)]
pub struct ReviewSample {
    per_class: usize,
    slots: Vec<(Vec<u8>, u64)>,
}

impl ReviewSample {
    /// Empty sample with `per_class` slots per class.
    pub fn new(n_classes: usize, per_class: usize) -> Self {
        Self {
            per_class,
            slots: vec![(Vec::new(), 0); n_classes],
        }
    }

    /// Offers one row: `correct_mask` bit `a` set when arm `a` was right.
    #[inline]
    pub fn offer(&mut self, rng: &mut SimRng, truth: u32, correct_mask: u8) {
        let Some((kept, seen)) = self.slots.get_mut(truth as usize) else {
            return;
        };
        *seen += 1;
        if kept.len() < self.per_class {
            kept.push(correct_mask);
        } else {
            let j = rng.gen_range(0..*seen) as usize;
            if j < self.per_class {
                kept[j] = correct_mask;
            }
        }
    }

    /// Accuracy of arm `arm` on the sample, and the sample size.
    pub fn accuracy(&self, arm: usize) -> (f64, u64) {
        let mut right = 0u64;
        let mut total = 0u64;
        for (kept, _) in &self.slots {
            total += kept.len() as u64;
            right += kept.iter().filter(|m| *m & (1 << arm) != 0).count() as u64;
        }
        (ratio(right, total), total)
    }
}

/// One arm's figures for one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmDay {
    /// Accuracy on the evaluation population (see module docs).
    pub accuracy: f64,
    /// Balanced accuracy on all rows.
    pub balanced_accuracy: f64,
    /// F1 (positive class, or macro) on all rows.
    pub f1: f64,
    /// Rows predicted.
    pub rows: u64,
    /// Full confusion matrix on all rows.
    pub confusion: Confusion,
}

impl ArmDay {
    /// Figures from a confusion matrix and the evaluation accuracy.
    pub fn from_confusion(confusion: Confusion, accuracy: f64) -> Self {
        Self {
            accuracy,
            balanced_accuracy: confusion.balanced_accuracy(),
            f1: confusion.f1(),
            rows: confusion.total(),
            confusion,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binary metrics match hand-computed values.
    #[test]
    fn binary_metrics_by_hand() {
        let mut c = Confusion::new(2);
        // 90 TN, 10 FP, 2 FN, 8 TP
        for _ in 0..90 {
            c.add(0, 0);
        }
        for _ in 0..10 {
            c.add(0, 1);
        }
        for _ in 0..2 {
            c.add(1, 0);
        }
        for _ in 0..8 {
            c.add(1, 1);
        }
        assert!((c.accuracy() - 98.0 / 110.0).abs() < 1e-12);
        assert!((c.balanced_accuracy() - 0.85).abs() < 1e-12);
        assert!((c.f1() - 16.0 / 28.0).abs() < 1e-12);
    }
}

//! Bounded per-feature summaries: a count, a sum and a fixed-width histogram over the
//! feature's valid range, plus the systematic row sample handed to the DriftJudge.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::policy::PerceiverPolicy;

/// Equal-width bins per feature summary; fixed so that the state stays bounded and the
/// median is accurate to a twentieth of the valid range.
pub const SUMMARY_BINS: usize = 20;
/// Values a feature must have been seen with before its median is trusted for imputation.
pub const MIN_COUNT_FOR_MEDIAN: u64 = 30;

/// The running summary of one feature over every clean row ingested.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    /// Values summarised.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Counts per equal-width bin over the feature's valid range.
    pub bins: Vec<u64>,
}

impl FeatureStats {
    /// The mean, when at least one value was seen.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// Adds one batch's sum and bin counts. Bin vectors longer than `SUMMARY_BINS` are
    /// cut, so a malformed event cannot grow the state.
    pub fn merge(&mut self, sum: f64, bins: &[u64]) {
        let bins = &bins[..bins.len().min(SUMMARY_BINS)];
        if self.bins.len() < bins.len() {
            self.bins.resize(bins.len(), 0);
        }
        for (acc, b) in self.bins.iter_mut().zip(bins) {
            *acc = acc.saturating_add(*b);
        }
        self.count = self.count.saturating_add(bins.iter().sum());
        if sum.is_finite() {
            self.sum += sum;
        }
    }

    /// The median interpolated within its bin over `[low, high]`, once enough values
    /// have been seen.
    pub fn median(&self, low: f64, high: f64) -> Option<f64> {
        if self.count < MIN_COUNT_FOR_MEDIAN || self.bins.is_empty() {
            return None;
        }
        let width = (high - low) / self.bins.len() as f64;
        let half = self.count as f64 / 2.0;
        let mut below = 0.0;
        for (i, &n) in self.bins.iter().enumerate() {
            let n = n as f64;
            if n > 0.0 && below + n >= half {
                let inside = (half - below) / n;
                return Some(low + width * (i as f64 + inside));
            }
            below += n;
        }
        None
    }
}

/// The bin of `x` among `n` equal-width bins over `[low, high]` (the top edge belongs to
/// the last bin).
pub fn bin_of(x: f64, low: f64, high: f64, n: usize) -> usize {
    let t = ((x - low) / (high - low) * n as f64).floor();
    if t <= 0.0 {
        0
    } else {
        (t as usize).min(n - 1)
    }
}

/// The per-batch part of `BatchIngested`: sums, bins and samples per feature.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchSummary {
    /// Sum of each feature's clean values.
    pub sums: BTreeMap<String, f64>,
    /// Bin counts of each feature's clean values.
    pub bins: BTreeMap<String, Vec<u64>>,
    /// The systematic sample of each feature's clean values (same rows for every feature).
    pub samples: BTreeMap<String, Vec<f64>>,
}

/// Rows kept by a systematic sample of `k` out of `n`: every `n/k`-th row, so the sample
/// spreads over the whole batch without any randomness.
pub fn systematic_rows(n: usize, k: usize) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    (0..k).map(|i| i * n / k).collect()
}

/// Summarises the clean rows of a batch (each row holds one value per policy feature).
pub fn summarise(policy: &PerceiverPolicy, rows: &[Vec<f64>]) -> BatchSummary {
    let mut out = BatchSummary::default();
    if rows.is_empty() {
        return out;
    }
    let sample = systematic_rows(rows.len(), policy.sample_rows_per_batch);
    for (j, f) in policy.features.iter().enumerate() {
        let mut bins = vec![0u64; SUMMARY_BINS];
        let mut sum = 0.0;
        for row in rows {
            sum += row[j];
            bins[bin_of(row[j], f.min, f.max, SUMMARY_BINS)] += 1;
        }
        out.sums.insert(f.name.clone(), sum);
        out.bins.insert(f.name.clone(), bins);
        if !sample.is_empty() {
            let values = sample.iter().map(|&i| rows[i][j]).collect();
            out.samples.insert(f.name.clone(), values);
        }
    }
    out
}

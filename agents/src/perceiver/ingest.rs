//! Ingesting a batch: cleaning (arity, duplicates, units, non-finite values, ranges and
//! missing values, each failing reading set aside under exactly one reason) and the
//! bounded per-feature summaries of what was kept: a count, a sum and a fixed-width
//! histogram over the feature's valid range, plus the systematic row sample handed to
//! the DriftJudge.
//!
//! Duplicates are found within a batch (one hour of one source): finding them across
//! batches would need every accepted key in the log, which the summaries avoid.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::policy::{MissingValues, PerceiverPolicy, UnitConversion};
use super::ReadingBatch;
use crate::error::{Error, Result};

/// The reading holds a different number of features than the policy declares.
pub const REASON_WRONG_ARITY: &str = "wrong_arity";
/// The device already reported in this batch (same device, same hour). Readings with an
/// empty device id are never duplicates: the source did not say which device sent them.
pub const REASON_DUPLICATE: &str = "duplicate";
/// A feature was absent and could not be imputed.
pub const REASON_MISSING: &str = "missing";
/// A feature was NaN or infinite.
pub const REASON_NON_FINITE: &str = "non_finite";
/// The batch declared a unit for a feature that no conversion rule covers.
pub const REASON_UNKNOWN_UNIT: &str = "unknown_unit";
/// The conversion formula is undefined at the value (e.g. log of a non-positive power).
pub const REASON_UNIT_CONVERSION: &str = "unit_conversion";
/// A value lay outside the feature's valid range after conversion.
pub const REASON_OUT_OF_RANGE: &str = "out_of_range";

/// A reading that passed cleaning.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanRow {
    /// Its position in the batch.
    pub index: usize,
    /// One canonical, in-range value per policy feature.
    pub values: Vec<f64>,
}

/// The outcome of cleaning one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cleaned {
    /// Readings kept, in batch order.
    pub rows: Vec<CleanRow>,
    /// Readings set aside, per reason (reasons with zero readings are absent).
    pub counts: BTreeMap<String, u64>,
    /// Values filled with a median.
    pub imputed: u64,
}

/// How each feature's values are brought to the canonical unit in this batch.
#[derive(Debug, Clone, Copy)]
enum Unit<'a> {
    Canonical,
    Convert(&'a UnitConversion),
    Unknown,
}

fn units<'a>(policy: &'a PerceiverPolicy, batch: &ReadingBatch) -> Result<Vec<Unit<'a>>> {
    let mut out = vec![Unit::Canonical; policy.features.len()];
    for (name, unit) in &batch.units {
        let Some(j) = policy.feature_index(name) else {
            return Err(Error::InvalidInput {
                component: "Perceiver",
                reason: format!(
                    "batch {} declares a unit for unknown feature `{name}`",
                    batch.batch_id
                ),
            });
        };
        if *unit == policy.features[j].unit {
            continue;
        }
        out[j] = policy
            .conversions
            .iter()
            .find(|c| c.feature == *name && c.from_unit == *unit)
            .map_or(Unit::Unknown, Unit::Convert);
    }
    Ok(out)
}

/// Cleans `batch`; `medians[j]` is the imputation value of feature `j`, if known.
pub fn clean(
    policy: &PerceiverPolicy,
    medians: &[Option<f64>],
    batch: &ReadingBatch,
) -> Result<Cleaned> {
    let units = units(policy, batch)?;
    let mut out = Cleaned::default();
    let mut devices = BTreeSet::new();
    for (index, reading) in batch.rows.iter().enumerate() {
        let verdict = if reading.features.len() != policy.features.len() {
            Err(REASON_WRONG_ARITY)
        } else if !reading.device_id.is_empty() && !devices.insert(reading.device_id.as_str()) {
            Err(REASON_DUPLICATE)
        } else {
            clean_values(policy, &units, medians, &reading.features)
        };
        match verdict {
            Ok((values, imputed)) => {
                out.imputed += imputed;
                out.rows.push(CleanRow { index, values });
            }
            Err(reason) => *out.counts.entry(reason.to_owned()).or_insert(0) += 1,
        }
    }
    Ok(out)
}

/// Converts and checks one reading's values; returns them with the number imputed, or
/// the first reason that fails.
fn clean_values(
    policy: &PerceiverPolicy,
    units: &[Unit<'_>],
    medians: &[Option<f64>],
    raw: &[Option<f64>],
) -> std::result::Result<(Vec<f64>, u64), &'static str> {
    let mut values = Vec::with_capacity(raw.len());
    let mut imputed = 0;
    for (j, value) in raw.iter().enumerate() {
        let Some(x) = *value else {
            match (policy.missing, medians.get(j).copied().flatten()) {
                (MissingValues::ImputeMedian, Some(m)) => {
                    imputed += 1;
                    values.push(m);
                    continue;
                }
                _ => return Err(REASON_MISSING),
            }
        };
        if !x.is_finite() {
            return Err(REASON_NON_FINITE);
        }
        let x = match units[j] {
            Unit::Canonical => x,
            Unit::Convert(rule) => rule.apply(x).ok_or(REASON_UNIT_CONVERSION)?,
            Unit::Unknown => return Err(REASON_UNKNOWN_UNIT),
        };
        let f = &policy.features[j];
        if x < f.min || x > f.max {
            return Err(REASON_OUT_OF_RANGE);
        }
        values.push(x);
    }
    Ok((values, imputed))
}

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
    /// The systematic sample of each monitored feature's clean values (same rows for
    /// every feature); the DriftJudge tests these for data drift.
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
pub fn summarise(policy: &PerceiverPolicy, rows: &[CleanRow]) -> BatchSummary {
    let mut out = BatchSummary::default();
    if rows.is_empty() {
        return out;
    }
    let sample = systematic_rows(rows.len(), policy.sample_rows_per_batch);
    for (j, f) in policy.features.iter().enumerate() {
        let mut bins = vec![0u64; SUMMARY_BINS];
        let mut sum = 0.0;
        for row in rows {
            sum += row.values[j];
            bins[bin_of(row.values[j], f.min, f.max, SUMMARY_BINS)] += 1;
        }
        out.sums.insert(f.name.clone(), sum);
        out.bins.insert(f.name.clone(), bins);
        if !sample.is_empty() && f.monitor {
            let values = sample.iter().map(|&i| rows[i].values[j]).collect();
            out.samples.insert(f.name.clone(), values);
        }
    }
    out
}

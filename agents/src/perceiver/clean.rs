//! Cleaning a batch: arity, duplicates, units, non-finite values, ranges and missing
//! values, each failing reading set aside under exactly one reason.

use std::collections::{BTreeMap, BTreeSet};

use super::policy::{MissingValues, PerceiverPolicy, UnitConversion};
use super::ReadingBatch;
use crate::error::{Error, Result};

/// The reading holds a different number of features than the policy declares.
pub const REASON_WRONG_ARITY: &str = "wrong_arity";
/// The device already reported in this batch (same device, same hour).
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
        } else if !devices.insert(reading.device_id.as_str()) {
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

//! Per-feature data drift against a reference sample, choosing the test as Evidently
//! 0.7.23 does (`legacy/calculations/stattests/registry.py::_get_default_stattest`):
//!
//! | column | reference size | distinct values (both samples) | test | drift when |
//! |---|---|---|---|---|
//! | numeric | <= 1000 | > 5 | two-sample KS | p <= 0.05 |
//! | numeric | <= 1000 | 3..=5 | chi-square | p < 0.05 |
//! | numeric | > 1000 | > 5 | Wasserstein / std(reference) | >= 0.1 |
//! | numeric | > 1000 | <= 5 | Jensen-Shannon | >= 0.1 |
//! | categorical | <= 1000 | > 2 | chi-square | p < 0.05 |
//! | categorical or numeric | <= 1000 | <= 2 | proportion z-test | p < 0.05 |
//! | categorical | > 1000 | any | Jensen-Shannon | >= 0.1 |
//!
//! PSI (Evidently's `psi`, drift when >= 0.1) is reported for every feature as well.
//! Deviations from Evidently: non-finite values are rejected instead of dropped; Evidently
//! treats NaN as missing, and ledgerloop's Perceiver quarantines missing values before any
//! drift test, so a NaN here is a bug worth an error. KS is always computed exactly (see
//! [`super::ks`]), where scipy switches to an asymptotic p-value above 10 000 points.

use serde::{Deserialize, Serialize};

use super::distances::{
    category_counts, category_shares, chisquare_pvalue, fill_empty_bins, jensenshannon,
    numeric_shares, population_std, proportions_z_pvalue, psi, wasserstein_distance, OrdF64,
};
use super::ks::ks_2samp;
use crate::error::{Error, Result};

/// Reference sizes above this switch from p-value tests to distances (Evidently's rule).
pub const LARGE_REFERENCE: usize = 1000;
/// Numeric columns with at most this many distinct values are treated as categories.
pub const FEW_NUMERIC_VALUES: usize = 5;
/// Columns with at most this many distinct values get the proportion z-test.
pub const BINARY_VALUES: usize = 2;
/// Evidently's default p-value threshold for KS, chi-square and z-test.
pub const PVALUE_THRESHOLD: f64 = 0.05;
/// Evidently's default distance threshold for Wasserstein, Jensen-Shannon and PSI.
pub const DISTANCE_THRESHOLD: f64 = 0.1;
/// Floor of the reference standard deviation that normalises the Wasserstein distance.
const MIN_WASSERSTEIN_NORM: f64 = 0.001;

/// A feature's values in one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Column<'a> {
    /// Real-valued feature.
    Numeric(&'a [f64]),
    /// Categorical feature, one label per row.
    Categorical(&'a [String]),
}

impl Column<'_> {
    /// "numeric" or "categorical", for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Numeric(_) => "numeric",
            Self::Categorical(_) => "categorical",
        }
    }
}

/// The test Evidently picks for a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftTest {
    /// Two-sample Kolmogorov-Smirnov p-value.
    Ks,
    /// Wasserstein distance divided by the reference standard deviation.
    Wasserstein,
    /// Chi-square goodness-of-fit p-value of current counts against reference shares.
    Chisquare,
    /// Jensen-Shannon distance between the binned shares.
    Jensenshannon,
    /// Two-sided proportion-difference z-test p-value.
    Z,
}

impl DriftTest {
    /// Whether the score is a p-value (drift when small) rather than a distance.
    pub fn is_pvalue(self) -> bool {
        matches!(self, Self::Ks | Self::Chisquare | Self::Z)
    }

    /// Evidently's default threshold for this test.
    pub fn default_threshold(self) -> f64 {
        if self.is_pvalue() {
            PVALUE_THRESHOLD
        } else {
            DISTANCE_THRESHOLD
        }
    }

    /// Applies Evidently's comparison: KS drifts at `p <= t`, chi-square and z at `p < t`,
    /// distances at `d >= t`.
    pub fn drifted(self, score: f64, threshold: f64) -> bool {
        match self {
            Self::Ks => score <= threshold,
            Self::Chisquare | Self::Z => score < threshold,
            Self::Wasserstein | Self::Jensenshannon => score >= threshold,
        }
    }
}

/// The verdict on one feature, with every number that led to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    /// The test that was chosen.
    pub test: DriftTest,
    /// Its p-value or distance.
    pub score: f64,
    /// The threshold the score was compared with.
    pub threshold: f64,
    /// Whether the test says the feature drifted.
    pub drifted: bool,
    /// Population stability index (always reported).
    pub psi: f64,
    /// Whether PSI is at or above its threshold of 0.1.
    pub psi_drifted: bool,
    /// Reference sample size.
    pub reference_size: usize,
    /// Current sample size.
    pub current_size: usize,
    /// Distinct values over both samples.
    pub n_unique: usize,
}

/// Evidently's choice of test for a column kind, reference size and distinct-value count.
pub fn choose_test(numeric: bool, reference_size: usize, n_unique: usize) -> DriftTest {
    let small = reference_size <= LARGE_REFERENCE;
    match (numeric, small) {
        (true, true) if n_unique > FEW_NUMERIC_VALUES => DriftTest::Ks,
        (true, false) if n_unique > FEW_NUMERIC_VALUES => DriftTest::Wasserstein,
        (_, false) => DriftTest::Jensenshannon,
        (_, true) if n_unique > BINARY_VALUES => DriftTest::Chisquare,
        (_, true) => DriftTest::Z,
    }
}

fn check_sample(what: &'static str, x: &[f64]) -> Result<Vec<OrdF64>> {
    if x.is_empty() {
        return Err(Error::EmptySample { what });
    }
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(x.iter().map(|&v| OrdF64::new(v)).collect()),
        Some(index) => Err(Error::NonFinite { what, index }),
    }
}

/// Runs the test Evidently would choose on one feature, with default thresholds.
///
/// Both columns must be of the same kind; a feature whose type changed between reference
/// and current data is a schema problem, reported as [`Error::MismatchedColumns`].
pub fn feature_drift(reference: Column<'_>, current: Column<'_>) -> Result<FeatureDrift> {
    match (reference, current) {
        (Column::Numeric(r), Column::Numeric(c)) => {
            let (rk, ck) = (check_sample("reference", r)?, check_sample("current", c)?);
            numeric_drift(r, c, &rk, &ck)
        }
        (Column::Categorical(r), Column::Categorical(c)) => categorical_drift(r, c),
        (r, c) => Err(Error::MismatchedColumns {
            reference: r.kind(),
            current: c.kind(),
        }),
    }
}

fn numeric_drift(r: &[f64], c: &[f64], rk: &[OrdF64], ck: &[OrdF64]) -> Result<FeatureDrift> {
    let (all_counts, _) = category_counts(rk, ck);
    let n_unique = all_counts.len();
    let test = choose_test(true, r.len(), n_unique);
    let (mut rp, mut cp) = numeric_shares(r, c);
    let score = match test {
        DriftTest::Ks => ks_2samp(r, c)?.pvalue,
        DriftTest::Wasserstein => {
            wasserstein_distance(r, c) / population_std(r).max(MIN_WASSERSTEIN_NORM)
        }
        DriftTest::Jensenshannon => jensenshannon(&rp, &cp),
        DriftTest::Chisquare => chisquare_score(rk, ck),
        DriftTest::Z => z_score(rk, ck),
    };
    fill_empty_bins(&mut rp);
    fill_empty_bins(&mut cp);
    Ok(verdict(
        test,
        score,
        psi(&rp, &cp),
        r.len(),
        c.len(),
        n_unique,
    ))
}

fn categorical_drift(r: &[String], c: &[String]) -> Result<FeatureDrift> {
    if r.is_empty() {
        return Err(Error::EmptySample { what: "reference" });
    }
    if c.is_empty() {
        return Err(Error::EmptySample { what: "current" });
    }
    let (rp, cp) = category_shares(r, c);
    let n_unique = rp.len();
    let test = choose_test(false, r.len(), n_unique);
    let score = match test {
        DriftTest::Chisquare => chisquare_score(r, c),
        DriftTest::Z => z_score(r, c),
        _ => jensenshannon(&rp, &cp),
    };
    let (mut rf, mut cf) = (rp, cp);
    fill_empty_bins(&mut rf);
    fill_empty_bins(&mut cf);
    Ok(verdict(
        test,
        score,
        psi(&rf, &cf),
        r.len(),
        c.len(),
        n_unique,
    ))
}

fn verdict(
    test: DriftTest,
    score: f64,
    psi_value: f64,
    reference_size: usize,
    current_size: usize,
    n_unique: usize,
) -> FeatureDrift {
    let threshold = test.default_threshold();
    FeatureDrift {
        test,
        score,
        threshold,
        drifted: test.drifted(score, threshold),
        psi: psi_value,
        psi_drifted: psi_value >= DISTANCE_THRESHOLD,
        reference_size,
        current_size,
        n_unique,
    }
}

/// Evidently's chi-square: current counts against reference counts scaled to the current
/// sample size.
fn chisquare_score<K: Ord + Clone>(r: &[K], c: &[K]) -> f64 {
    let (rc, cc) = category_counts(r, c);
    let k_norm = c.len() as f64 / r.len() as f64;
    let expected: Vec<f64> = rc.iter().map(|&v| v as f64 * k_norm).collect();
    let observed: Vec<f64> = cc.iter().map(|&v| v as f64).collect();
    chisquare_pvalue(&observed, &expected)
}

/// Evidently's z-test: p = 1 when both samples hold the same single value; otherwise the
/// first key (in sorted order) is coded 0 and every other value 1.
fn z_score<K: Ord + Clone>(r: &[K], c: &[K]) -> f64 {
    let (rc, cc) = category_counts(r, c);
    if rc.len() == 1 {
        return 1.0;
    }
    let (first_r, first_c) = (rc[0], cc[0]);
    let (nr, nc) = (r.len() as u64, c.len() as u64);
    proportions_z_pvalue(nr - first_r, nr, nc - first_c, nc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test table matches Evidently's defaults at each boundary.
    #[test]
    fn choose_test_follows_evidently() {
        assert_eq!(choose_test(true, 1000, 6), DriftTest::Ks);
        assert_eq!(choose_test(true, 1001, 6), DriftTest::Wasserstein);
        assert_eq!(choose_test(true, 1001, 5), DriftTest::Jensenshannon);
        assert_eq!(choose_test(true, 1000, 5), DriftTest::Chisquare);
        assert_eq!(choose_test(true, 10, 2), DriftTest::Z);
        assert_eq!(choose_test(false, 1000, 3), DriftTest::Chisquare);
        assert_eq!(choose_test(false, 1000, 2), DriftTest::Z);
        assert_eq!(choose_test(false, 1001, 2), DriftTest::Jensenshannon);
    }

    /// Empty and non-finite samples are errors, not panics.
    #[test]
    fn rejects_unusable_samples() {
        let ok = [1.0, 2.0];
        let e = feature_drift(Column::Numeric(&[]), Column::Numeric(&ok));
        assert_eq!(e, Err(Error::EmptySample { what: "reference" }));
        let e = feature_drift(Column::Numeric(&ok), Column::Numeric(&[1.0, f64::NAN]));
        assert_eq!(
            e,
            Err(Error::NonFinite {
                what: "current",
                index: 1
            })
        );
        let labels = ["a".to_owned()];
        let e = feature_drift(Column::Categorical(&labels), Column::Numeric(&ok));
        assert!(matches!(e, Err(Error::MismatchedColumns { .. })), "{e:?}");
        let e = feature_drift(Column::Categorical(&labels), Column::Categorical(&[]));
        assert_eq!(e, Err(Error::EmptySample { what: "current" }));
    }

    /// A clear shift of a numeric feature is flagged by KS and by PSI.
    #[test]
    fn numeric_shift_is_flagged() {
        let r: Vec<f64> = (0..300).map(|i| f64::from(i % 50)).collect();
        let c: Vec<f64> = r.iter().map(|x| x + 20.0).collect();
        let v = feature_drift(Column::Numeric(&r), Column::Numeric(&c)).expect("valid");
        assert_eq!(v.test, DriftTest::Ks);
        assert!(v.drifted && v.psi_drifted, "{v:?}");
    }
}

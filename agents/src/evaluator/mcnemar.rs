//! McNemar's test for two classifiers scored on the same examples.
//!
//! Only the discordant pairs carry information about which model is better: `b`, the
//! examples only the candidate got right, and `c`, those only the champion got right.
//! Under the null hypothesis (equal accuracy) each discordant pair is a fair coin, so
//! `min(b, c)` follows Binomial(b + c, 1/2). The exact test reports the two-sided
//! binomial p-value as `statsmodels.stats.contingency_tables.mcnemar(exact=True)` does;
//! the chi-square test uses Edwards' continuity correction as `mcnemar(exact=False)`
//! does, except that `|b - c| - 1` is clamped at zero so that `b == c` gives p = 1
//! rather than statsmodels' slightly smaller value.

use serde::{Deserialize, Serialize};

use crate::drift::special::{chi2_sf, ln_gamma};

/// Degrees of freedom of McNemar's chi-square statistic.
const CHI2_DF: f64 = 1.0;
/// Edwards' continuity correction subtracted from `|b - c|`.
const CONTINUITY_CORRECTION: f64 = 1.0;
/// Relative size below which further binomial terms cannot change the sum in f64.
const TAIL_EPSILON: f64 = 1e-18;

/// Which form of McNemar's test the Evaluator runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum McNemarTest {
    /// Exact two-sided binomial test; right for any number of discordant pairs.
    #[default]
    Exact,
    /// Chi-square approximation with continuity correction; cheaper to explain, only
    /// trustworthy when `b + c` is at least about 25.
    ChiSquare,
}

impl McNemarTest {
    /// The name recorded in a verdict's rule parameters.
    pub fn name(self) -> &'static str {
        match self {
            McNemarTest::Exact => "exact",
            McNemarTest::ChiSquare => "chi_square",
        }
    }
}

/// The outcome of McNemar's test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct McNemarResult {
    /// `min(b, c)` for the exact test, the corrected chi-square value otherwise.
    pub statistic: f64,
    /// Two-sided p-value in [0, 1].
    pub p_value: f64,
}

/// Runs McNemar's test on `b` (only the candidate correct) and `c` (only the champion
/// correct). With no discordant pairs the models are indistinguishable: p = 1.
pub fn mcnemar(b: u64, c: u64, test: McNemarTest) -> McNemarResult {
    match test {
        McNemarTest::Exact => exact(b, c),
        McNemarTest::ChiSquare => chi_square(b, c),
    }
}

fn exact(b: u64, c: u64) -> McNemarResult {
    let k = b.min(c);
    let n = b + c;
    let p_value = (2.0 * binomial_half_cdf(k, n)).min(1.0);
    McNemarResult {
        statistic: k as f64,
        p_value,
    }
}

fn chi_square(b: u64, c: u64) -> McNemarResult {
    let n = b + c;
    if n == 0 {
        return McNemarResult {
            statistic: 0.0,
            p_value: 1.0,
        };
    }
    let diff = (b.abs_diff(c) as f64 - CONTINUITY_CORRECTION).max(0.0);
    let statistic = diff * diff / n as f64;
    McNemarResult {
        statistic,
        p_value: chi2_sf(statistic, CHI2_DF).clamp(0.0, 1.0),
    }
}

/// `P(X <= k)` for `X ~ Binomial(n, 1/2)` with `k <= n / 2`.
///
/// The largest term, `pmf(k)`, is computed in log space so that it cannot underflow for
/// large `n`; the smaller terms are summed relative to it going down, using
/// `pmf(j - 1) / pmf(j) = j / (n - j + 1)`, and the loop stops once they vanish.
fn binomial_half_cdf(k: u64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let (kf, nf) = (k as f64, n as f64);
    let ln_pmf_k = ln_gamma(nf + 1.0)
        - ln_gamma(kf + 1.0)
        - ln_gamma(nf - kf + 1.0)
        - nf * std::f64::consts::LN_2;
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut j = k;
    while j > 0 {
        term *= j as f64 / (n - j + 1) as f64;
        sum += term;
        if term < sum * TAIL_EPSILON {
            break;
        }
        j -= 1;
    }
    (ln_pmf_k.exp() * sum).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small cases checked by hand: b = 0, c = 5 gives 2 * (1/32) = 0.0625.
    #[test]
    fn exact_small_cases_by_hand() {
        let r = mcnemar(0, 5, McNemarTest::Exact);
        assert!((r.p_value - 0.0625).abs() < 1e-15);
        assert_eq!(r.statistic, 0.0);
        let r = mcnemar(3, 3, McNemarTest::Exact);
        assert_eq!(r.p_value, 1.0);
        assert_eq!(mcnemar(0, 0, McNemarTest::ChiSquare).p_value, 1.0);
    }
}

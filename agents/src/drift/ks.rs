//! The two-sample Kolmogorov-Smirnov test, two-sided, as scipy 1.17's `ks_2samp`.
//!
//! The statistic is computed in exact integer arithmetic: `D * lcm(n1, n2)` is an integer
//! `h`, which is also what scipy rounds its floating-point `D` to before the exact p-value.
//! The p-value follows scipy's exact algorithms: for equal sizes the alternating sum of
//! `_compute_prob_outside_square`, otherwise the lattice-path recursion of
//! `_compute_outer_prob_inside_method` (Hodges 1958, Viehmann 2021).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Outcome of a two-sample KS test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KsResult {
    /// The largest distance between the two empirical CDFs.
    pub statistic: f64,
    /// The two-sided p-value.
    pub pvalue: f64,
    /// True when the p-value came from the exact lattice-path computation; false when it
    /// fell back to the asymptotic Kolmogorov distribution.
    pub exact: bool,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Largest ECDF distance in units of `1 / lcm(n1, n2)`. Both inputs must be sorted.
fn scaled_statistic(a: &[f64], b: &[f64], step_a: u64, step_b: u64) -> u64 {
    let (mut i, mut j) = (0usize, 0usize);
    let mut best = 0u64;
    while i < a.len() && j < b.len() {
        let v = if a[i] <= b[j] { a[i] } else { b[j] };
        while i < a.len() && a[i] == v {
            i += 1;
        }
        while j < b.len() && b[j] == v {
            j += 1;
        }
        let (ca, cb) = (i as u64 * step_a, j as u64 * step_b);
        best = best.max(ca.abs_diff(cb));
    }
    best
}

/// scipy's `_compute_prob_outside_square(n, h)`: P(D_{n,n} >= h/n) by a Horner-like sum.
fn prob_outside_square(n: i64, h: i64) -> f64 {
    let mut p = 0.0;
    let mut k = n / h;
    while k >= 0 {
        let mut p1 = 1.0;
        for j in 0..h {
            p1 = (n - k * h - j) as f64 * p1 / (n + k * h + j + 1) as f64;
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// scipy's `_compute_outer_prob_inside_method(m, n, g, h)`; `None` where scipy's array
/// indexing would leave the window it allocated.
fn outer_prob_inside(m: i64, n: i64, g: i64, h: i64) -> Option<f64> {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = (m / g, n / g);
    let div_floor = |num: i64| (num as f64 / mg as f64).floor() as i64;
    let div_ceil = |num: i64| (num as f64 / mg as f64).ceil() as i64;
    let mut minj = 0i64;
    let mut maxj = div_ceil(h).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1);
    let mut a = vec![1.0f64; usize::try_from(len_a).ok()?];
    for slot in a.iter_mut().take(usize::try_from(maxj).ok()?) {
        *slot = 0.0;
    }
    for i in 1..=m {
        let (last_minj, last_len) = (minj, curlen);
        minj = (div_floor(ng * i - h) + 1).max(0).min(n);
        maxj = div_ceil(ng * i + h).min(n + 1);
        if maxj <= minj {
            return Some(1.0);
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            let prev = *a.get(usize::try_from(jj + minj - last_minj).ok()?)?;
            val = (prev * i as f64 + val * j as f64) / (i + j) as f64;
            *a.get_mut(usize::try_from(jj).ok()?)? = val;
        }
        curlen = maxj - minj;
        if last_len > curlen {
            let start = usize::try_from(curlen).ok()?.min(a.len());
            let end = usize::try_from(last_len).ok()?.min(a.len());
            a[start..end].fill(1.0);
        }
    }
    a.get(usize::try_from(maxj - minj - 1).ok()?).copied()
}

/// Survival function of the limiting Kolmogorov distribution (scipy's `kstwobign.sf`).
fn kolmogorov_sf(lambda: f64) -> f64 {
    const TERMS: i32 = 100;
    if lambda <= 0.0 {
        return 1.0;
    }
    if lambda < 1.0 {
        // The theta-function form converges fast for small arguments.
        let pi2 = std::f64::consts::PI * std::f64::consts::PI;
        let s: f64 = (1..=TERMS)
            .map(|k| (-(f64::from(2 * k - 1)).powi(2) * pi2 / (8.0 * lambda * lambda)).exp())
            .sum();
        return 1.0 - (2.0 * std::f64::consts::PI).sqrt() / lambda * s;
    }
    let s: f64 = (1..=TERMS)
        .map(|k| {
            let sign = if k % 2 == 1 { 1.0 } else { -1.0 };
            sign * (-2.0 * f64::from(k * k) * lambda * lambda).exp()
        })
        .sum();
    (2.0 * s).clamp(0.0, 1.0)
}

/// Two-sided two-sample KS test; either sample being empty is an error.
///
/// scipy's `method="auto"` is exact up to 10 000 points per sample and asymptotic beyond;
/// this port is exact at every size it can evaluate (the exact recursion is cheap here),
/// and falls back to the limiting Kolmogorov distribution only where the exact value is
/// not a probability.
pub fn ks_2samp(a: &[f64], b: &[f64]) -> Result<KsResult> {
    if a.is_empty() {
        return Err(Error::EmptySample { what: "first" });
    }
    if b.is_empty() {
        return Err(Error::EmptySample { what: "second" });
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n1, n2) = (a.len() as u64, b.len() as u64);
    let g = gcd(n1, n2);
    let lcm = (n1 / g) * n2;
    let h = scaled_statistic(&a, &b, lcm / n1, lcm / n2);
    let statistic = h as f64 / lcm as f64;
    if h == 0 {
        return Ok(KsResult {
            statistic,
            pvalue: 1.0,
            exact: true,
        });
    }
    let (n1i, n2i, gi, hi) = (n1 as i64, n2 as i64, g as i64, h as i64);
    let exact = if n1 == n2 {
        Some(prob_outside_square(n1i, hi))
    } else {
        outer_prob_inside(n1i, n2i, gi, hi)
    };
    Ok(match exact {
        Some(p) if (0.0..=1.0).contains(&p) => KsResult {
            statistic,
            pvalue: p,
            exact: true,
        },
        _ => {
            let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
            let en = m * n / (m + n);
            let pvalue = kolmogorov_sf(statistic * en.sqrt()).clamp(0.0, 1.0);
            KsResult {
                statistic,
                pvalue,
                exact: false,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Identical samples give D = 0 and p = 1.
    #[test]
    fn identical_samples() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let r = ks_2samp(&x, &x).expect("non-empty");
        assert_eq!((r.statistic, r.pvalue), (0.0, 1.0));
    }

    /// Small cases agree with scipy.stats.ks_2samp (values from scipy 1.17.1).
    #[test]
    fn small_cases_match_scipy() {
        let r = ks_2samp(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).expect("non-empty");
        assert_eq!(r.statistic, 1.0);
        assert!((r.pvalue - 0.1).abs() < 1e-16, "{}", r.pvalue);
        let r = ks_2samp(&[0.1, 0.5, 0.9, 1.3, 2.0], &[0.4, 0.6, 3.0]).expect("non-empty");
        assert!((r.statistic - 1.0 / 3.0).abs() < 1e-15);
        assert!(
            (r.pvalue - SCIPY_5_3).abs() < 1e-12 * SCIPY_5_3,
            "{}",
            r.pvalue
        );
    }

    /// An empty sample is an error rather than a division by zero.
    #[test]
    fn empty_sample_is_an_error() {
        assert_eq!(
            ks_2samp(&[], &[1.0]),
            Err(Error::EmptySample { what: "first" })
        );
        assert_eq!(
            ks_2samp(&[1.0], &[]),
            Err(Error::EmptySample { what: "second" })
        );
    }

    /// The asymptotic fallback is a decreasing probability.
    #[test]
    fn kolmogorov_sf_is_a_decreasing_probability() {
        let v: Vec<f64> = [0.2, 0.5, 0.99, 1.0, 1.5, 3.0]
            .iter()
            .map(|&l| kolmogorov_sf(l))
            .collect();
        assert!(v.windows(2).all(|w| w[0] >= w[1]), "{v:?}");
        assert!((kolmogorov_sf(1.0) - 0.269_999_671_677_355_5).abs() < 1e-12);
        assert!((kolmogorov_sf(0.99) - kolmogorov_sf(0.990_000_001)).abs() < 1e-6);
    }

    const SCIPY_5_3: f64 = 0.964_285_714_285_714_3;
}

//! Special functions for the data-drift tests, in plain Rust.
//!
//! The chi-square survival function is the regularised upper incomplete gamma function
//! `Q(k/2, x/2)`, and the error function is `erf(x) = P(1/2, x^2)`, so one careful
//! implementation of `P`/`Q` (series below `a + 1`, Lentz continued fraction above, as in
//! Numerical Recipes) serves the chi-square test and the normal CDF alike. Both keep a
//! relative accuracy near 1e-14, far inside the 1e-9 the fixtures demand.

/// Lanczos parameter g used with [`LANCZOS_COEFFS`] (Godfrey's g = 7, n = 9 table).
const LANCZOS_G: f64 = 7.0;
/// Godfrey's Lanczos coefficients; they give ln Γ to about 1e-15 relative.
const LANCZOS_COEFFS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];
/// Iteration cap for the series and the continued fraction; both converge in far fewer
/// steps for every argument the tests produce, the cap only guards against NaN loops.
const MAX_ITERATIONS: usize = 10_000;
/// Relative size of the last term at which a series or continued fraction stops.
const EPSILON: f64 = 1e-16;
/// Smallest magnitude the Lentz algorithm lets a denominator take.
const TINY: f64 = 1e-300;
/// 1/sqrt(2), the factor between a standard normal quantile and erf's argument.
const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// Natural logarithm of the gamma function for `x > 0`.
pub fn ln_gamma(x: f64) -> f64 {
    if x < 0.5 {
        // Reflection keeps the Lanczos sum in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = LANCZOS_COEFFS[0];
    for (i, c) in LANCZOS_COEFFS.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + LANCZOS_G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// `exp(-x + a ln x - ln Γ(a))`, the common prefactor of both expansions.
fn gamma_prefactor(a: f64, x: f64) -> f64 {
    (-x + a * x.ln() - ln_gamma(a)).exp()
}

/// Lower regularised gamma `P(a, x)` by its power series; accurate for `x < a + 1`.
fn lower_series(a: f64, x: f64) -> f64 {
    let mut ap = a;
    let mut term = 1.0 / a;
    let mut sum = term;
    for _ in 0..MAX_ITERATIONS {
        ap += 1.0;
        term *= x / ap;
        sum += term;
        if term.abs() < sum.abs() * EPSILON {
            break;
        }
    }
    sum * gamma_prefactor(a, x)
}

/// Upper regularised gamma `Q(a, x)` by its continued fraction; accurate for `x >= a + 1`.
fn upper_continued_fraction(a: f64, x: f64) -> f64 {
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..MAX_ITERATIONS {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPSILON {
            break;
        }
    }
    h * gamma_prefactor(a, x)
}

/// Regularised lower incomplete gamma `P(a, x)`, for `a > 0`, `x >= 0`.
pub fn gamma_p(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        0.0
    } else if x < a + 1.0 {
        lower_series(a, x)
    } else {
        1.0 - upper_continued_fraction(a, x)
    }
}

/// Regularised upper incomplete gamma `Q(a, x) = 1 - P(a, x)`, for `a > 0`, `x >= 0`.
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        1.0
    } else if x < a + 1.0 {
        1.0 - lower_series(a, x)
    } else {
        upper_continued_fraction(a, x)
    }
}

/// Survival function of the chi-square distribution with `df` degrees of freedom.
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    if x.is_infinite() && x > 0.0 {
        return 0.0;
    }
    gamma_q(df / 2.0, x / 2.0)
}

/// The error function.
pub fn erf(x: f64) -> f64 {
    let p = gamma_p(0.5, x * x);
    if x < 0.0 {
        -p
    } else {
        p
    }
}

/// The complementary error function, accurate in relative terms far into the tail.
pub fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        2.0 - gamma_q(0.5, x * x)
    } else {
        gamma_q(0.5, x * x)
    }
}

/// Standard normal CDF, arranged as Cephes' `ndtr` (which scipy uses) so that rounding
/// in `1 - ndtr(z)` matches scipy's.
pub fn normal_cdf(z: f64) -> f64 {
    let x = z * FRAC_1_SQRT_2;
    if x.abs() < FRAC_1_SQRT_2 {
        return 0.5 + 0.5 * erf(x);
    }
    let y = 0.5 * erfc(x.abs());
    if x > 0.0 {
        1.0 - y
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    /// ln Γ matches exact factorials and Γ(1/2) = sqrt(pi).
    #[test]
    fn ln_gamma_known_values() {
        assert!(close(ln_gamma(10.0), 362_880f64.ln(), 1e-14));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-13
        ));
        assert!(close(ln_gamma(171.0), 706.573_062_245_787_5, 1e-14));
    }

    /// Chi-square survival values agree with scipy.stats.chi2.sf to 1e-12.
    #[test]
    fn chi2_sf_matches_scipy() {
        // Values from scipy 1.17.1: chi2.sf(3.0, 4), chi2.sf(50.0, 3), chi2.sf(0.5, 1).
        assert!(close(chi2_sf(3.0, 4.0), 0.557_825_400_371_074_8, 1e-12));
        assert!(close(chi2_sf(50.0, 3.0), 7.989_179_244_951_495e-11, 1e-12));
        assert!(close(chi2_sf(0.5, 1.0), 0.479_500_122_186_953_37, 1e-12));
    }

    /// The normal CDF matches scipy.stats.norm.cdf, including far in the lower tail.
    #[test]
    fn normal_cdf_matches_scipy() {
        assert!(close(normal_cdf(1.96), 0.975_002_104_851_779_5, 1e-14));
        assert!(close(normal_cdf(-8.0), 6.220_960_574_271_74e-16, 1e-12));
        assert!(close(normal_cdf(0.3), 0.617_911_422_188_952_6, 1e-14));
    }
}

//! The distances and tests behind Evidently's default data-drift tests, with Evidently's
//! binning, each written to follow the scipy/numpy function it replaces.
//!
//! * [`wasserstein_distance`]: scipy's `stats.wasserstein_distance` (first Wasserstein
//!   distance between two empirical distributions).
//! * [`jensenshannon`]: scipy's `spatial.distance.jensenshannon` with natural logarithms.
//! * [`psi`]: Evidently's population stability index.
//! * [`chisquare_pvalue`]: scipy's `stats.chisquare(f_obs, f_exp)` p-value.
//! * [`proportions_z_pvalue`]: Evidently's two-sided proportion-difference z-test.
//! * [`sturges_histograms`] and [`category_shares`]: Evidently's `get_binned_data`.

use std::collections::BTreeMap;

use super::special::{chi2_sf, normal_cdf};

/// Numeric references with more distinct values than this are binned by Sturges' rule.
pub const HISTOGRAM_MIN_UNIQUE: usize = 20;
/// Evidently replaces empty bins by this share before PSI (unless a smaller share exists).
const EMPTY_BIN_SHARE: f64 = 0.0001;
/// When the smallest non-empty share is below [`EMPTY_BIN_SHARE`], empty bins get that
/// share divided by this factor instead.
const EMPTY_BIN_DIVISOR: f64 = 1e6;

/// Population standard deviation (numpy's `np.std` with `ddof=0`).
pub fn population_std(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    (x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
}

fn sorted(x: &[f64]) -> Vec<f64> {
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// Number of elements of the sorted slice that are `<= v` (numpy `searchsorted(right)`).
fn count_le(sorted: &[f64], v: f64) -> usize {
    sorted.partition_point(|&x| x <= v)
}

/// Number of elements of the sorted slice that are `< v` (numpy `searchsorted(left)`).
fn count_lt(sorted: &[f64], v: f64) -> usize {
    sorted.partition_point(|&x| x < v)
}

/// First Wasserstein distance between the empirical distributions of `u` and `v`: the
/// area between their CDFs, integrated over the merged sample points.
pub fn wasserstein_distance(u: &[f64], v: &[f64]) -> f64 {
    let (su, sv) = (sorted(u), sorted(v));
    let mut all: Vec<f64> = su.iter().chain(sv.iter()).copied().collect();
    all.sort_by(f64::total_cmp);
    let (nu, nv) = (su.len() as f64, sv.len() as f64);
    all.windows(2)
        .map(|w| {
            let cu = count_le(&su, w[0]) as f64 / nu;
            let cv = count_le(&sv, w[0]) as f64 / nv;
            (cu - cv).abs() * (w[1] - w[0])
        })
        .sum()
}

/// Bin edges as `np.histogram_bin_edges(combined, bins="sturges")` computes them.
fn sturges_edges(combined: &[f64]) -> Vec<f64> {
    let min = combined.iter().copied().fold(f64::INFINITY, f64::min);
    let max = combined.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (first, last) = if min == max {
        (min - 0.5, max + 0.5)
    } else {
        (min, max)
    };
    let width = (max - min) / ((combined.len() as f64).log2() + 1.0);
    let bins = if width != 0.0 {
        ((last - first) / width).ceil() as usize
    } else {
        1
    };
    // numpy's linspace: `i * step + start`, with the last edge set to `stop` exactly.
    let step = (last - first) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step + first).collect();
    edges[bins] = last;
    edges
}

/// Shares of `x` in each bin; bins are half-open except the last, as in `np.histogram`.
fn histogram_shares(x: &[f64], edges: &[f64]) -> Vec<f64> {
    let s = sorted(x);
    let n = x.len() as f64;
    let last = edges.len() - 1;
    (0..last)
        .map(|i| {
            let upper = if i + 1 == last {
                count_le(&s, edges[last])
            } else {
                count_lt(&s, edges[i + 1])
            };
            (upper - count_lt(&s, edges[i])) as f64 / n
        })
        .collect()
}

/// Evidently's numeric binning: Sturges bins over reference and current together, as
/// shares of each sample.
pub fn sturges_histograms(reference: &[f64], current: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let combined: Vec<f64> = reference.iter().chain(current).copied().collect();
    let edges = sturges_edges(&combined);
    (
        histogram_shares(reference, &edges),
        histogram_shares(current, &edges),
    )
}

/// A finite f64 with a total order, so numeric values can serve as category keys.
///
/// Build it with [`OrdF64::new`], which maps -0.0 to 0.0 as pandas does when counting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrdF64(f64);

impl OrdF64 {
    /// Wraps a value; adding 0.0 turns -0.0 into 0.0.
    pub fn new(v: f64) -> Self {
        Self(v + 0.0)
    }
}

impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Number of distinct values in a numeric sample, as pandas' `nunique` counts them.
pub fn distinct_count(x: &[f64]) -> usize {
    x.iter()
        .map(|&v| OrdF64::new(v))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// Evidently's numeric binning decision: Sturges histograms when the reference holds more
/// than [`HISTOGRAM_MIN_UNIQUE`] distinct values, one bin per value otherwise.
pub fn numeric_shares(reference: &[f64], current: &[f64]) -> (Vec<f64>, Vec<f64>) {
    if distinct_count(reference) > HISTOGRAM_MIN_UNIQUE {
        sturges_histograms(reference, current)
    } else {
        let key = |x: &[f64]| x.iter().map(|&v| OrdF64::new(v)).collect::<Vec<_>>();
        category_shares(&key(reference), &key(current))
    }
}

/// Counts of each key over the union of keys in both samples, in key order.
pub fn category_counts<K: Ord + Clone>(reference: &[K], current: &[K]) -> (Vec<u64>, Vec<u64>) {
    let mut table: BTreeMap<K, (u64, u64)> = BTreeMap::new();
    for k in reference {
        table.entry(k.clone()).or_default().0 += 1;
    }
    for k in current {
        table.entry(k.clone()).or_default().1 += 1;
    }
    table.into_values().unzip()
}

/// Evidently's categorical binning: the share of each category in each sample.
pub fn category_shares<K: Ord + Clone>(reference: &[K], current: &[K]) -> (Vec<f64>, Vec<f64>) {
    let (r, c) = category_counts(reference, current);
    let (nr, nc) = (reference.len() as f64, current.len() as f64);
    (
        r.iter().map(|&v| v as f64 / nr).collect(),
        c.iter().map(|&v| v as f64 / nc).collect(),
    )
}

/// Evidently's `feel_zeroes`: empty bins get a small share so PSI's logarithm is finite.
pub fn fill_empty_bins(shares: &mut [f64]) {
    let smallest = shares
        .iter()
        .copied()
        .filter(|&v| v != 0.0)
        .fold(f64::INFINITY, f64::min);
    let fill = if smallest <= EMPTY_BIN_SHARE {
        smallest / EMPTY_BIN_DIVISOR
    } else {
        EMPTY_BIN_SHARE
    };
    shares
        .iter_mut()
        .filter(|v| **v == 0.0)
        .for_each(|v| *v = fill);
}

/// Population stability index of two share vectors with no zero entries.
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(r, c)| (r - c) * (r / c).ln())
        .sum()
}

/// scipy's `rel_entr(x, y)`: `x ln(x/y)`, 0 at `x = 0`, infinite where `y = 0 < x`.
fn rel_entr(x: f64, y: f64) -> f64 {
    if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// Jensen-Shannon distance (natural log) between two weight vectors, normalised first.
pub fn jensenshannon(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    let (left, right) = p.iter().zip(q).fold((0.0, 0.0), |(l, r), (&a, &b)| {
        let (a, b) = (a / sp, b / sq);
        let m = (a + b) / 2.0;
        (l + rel_entr(a, m), r + rel_entr(b, m))
    });
    ((left + right) / 2.0).sqrt()
}

/// p-value of Pearson's chi-square goodness-of-fit test with `k - 1` degrees of freedom.
///
/// An expected count of zero with a positive observed count makes the statistic infinite
/// and the p-value 0, as in scipy.
pub fn chisquare_pvalue(observed: &[f64], expected: &[f64]) -> f64 {
    let stat: f64 = observed
        .iter()
        .zip(expected)
        .map(|(o, e)| (o - e) * (o - e) / e)
        .sum();
    chi2_sf(stat, (observed.len() as f64) - 1.0)
}

/// Evidently's two-sided proportion-difference z-test on counts of "not the first key".
///
/// `ones_ref` of `n_ref` reference values and `ones_cur` of `n_cur` current values are the
/// second category; the p-value is `2 (1 - Φ(|z|))`, computed in that order as Evidently does.
pub fn proportions_z_pvalue(ones_ref: u64, n_ref: u64, ones_cur: u64, n_cur: u64) -> f64 {
    let (n1, n2) = (n_ref as f64, n_cur as f64);
    let p1 = ones_ref as f64 / n1;
    let p2 = ones_cur as f64 / n2;
    let pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
    let z = (p1 - p2) / (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    2.0 * (1.0 - normal_cdf(z.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shifting a sample by a constant moves it exactly that far in Wasserstein distance.
    #[test]
    fn wasserstein_of_a_shift_is_the_shift() {
        let u = [0.0, 1.0, 2.0, 3.0];
        let v: Vec<f64> = u.iter().map(|x| x + 0.5).collect();
        assert!((wasserstein_distance(&u, &v) - 0.5).abs() < 1e-15);
    }

    /// Identical distributions have zero JS distance and zero PSI; disjoint ones sqrt(ln 2).
    #[test]
    fn js_and_psi_extremes() {
        assert_eq!(jensenshannon(&[0.5, 0.5], &[0.5, 0.5]), 0.0);
        assert_eq!(psi(&[0.2, 0.8], &[0.2, 0.8]), 0.0);
        let d = jensenshannon(&[1.0, 0.0], &[0.0, 1.0]);
        assert!((d - std::f64::consts::LN_2.sqrt()).abs() < 1e-15);
    }

    /// Empty bins are filled with 1e-4, or with the smallest share / 1e6 if that is smaller.
    #[test]
    fn empty_bins_filled_like_evidently() {
        let mut a = [0.5, 0.0, 0.5];
        fill_empty_bins(&mut a);
        assert_eq!(a[1], 1e-4);
        let mut b = [0.99995, 0.0, 0.00005];
        fill_empty_bins(&mut b);
        assert_eq!(b[1], 0.00005 / 1e6);
    }

    /// Histogram shares cover every point: the last bin is closed on the right.
    #[test]
    fn histogram_counts_every_point() {
        let r: Vec<f64> = (0..100).map(f64::from).collect();
        let (a, b) = sturges_histograms(&r, &[99.0, 0.0]);
        assert!((a.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(b.iter().sum::<f64>(), 1.0);
    }
}

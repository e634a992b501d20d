//! Scoring predictions for label selection and pseudo-labelling.
//!
//! Scores grow with uncertainty for every strategy, so selection always takes the
//! highest scores; ties are broken by item id so the choice never depends on row order.

use super::policy::SelectionStrategy;

/// How far the probabilities of a row may sum away from one and still be trusted.
pub const PROBABILITY_SUM_TOLERANCE: f64 = 1e-3;
/// Most classes a prediction may have; longer vectors are treated as invalid.
pub const MAX_CLASSES: usize = 4096;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// 2^-53: turns the top 53 bits of a hash into a uniform number in [0, 1).
const UNIT_SCALE: f64 = 1.0 / (1u64 << 53) as f64;

/// SplitMix64's finaliser: a well-mixed 64-bit hash of a 64-bit input. Counter-based
/// randomness (hash of seed and key) needs no generator state in the decider's state.
pub fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) determined by `seed` and `key` alone.
pub fn stable_uniform(seed: u64, key: &str) -> f64 {
    let h = key.bytes().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    });
    (mix64(h ^ mix64(seed)) >> 11) as f64 * UNIT_SCALE
}

/// Whether a probability vector is usable: at least two finite, non-negative entries
/// summing to one.
pub fn valid_probabilities(p: &[f64]) -> bool {
    p.len() >= 2
        && p.len() <= MAX_CLASSES
        && p.iter().all(|v| v.is_finite() && *v >= 0.0)
        && (p.iter().sum::<f64>() - 1.0).abs() <= PROBABILITY_SUM_TOLERANCE
}

/// The largest and second-largest probabilities.
pub fn top_two(p: &[f64]) -> (f64, f64) {
    let mut first = f64::NEG_INFINITY;
    let mut second = f64::NEG_INFINITY;
    for &v in p {
        if v > first {
            second = first;
            first = v;
        } else if v > second {
            second = v;
        }
    }
    (first, second)
}

/// The uncertainty score of one valid prediction under `strategy`.
pub fn score(strategy: SelectionStrategy, seed: u64, item_id: &str, p: &[f64]) -> f64 {
    match strategy {
        SelectionStrategy::LeastConfidence => 1.0 - top_two(p).0,
        SelectionStrategy::Margin => {
            let (a, b) = top_two(p);
            1.0 - (a - b)
        }
        SelectionStrategy::Entropy => -p
            .iter()
            .filter(|&&v| v > 0.0)
            .map(|&v| v * v.ln())
            .sum::<f64>(),
        SelectionStrategy::Random => stable_uniform(seed, item_id),
    }
}

/// The `k` highest-scoring candidates, ties broken by ascending item id.
pub fn choose(mut candidates: Vec<(String, f64)>, k: usize) -> Vec<(String, f64)> {
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    candidates.truncate(k);
    candidates
}

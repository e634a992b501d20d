//! Seeded randomness. One master seed per scenario; every component derives its own
//! ChaCha8 stream from `sha256(seed, component name)`, so adding a component (or drawing
//! more numbers in one) never changes another component's draws.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// The RNG type used everywhere in the simulator.
pub type SimRng = ChaCha8Rng;

/// Derives the RNG of `component` from the scenario `seed`.
pub fn component_rng(seed: u64, component: &str) -> SimRng {
    SimRng::from_seed(component_seed(seed, component))
}

/// 32 seed bytes for `component`: sha256 over the seed and the component name.
pub fn component_seed(seed: u64, component: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"ledgerloop-sim/v1");
    hasher.update(seed.to_le_bytes());
    hasher.update((component.len() as u64).to_le_bytes());
    hasher.update(component.as_bytes());
    hasher.finalize().into()
}

/// A u64 derived from the seed and a component name (for learners that take a u64 seed).
pub fn component_u64(seed: u64, component: &str) -> u64 {
    let bytes = component_seed(seed, component);
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(first)
}

/// SplitMix64 finaliser: a stable, well-mixed hash of a u64. Used for routing keys so
/// the champion/canary split never depends on a hasher's random state.
pub fn stable_hash(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Stable hash of a string (FNV-1a folded through [`stable_hash`]).
pub fn stable_hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    stable_hash(h)
}

/// Maps a hash to a uniform value in [0, 1).
pub fn unit_interval(hash: u64) -> f64 {
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// Standard normal draws by Marsaglia's polar method, keeping the spare value. Cheap
/// enough for hundreds of millions of draws (no trigonometry).
#[derive(Debug, Clone, Default)]
pub struct Normal {
    spare: Option<f64>,
}

impl Normal {
    /// One N(0, 1) draw.
    #[inline]
    pub fn sample(&mut self, rng: &mut SimRng) -> f64 {
        if let Some(s) = self.spare.take() {
            return s;
        }
        loop {
            let u = rng.gen::<f64>() * 2.0 - 1.0;
            let v = rng.gen::<f64>() * 2.0 - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let m = (-2.0 * s.ln() / s).sqrt();
                self.spare = Some(v * m);
                return u * m;
            }
        }
    }
}

/// Exponential draw with the given mean.
pub fn exponential(rng: &mut SimRng, mean: f64) -> f64 {
    let u: f64 = rng.gen::<f64>();
    -mean * (1.0 - u).ln()
}

/// Picks an index with probability proportional to `weights` (all >= 0, some > 0).
pub fn weighted_index(rng: &mut SimRng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.gen::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Different component names give independent streams; the same name repeats.
    #[test]
    fn component_streams_are_independent_and_repeatable() {
        let a1: u64 = component_rng(7, "oracle").gen();
        let a2: u64 = component_rng(7, "oracle").gen();
        let b: u64 = component_rng(7, "world").gen();
        let c: u64 = component_rng(8, "oracle").gen();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, c);
    }

    /// The polar normal sampler has mean ~0 and variance ~1.
    #[test]
    fn normal_has_unit_variance() {
        let mut rng = component_rng(1, "n");
        let mut n = Normal::default();
        let draws: Vec<f64> = (0..200_000).map(|_| n.sample(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / draws.len() as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }
}

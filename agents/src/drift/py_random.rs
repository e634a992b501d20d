//! CPython's `random.Random`, reduced to what KSWIN needs: integer seeding, 32-bit draws
//! and `sample(range(n), k)`.
//!
//! River's KSWIN draws its reference sub-window with `random.Random(seed).sample(...)`.
//! Reproducing the Mersenne Twister (MT19937), CPython's `init_by_array` seeding and the
//! exact algorithm of `random.sample` (CPython 3.11) makes KSWIN's detections identical to
//! River's for the same seed, not just statistically alike.

use serde::{Deserialize, Serialize};

/// Number of 32-bit words in the Mersenne Twister state.
const N: usize = 624;
/// The twist offset of MT19937.
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;
/// Seed of the linear generator that `init_by_array` starts from.
const INIT_SEED: u32 = 19_650_218;

/// CPython's Mersenne Twister; serialisable so a KSWIN snapshot resumes the same draws.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawState")]
pub struct PyRandom {
    state: Vec<u32>,
    index: usize,
}

/// The serialised form, checked before it becomes a [`PyRandom`] so that a damaged
/// snapshot is refused at load time instead of panicking at the next draw.
#[derive(Deserialize)]
struct RawState {
    state: Vec<u32>,
    index: usize,
}

impl TryFrom<RawState> for PyRandom {
    type Error = String;

    fn try_from(raw: RawState) -> std::result::Result<Self, String> {
        if raw.state.len() != N || raw.index > N {
            return Err(format!(
                "Mersenne Twister state needs {N} words and an index <= {N}, got {} and {}",
                raw.state.len(),
                raw.index
            ));
        }
        Ok(Self {
            state: raw.state,
            index: raw.index,
        })
    }
}

impl PyRandom {
    /// Seeds as `random.Random(seed)` does for a non-negative integer seed.
    pub fn new(seed: u64) -> Self {
        // CPython splits the seed's absolute value into little-endian 32-bit words; zero
        // still contributes one word.
        let low = (seed & u64::from(u32::MAX)) as u32;
        let high = (seed >> 32) as u32;
        let key: Vec<u32> = if high == 0 {
            vec![low]
        } else {
            vec![low, high]
        };
        let mut rng = Self::init_genrand(INIT_SEED);
        rng.init_by_array(&key);
        rng
    }

    fn init_genrand(seed: u32) -> Self {
        let mut state = vec![0u32; N];
        state[0] = seed;
        for i in 1..N {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Self { state, index: N }
    }

    fn init_by_array(&mut self, key: &[u32]) {
        let mt = &mut self.state;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let prev = mt[i - 1];
            mt[i] = (mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = mt[i - 1];
            mt[i] =
                (mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        // The most significant bit is 1, which guarantees a non-zero initial state.
        mt[0] = 0x8000_0000;
    }

    fn twist(&mut self) {
        let mt = &mut self.state;
        for k in 0..N {
            let y = (mt[k] & UPPER_MASK) | (mt[(k + 1) % N] & LOWER_MASK);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            mt[k] = mt[(k + M) % N] ^ (y >> 1) ^ mag;
        }
        self.index = 0;
    }

    /// The next tempered 32-bit output, CPython's `genrand_uint32`.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random.getrandbits(k)` for `1 <= k <= 32`.
    fn getrandbits(&mut self, k: u32) -> u32 {
        self.next_u32() >> (32 - k)
    }

    /// `random._randbelow(n)` for `1 <= n < 2^32`: rejection sampling on `bit_length(n)` bits.
    fn randbelow(&mut self, n: u32) -> u32 {
        let k = u32::BITS - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `random.sample(range(n), k)`, with CPython 3.11's choice between a pool and a set.
    ///
    /// Callers guarantee `k <= n < 2^32`; a larger `k` is clamped to `n`.
    pub fn sample_range(&mut self, n: u32, k: u32) -> Vec<u32> {
        let k = k.min(n);
        let mut setsize: f64 = 21.0;
        if k > 5 {
            // CPython computes `4 ** ceil(log(3k, 4))` with float logarithms.
            let exponent = (f64::from(k * 3).ln() / 4f64.ln()).ceil();
            setsize += 4f64.powf(exponent);
        }
        if f64::from(n) <= setsize {
            let mut pool: Vec<u32> = (0..n).collect();
            (0..k)
                .map(|i| {
                    let j = self.randbelow(n - i) as usize;
                    let picked = pool[j];
                    pool[j] = pool[(n - i - 1) as usize];
                    picked
                })
                .collect()
        } else {
            let mut selected = std::collections::BTreeSet::new();
            (0..k)
                .map(|_| loop {
                    let j = self.randbelow(n);
                    if selected.insert(j) {
                        break j;
                    }
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `random.Random(42)`'s first three `getrandbits(32)` match CPython 3.11.
    #[test]
    fn matches_cpython_getrandbits() {
        let mut r = PyRandom::new(42);
        let got: Vec<u32> = (0..3).map(|_| r.next_u32()).collect();
        assert_eq!(got, CPYTHON_SEED42_U32);
    }

    /// A snapshot with a truncated state is refused when loaded.
    #[test]
    fn damaged_state_is_refused() {
        let mut v = serde_json::to_value(PyRandom::new(1)).expect("serialises");
        v["state"] = serde_json::json!([1, 2, 3]);
        assert!(serde_json::from_value::<PyRandom>(v).is_err());
    }

    /// `random.Random(7).sample(range(40), 20)` (pool branch) matches CPython 3.11.
    #[test]
    fn matches_cpython_sample_pool() {
        assert_eq!(PyRandom::new(7).sample_range(40, 20), CPYTHON_SEED7_SAMPLE);
    }

    /// `random.Random(2**40 + 5).sample(range(1000), 10)` (set branch) matches CPython 3.11.
    #[test]
    fn matches_cpython_sample_set() {
        assert_eq!(
            PyRandom::new((1 << 40) + 5).sample_range(1000, 10),
            CPYTHON_BIG_SAMPLE
        );
    }

    const CPYTHON_SEED42_U32: [u32; 3] = [2_746_317_213, 478_163_327, 107_420_369];
    const CPYTHON_SEED7_SAMPLE: [u32; 20] = [
        20, 9, 25, 3, 4, 34, 6, 23, 36, 29, 16, 33, 1, 2, 13, 37, 26, 7, 32, 17,
    ];
    const CPYTHON_BIG_SAMPLE: [u32; 10] = [516, 529, 275, 679, 948, 28, 543, 776, 837, 854];
}

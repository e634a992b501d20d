//! KSWIN, the Kolmogorov-Smirnov windowing detector (Raab et al., 2020), as River 0.26.1
//! implements it.
//!
//! KSWIN keeps the last `window_size` observations, compares the newest `stat_size` of them
//! with `stat_size` points drawn at random from the older part using a two-sample KS test,
//! and flags drift when the p-value is at most `alpha` and the statistic exceeds 0.1.
//!
//! River draws with Python's `random.Random(seed).sample`, re-seeded at every reset. This
//! port reproduces that generator bit for bit ([`super::py_random`]), so for the same seed
//! the draws, and therefore *all* detections, are identical to River's, not only the
//! deterministic part. River's default `seed=None` (seed from the OS) is not offered:
//! ledgerloop's decisions must be re-derivable, so a seed is always set (default 0).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::ks::ks_2samp;
use super::py_random::PyRandom;
use super::{DetectorDescription, DetectorOutput, DriftDetector, Named, ParamValue};
use crate::error::{invalid, Result};

const NAME: &str = "KSWIN";
/// River also requires the KS statistic itself to exceed this before flagging drift.
const MIN_STATISTIC: f64 = 0.1;

/// KSWIN's parameters, named and defaulted as in River (except `seed`, see module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KswinParams {
    /// Significance level of the KS test, in [0, 1].
    pub alpha: f64,
    /// Number of most recent observations kept.
    pub window_size: u32,
    /// Size of the two compared samples; at most half of `window_size`.
    pub stat_size: u32,
    /// Seed of the Python-compatible generator that draws the reference sample.
    pub seed: u64,
}

impl Default for KswinParams {
    fn default() -> Self {
        Self {
            alpha: 0.005,
            window_size: 100,
            stat_size: 30,
            seed: 0,
        }
    }
}

/// KSWIN detector; see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kswin {
    params: KswinParams,
    drift_detected: bool,
    n: u64,
    window: VecDeque<f64>,
    rng: PyRandom,
    statistic: f64,
    p_value: f64,
}

impl Kswin {
    /// Builds a detector, rejecting sizes for which River's sampling would fail.
    pub fn new(params: KswinParams) -> Result<Self> {
        if !(0.0..=1.0).contains(&params.alpha) {
            return Err(invalid(NAME, "alpha", params.alpha, "must lie in [0, 1]"));
        }
        if params.stat_size == 0 {
            return Err(invalid(
                NAME,
                "stat_size",
                params.stat_size,
                "must be at least 1",
            ));
        }
        // River only checks stat_size <= window_size, then fails at the first full window
        // when the older part holds fewer than stat_size points; this check says so upfront.
        if u64::from(params.stat_size) * 2 > u64::from(params.window_size) {
            return Err(invalid(
                NAME,
                "window_size",
                params.window_size,
                "must be at least twice stat_size",
            ));
        }
        Ok(Self::fresh(params))
    }

    fn fresh(params: KswinParams) -> Self {
        Self {
            params,
            drift_detected: false,
            n: 0,
            window: VecDeque::with_capacity(params.window_size as usize),
            rng: PyRandom::new(params.seed),
            statistic: 0.0,
            p_value: 0.0,
        }
    }

    /// Runs the KS test on a full window and returns whether drift is flagged.
    fn test_full_window(&mut self) -> bool {
        let ws = self.params.window_size as usize;
        let ss = self.params.stat_size;
        let picks = self.rng.sample_range(self.params.window_size - ss, ss);
        let reference: Vec<f64> = picks.iter().map(|&i| self.window[i as usize]).collect();
        let recent: Vec<f64> = self.window.range(ws - ss as usize..ws).copied().collect();
        // Both samples hold stat_size >= 1 points, so the test cannot fail.
        let Ok(result) = ks_2samp(&reference, &recent) else {
            return false;
        };
        self.statistic = result.statistic;
        self.p_value = result.pvalue;
        if self.p_value <= self.params.alpha && self.statistic > MIN_STATISTIC {
            self.window = recent.into();
            true
        } else {
            false
        }
    }
}

impl DriftDetector for Kswin {
    fn update(&mut self, x: f64) -> DetectorOutput {
        if self.drift_detected {
            self.reset();
        }
        self.n += 1;
        if self.window.len() == self.params.window_size as usize {
            self.window.pop_front();
        }
        self.window.push_back(x);
        self.drift_detected =
            self.window.len() >= self.params.window_size as usize && self.test_full_window();
        DetectorOutput {
            drift: self.drift_detected,
            warning: false,
        }
    }

    fn reset(&mut self) {
        *self = Self::fresh(self.params);
    }

    fn describe(&self) -> DetectorDescription {
        let p = &self.params;
        DetectorDescription {
            name: NAME.to_owned(),
            params: vec![
                Named::new("alpha", ParamValue::Float(p.alpha)),
                Named::new("window_size", ParamValue::Int(p.window_size.into())),
                Named::new("stat_size", ParamValue::Int(p.stat_size.into())),
                Named::new("seed", ParamValue::Int(p.seed)),
            ],
        }
    }

    fn evidence(&self) -> Vec<Named<f64>> {
        vec![
            Named::new("ks_statistic", self.statistic),
            Named::new("min_statistic", MIN_STATISTIC),
            Named::new("p_value", self.p_value),
            Named::new("alpha", self.params.alpha),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A jump of the mean far outside the old range is flagged within one window, and the
    /// window is cut back to the recent sample.
    #[test]
    fn flags_jump() {
        let mut d = Kswin::new(KswinParams::default()).expect("defaults are valid");
        let stream = (0..400).map(|i| {
            if i < 200 {
                f64::from(i % 7)
            } else {
                50.0 + f64::from(i % 7)
            }
        });
        let hit = stream
            .enumerate()
            .find(|(_, x)| d.update(*x).drift)
            .map(|(i, _)| i);
        let at = hit.expect("the jump must be flagged");
        assert!((200..300).contains(&at), "flagged at {at}");
        assert_eq!(d.window.len(), 30);
    }

    /// The same seed gives the same non-empty detections; the seed is in the description.
    #[test]
    fn seeded_runs_repeat() {
        let stream: Vec<f64> = (0..2000u32)
            .map(|i| f64::from(i * 7919 % 101) / 10.0 + if i > 1000 { 6.0 } else { 0.0 })
            .collect();
        let run = |seed| {
            let params = KswinParams {
                seed,
                ..KswinParams::default()
            };
            let mut d = Kswin::new(params).expect("valid");
            let hits: Vec<usize> = (0..stream.len())
                .filter(|&i| d.update(stream[i]).drift)
                .collect();
            (hits, d.describe())
        };
        let (first, description) = run(5);
        assert!(!first.is_empty(), "the shift at 1000 must be flagged");
        assert_eq!(run(5).0, first);
        assert_eq!(description.params[3].value, ParamValue::Int(5));
    }

    /// A window shorter than twice the statistic size, or a zero size, is rejected.
    #[test]
    fn rejects_bad_sizes() {
        let p = KswinParams {
            window_size: 50,
            stat_size: 30,
            ..KswinParams::default()
        };
        assert!(Kswin::new(p).is_err());
        assert!(Kswin::new(KswinParams {
            stat_size: 0,
            ..KswinParams::default()
        })
        .is_err());
        assert!(Kswin::new(KswinParams {
            alpha: 1.5,
            ..KswinParams::default()
        })
        .is_err());
    }
}

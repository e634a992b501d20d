//! HDDM_A, the Hoeffding drift detector with the A-test (Frías-Blanco et al., 2014), as
//! River 0.26.1 implements it.
//!
//! The detector keeps the running mean `z` of the stream and the snapshots `x_min` /
//! `x_max` of that mean taken where `mean ± Hoeffding bound` was lowest / highest. A
//! mean that has risen (or, with the two-sided test, fallen) from the snapshot by more than
//! the bound for `warning_confidence` / `drift_confidence` raises a warning / drift.

use serde::{Deserialize, Serialize};

use super::{
    check_open_unit, DetectorDescription, DetectorOutput, DriftDetector, Named, ParamValue,
};
use crate::error::Result;

const NAME: &str = "HDDM_A";

/// HDDM_A's parameters, named and defaulted as in River.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HddmAParams {
    /// Confidence level of the drift test, in (0, 1).
    pub drift_confidence: f64,
    /// Confidence level of the warning test, in (0, 1).
    pub warning_confidence: f64,
    /// Also test for a decrease of the mean.
    pub two_sided_test: bool,
}

impl Default for HddmAParams {
    fn default() -> Self {
        Self {
            drift_confidence: 0.001,
            warning_confidence: 0.005,
            two_sided_test: false,
        }
    }
}

/// River's `stats.Mean`: a count and an incrementally updated mean.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct RunningMean {
    pub(crate) n: f64,
    pub(crate) mean: f64,
}

impl RunningMean {
    /// Adds one observation in River's arithmetic order.
    pub(crate) fn update(&mut self, x: f64) {
        self.n += 1.0;
        self.mean += (1.0 / self.n) * (x - self.mean);
    }
}

/// HDDM_A detector; see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HddmA {
    params: HddmAParams,
    drift_detected: bool,
    warning_detected: bool,
    x_min: RunningMean,
    x_max: RunningMean,
    z: RunningMean,
}

impl HddmA {
    /// Builds a detector; both confidences must lie in (0, 1).
    pub fn new(params: HddmAParams) -> Result<Self> {
        check_open_unit(NAME, "drift_confidence", params.drift_confidence)?;
        check_open_unit(NAME, "warning_confidence", params.warning_confidence)?;
        Ok(Self::fresh(params))
    }

    fn fresh(params: HddmAParams) -> Self {
        Self {
            params,
            drift_detected: false,
            warning_detected: false,
            x_min: RunningMean::default(),
            x_max: RunningMean::default(),
            z: RunningMean::default(),
        }
    }

    /// River uses the drift confidence for this bound whatever test it serves.
    fn hoeffding_bound(&self, n: f64) -> f64 {
        (1.0 / (2.0 * n) * (1.0 / self.params.drift_confidence).ln()).sqrt()
    }

    /// The bound that `z - snapshot` must reach for the given confidence.
    fn a_test_bound(&self, snapshot: RunningMean, confidence: f64) -> f64 {
        let m = (self.z.n - snapshot.n) / snapshot.n * (1.0 / self.z.n);
        (m / 2.0 * (2.0 / confidence).ln()).sqrt()
    }

    fn mean_increased(&self, confidence: f64) -> bool {
        self.x_min.n != self.z.n
            && self.z.mean - self.x_min.mean >= self.a_test_bound(self.x_min, confidence)
    }

    fn mean_decreased(&self, confidence: f64) -> bool {
        self.x_max.n != self.z.n
            && self.x_max.mean - self.z.mean >= self.a_test_bound(self.x_max, confidence)
    }

    fn update_snapshots(&mut self) {
        if self.x_min.n == 0.0 {
            self.x_min = self.z;
        }
        if self.x_max.n == 0.0 {
            self.x_max = self.z;
        }
        let eps_z = self.hoeffding_bound(self.z.n);
        if self.x_min.mean + self.hoeffding_bound(self.x_min.n) >= self.z.mean + eps_z {
            self.x_min = self.z;
        }
        if self.x_max.mean - self.hoeffding_bound(self.x_max.n) <= self.z.mean - eps_z {
            self.x_max = self.z;
        }
    }
}

impl DriftDetector for HddmA {
    fn update(&mut self, x: f64) -> DetectorOutput {
        if self.drift_detected {
            self.reset();
        }
        self.z.update(x);
        self.update_snapshots();
        let (drift_c, warn_c) = (self.params.drift_confidence, self.params.warning_confidence);
        if self.mean_increased(drift_c) {
            (self.drift_detected, self.warning_detected) = (true, false);
        } else {
            self.warning_detected = self.mean_increased(warn_c);
            self.drift_detected = false;
        }
        if self.params.two_sided_test {
            if self.mean_decreased(drift_c) {
                self.drift_detected = true;
            } else if self.mean_decreased(warn_c) {
                self.warning_detected = true;
            }
        }
        DetectorOutput {
            drift: self.drift_detected,
            warning: self.warning_detected,
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
                Named::new("drift_confidence", ParamValue::Float(p.drift_confidence)),
                Named::new(
                    "warning_confidence",
                    ParamValue::Float(p.warning_confidence),
                ),
                Named::new("two_sided_test", ParamValue::Bool(p.two_sided_test)),
            ],
        }
    }

    fn evidence(&self) -> Vec<Named<f64>> {
        let c = self.params.drift_confidence;
        let mut out = vec![
            Named::new("mean_increase", self.z.mean - self.x_min.mean),
            Named::new("mean_decrease", self.x_max.mean - self.z.mean),
        ];
        // A bound exists only once the snapshot and the running mean differ in count.
        if self.x_min.n != self.z.n {
            out.push(Named::new(
                "increase_drift_bound",
                self.a_test_bound(self.x_min, c),
            ));
        }
        if self.x_max.n != self.z.n {
            out.push(Named::new(
                "decrease_drift_bound",
                self.a_test_bound(self.x_max, c),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error rate rising from 10% to 70% is flagged; a stable one never is.
    #[test]
    fn flags_increase_not_stability() {
        let mut d = HddmA::new(HddmAParams::default()).expect("defaults are valid");
        let mut flagged = 0;
        for i in 0..1000 {
            flagged += usize::from(d.update(f64::from(u8::from(i % 10 == 0))).drift);
        }
        assert_eq!(flagged, 0, "a stable 10% error rate was flagged");
        let hit = (0..300).any(|i| d.update(f64::from(u8::from(i % 10 < 7))).drift);
        assert!(hit, "a rise to 70% errors must be flagged");
    }

    /// A falling error rate is flagged only when the two-sided test is on.
    #[test]
    fn decrease_needs_two_sided_test() {
        for two_sided in [false, true] {
            let params = HddmAParams {
                two_sided_test: two_sided,
                ..HddmAParams::default()
            };
            let mut d = HddmA::new(params).expect("valid");
            let hit = (0..1500)
                .map(|i| {
                    if i < 500 {
                        f64::from(u8::from(i % 10 < 7))
                    } else {
                        0.0
                    }
                })
                .any(|x| d.update(x).drift);
            assert_eq!(hit, two_sided);
        }
    }

    /// Confidences outside (0, 1) are rejected.
    #[test]
    fn rejects_bad_confidence() {
        let p = HddmAParams {
            warning_confidence: 1.5,
            ..HddmAParams::default()
        };
        assert!(HddmA::new(p).is_err());
    }
}

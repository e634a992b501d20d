//! HDDM_W, the Hoeffding drift detector with the W-test (Frías-Blanco et al., 2014), as
//! River 0.26.1 implements it.
//!
//! Each sample summary holds an exponentially weighted mean and the "independent bounded
//! condition" `ibc` that McDiarmid's bound needs. The stream is split at the point where
//! `ewma ± bound` was lowest (for increases) or highest (for decreases); the weighted means
//! before and after that cut point are compared.

use serde::{Deserialize, Serialize};

use super::{
    check_open_unit, DetectorDescription, DetectorOutput, DriftDetector, Named, ParamValue,
};
use crate::error::{invalid, Result};

const NAME: &str = "HDDM_W";

/// HDDM_W's parameters, named and defaulted as in River.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HddmWParams {
    /// Confidence level of the drift test, in (0, 1).
    pub drift_confidence: f64,
    /// Confidence level of the warning test, in (0, 1).
    pub warning_confidence: f64,
    /// Weight of the newest observation in the weighted means, in (0, 1].
    pub lambda_val: f64,
    /// Also test for a decrease of the mean.
    pub two_sided_test: bool,
}

impl Default for HddmWParams {
    fn default() -> Self {
        Self {
            drift_confidence: 0.001,
            warning_confidence: 0.005,
            lambda_val: 0.05,
            two_sided_test: false,
        }
    }
}

/// River's `SampleInfo`: an exponentially weighted mean and its bounded condition.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct SampleInfo {
    ewma: f64,
    is_init: bool,
    ibc: f64,
}

impl SampleInfo {
    const EMPTY: Self = Self {
        ewma: 0.0,
        is_init: false,
        ibc: 1.0,
    };

    fn update(&mut self, x: f64, lambda: f64) {
        // River's EWMean starts at the first value, then blends with weight `lambda`.
        self.ewma = if self.is_init {
            lambda * x + (1.0 - lambda) * self.ewma
        } else {
            x
        };
        self.is_init = true;
        let c = 1.0 - lambda;
        self.ibc = lambda * lambda + c * c * self.ibc;
    }
}

/// HDDM_W detector; see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HddmW {
    params: HddmWParams,
    drift_detected: bool,
    warning_detected: bool,
    total: SampleInfo,
    s1_incr: SampleInfo,
    s2_incr: SampleInfo,
    s1_decr: SampleInfo,
    s2_decr: SampleInfo,
    /// `None` stands for River's initial `+inf` (JSON cannot carry infinities).
    incr_cutpoint: Option<f64>,
    /// `None` stands for River's initial `-inf`.
    decr_cutpoint: Option<f64>,
}

impl HddmW {
    /// Builds a detector; confidences must lie in (0, 1) and `lambda_val` in (0, 1].
    pub fn new(params: HddmWParams) -> Result<Self> {
        check_open_unit(NAME, "drift_confidence", params.drift_confidence)?;
        check_open_unit(NAME, "warning_confidence", params.warning_confidence)?;
        if !(params.lambda_val > 0.0 && params.lambda_val <= 1.0) {
            return Err(invalid(
                NAME,
                "lambda_val",
                params.lambda_val,
                "must lie in (0, 1]",
            ));
        }
        Ok(Self::fresh(params))
    }

    fn fresh(params: HddmWParams) -> Self {
        Self {
            params,
            drift_detected: false,
            warning_detected: false,
            total: SampleInfo::EMPTY,
            s1_incr: SampleInfo::EMPTY,
            s2_incr: SampleInfo::EMPTY,
            s1_decr: SampleInfo::EMPTY,
            s2_decr: SampleInfo::EMPTY,
            incr_cutpoint: None,
            decr_cutpoint: None,
        }
    }

    fn mcdiarmid_bound(ibc: f64, confidence: f64) -> f64 {
        (ibc * (1.0 / confidence).ln() / 2.0).sqrt()
    }

    /// True when `later.ewma - earlier.ewma` exceeds McDiarmid's bound.
    fn has_mean_changed(earlier: SampleInfo, later: SampleInfo, confidence: f64) -> bool {
        if !(earlier.is_init && later.is_init) {
            return false;
        }
        let bound = Self::mcdiarmid_bound(earlier.ibc + later.ibc, confidence);
        later.ewma - earlier.ewma > bound
    }

    fn update_incr_stats(&mut self, x: f64) {
        let eps = Self::mcdiarmid_bound(self.total.ibc, self.params.drift_confidence);
        if self.total.ewma + eps < self.incr_cutpoint.unwrap_or(f64::INFINITY) {
            self.incr_cutpoint = Some(self.total.ewma + eps);
            self.s1_incr = self.total;
            self.s2_incr = SampleInfo::EMPTY;
        } else {
            self.s2_incr.update(x, self.params.lambda_val);
        }
    }

    fn update_decr_stats(&mut self, x: f64) {
        let eps = Self::mcdiarmid_bound(self.total.ibc, self.params.drift_confidence);
        if self.total.ewma - eps > self.decr_cutpoint.unwrap_or(f64::NEG_INFINITY) {
            self.decr_cutpoint = Some(self.total.ewma - eps);
            self.s1_decr = self.total;
            self.s2_decr = SampleInfo::EMPTY;
        } else {
            self.s2_decr.update(x, self.params.lambda_val);
        }
    }
}

impl DriftDetector for HddmW {
    fn update(&mut self, x: f64) -> DetectorOutput {
        if self.drift_detected {
            self.reset();
        }
        let (drift_c, warn_c) = (self.params.drift_confidence, self.params.warning_confidence);
        self.total.update(x, self.params.lambda_val);
        self.update_incr_stats(x);
        if Self::has_mean_changed(self.s1_incr, self.s2_incr, drift_c) {
            (self.drift_detected, self.warning_detected) = (true, false);
        } else {
            self.warning_detected = Self::has_mean_changed(self.s1_incr, self.s2_incr, warn_c);
            self.drift_detected = false;
        }
        self.update_decr_stats(x);
        if self.params.two_sided_test {
            if Self::has_mean_changed(self.s2_decr, self.s1_decr, drift_c) {
                self.drift_detected = true;
            } else if Self::has_mean_changed(self.s2_decr, self.s1_decr, warn_c) {
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
                Named::new("lambda_val", ParamValue::Float(p.lambda_val)),
                Named::new("two_sided_test", ParamValue::Bool(p.two_sided_test)),
            ],
        }
    }

    fn evidence(&self) -> Vec<Named<f64>> {
        let c = self.params.drift_confidence;
        let (i1, i2) = (self.s1_incr, self.s2_incr);
        let (d1, d2) = (self.s1_decr, self.s2_decr);
        vec![
            Named::new("mean_increase", i2.ewma - i1.ewma),
            Named::new(
                "increase_drift_bound",
                Self::mcdiarmid_bound(i1.ibc + i2.ibc, c),
            ),
            Named::new("mean_decrease", d1.ewma - d2.ewma),
            Named::new(
                "decrease_drift_bound",
                Self::mcdiarmid_bound(d1.ibc + d2.ibc, c),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rise of the error rate from 10% to 80% is flagged within a hundred updates.
    #[test]
    fn flags_rise_quickly() {
        let mut d = HddmW::new(HddmWParams::default()).expect("defaults are valid");
        for i in 0..1000 {
            assert!(
                !d.update(f64::from(u8::from(i % 10 == 0))).drift,
                "false alarm at {i}"
            );
        }
        let hit = (0..100).any(|i| d.update(f64::from(u8::from(i % 10 < 8))).drift);
        assert!(hit, "a rise to 80% errors must be flagged");
    }

    /// `lambda_val` of zero or above one is rejected.
    #[test]
    fn rejects_bad_lambda() {
        for bad in [0.0, 1.5, f64::NAN] {
            let p = HddmWParams {
                lambda_val: bad,
                ..HddmWParams::default()
            };
            assert!(HddmW::new(p).is_err());
        }
    }
}

//! DDM, the Drift Detection Method of Gama et al. (2004), as River 0.26.1 implements it.
//!
//! DDM watches the running error rate `p` and its standard deviation
//! `s = sqrt(p (1 - p) / n)`. After `warm_start` observations it remembers the minimum of
//! `p + s` and flags a warning (drift) when `p + s` exceeds `p_min + k s_min` with
//! `k = warning_threshold` (`drift_threshold`).

use serde::{Deserialize, Serialize};

use super::{
    check_positive, DetectorDescription, DetectorOutput, DriftDetector, Named, ParamValue,
};
use crate::error::Result;

const NAME: &str = "DDM";

/// DDM's parameters, named and defaulted as in River.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DdmParams {
    /// Observations seen before any warning or drift can be flagged.
    pub warm_start: u32,
    /// Multiple of `s_min` above `p_min` that raises a warning.
    pub warning_threshold: f64,
    /// Multiple of `s_min` above `p_min` that flags drift.
    pub drift_threshold: f64,
}

impl Default for DdmParams {
    fn default() -> Self {
        Self {
            warm_start: 30,
            warning_threshold: 2.0,
            drift_threshold: 3.0,
        }
    }
}

/// DDM detector; see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ddm {
    params: DdmParams,
    drift_detected: bool,
    warning_detected: bool,
    n: f64,
    p: f64,
    s: f64,
    /// `None` until the warm-up ends, as River's `_p_min = None`.
    p_min: Option<f64>,
    s_min: Option<f64>,
    /// `None` stands for River's initial `float("inf")`, which JSON cannot carry.
    ps_min: Option<f64>,
}

impl Ddm {
    /// Builds a detector; both thresholds must be finite and positive.
    pub fn new(params: DdmParams) -> Result<Self> {
        check_positive(NAME, "warning_threshold", params.warning_threshold)?;
        check_positive(NAME, "drift_threshold", params.drift_threshold)?;
        Ok(Self::fresh(params))
    }

    fn fresh(params: DdmParams) -> Self {
        Self {
            params,
            drift_detected: false,
            warning_detected: false,
            n: 0.0,
            p: 0.0,
            s: 0.0,
            p_min: None,
            s_min: None,
            ps_min: None,
        }
    }
}

impl DriftDetector for Ddm {
    fn update(&mut self, x: f64) -> DetectorOutput {
        if self.drift_detected {
            self.reset();
        }
        // River's `stats.Mean` update, kept in the same arithmetic order.
        self.n += 1.0;
        self.p += (1.0 / self.n) * (x - self.p);
        self.s = (self.p * (1.0 - self.p) / self.n).sqrt();
        let ps = self.p + self.s;
        if self.n > f64::from(self.params.warm_start) {
            if ps <= self.ps_min.unwrap_or(f64::INFINITY) {
                self.p_min = Some(self.p);
                self.s_min = Some(self.s);
                self.ps_min = Some(self.p + self.s);
            }
            // Only a NaN `p + s` (inputs outside [0, 1]) can leave the minimum unset; River
            // would raise a TypeError there, this port flags nothing instead.
            if let (Some(p_min), Some(s_min)) = (self.p_min, self.s_min) {
                self.warning_detected = ps > p_min + self.params.warning_threshold * s_min;
                if ps > p_min + self.params.drift_threshold * s_min {
                    self.drift_detected = true;
                    self.warning_detected = false;
                }
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
                Named::new("warm_start", ParamValue::Int(p.warm_start.into())),
                Named::new("warning_threshold", ParamValue::Float(p.warning_threshold)),
                Named::new("drift_threshold", ParamValue::Float(p.drift_threshold)),
            ],
        }
    }

    fn evidence(&self) -> Vec<Named<f64>> {
        let mut out = vec![
            Named::new("p_plus_s", self.p + self.s),
            Named::new("n", self.n),
        ];
        // The levels exist only once the warm-up has set the minimum.
        if let (Some(p_min), Some(s_min)) = (self.p_min, self.s_min) {
            let p = &self.params;
            out.push(Named::new(
                "warning_level",
                p_min + p.warning_threshold * s_min,
            ));
            out.push(Named::new("drift_level", p_min + p.drift_threshold * s_min));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing is flagged during the warm-up even if every prediction is wrong.
    #[test]
    fn silent_during_warm_up() {
        let mut d = Ddm::new(DdmParams::default()).expect("defaults are valid");
        for _ in 0..30 {
            assert_eq!(d.update(1.0), DetectorOutput::default());
        }
    }

    /// A jump of the error rate from 10% to 60% is flagged as drift, and the detector
    /// starts afresh (n = 1) on the next update.
    #[test]
    fn flags_rising_error_rate_then_resets() {
        let mut d = Ddm::new(DdmParams::default()).expect("defaults are valid");
        let mut hit = false;
        for i in 0..400 {
            let x = if i < 200 {
                f64::from(u8::from(i % 10 == 0))
            } else {
                f64::from(u8::from(i % 5 < 3))
            };
            if d.update(x).drift {
                hit = true;
                break;
            }
        }
        assert!(hit, "a rise from 10% to 60% errors must be flagged");
        d.update(0.0);
        assert_eq!(d.evidence()[1].value, 1.0);
    }

    /// Zero, negative or NaN thresholds are rejected.
    #[test]
    fn rejects_bad_thresholds() {
        for bad in [0.0, -2.0, f64::NAN] {
            let p = DdmParams {
                drift_threshold: bad,
                ..DdmParams::default()
            };
            assert!(Ddm::new(p).is_err());
        }
    }
}

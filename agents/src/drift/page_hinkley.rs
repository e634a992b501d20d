//! The Page-Hinkley test (Page, 1954), as River 0.26.1 implements it.
//!
//! The test accumulates the deviations of each observation from the running mean, with a
//! tolerance `delta` and a forgetting factor `alpha`, and flags drift when the cumulative
//! sum has moved more than `threshold` away from its extreme.

use serde::{Deserialize, Serialize};

use super::{
    check_positive, DetectorDescription, DetectorOutput, DriftDetector, Named, ParamValue,
};
use crate::drift::hddm_a::RunningMean;
use crate::error::{invalid, Result};

const NAME: &str = "PageHinkley";

/// Which direction of change Page-Hinkley looks for, River's `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageHinkleyMode {
    /// Only increases of the mean (`"up"`).
    Up,
    /// Only decreases of the mean (`"down"`).
    Down,
    /// Both directions (`"both"`, River's default).
    Both,
}

impl PageHinkleyMode {
    /// River's spelling of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Both => "both",
        }
    }
}

/// Page-Hinkley's parameters, named and defaulted as in River.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PageHinkleyParams {
    /// Observations seen before drift can be flagged.
    pub min_instances: u32,
    /// Tolerated magnitude of change, subtracted from each deviation.
    pub delta: f64,
    /// Distance of the cumulative sum from its extreme that flags drift.
    pub threshold: f64,
    /// Forgetting factor of the cumulative sums, in (0, 1].
    pub alpha: f64,
    /// Direction(s) of change to detect.
    pub mode: PageHinkleyMode,
}

impl Default for PageHinkleyParams {
    fn default() -> Self {
        Self {
            min_instances: 30,
            delta: 0.005,
            threshold: 50.0,
            alpha: 1.0 - 0.0001,
            mode: PageHinkleyMode::Both,
        }
    }
}

/// Page-Hinkley detector; see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageHinkley {
    params: PageHinkleyParams,
    drift_detected: bool,
    mean: RunningMean,
    sum_increase: f64,
    sum_decrease: f64,
    /// `None` stands for River's initial `+inf` (JSON cannot carry infinities).
    min_increase: Option<f64>,
    max_decrease: f64,
}

/// River initialises the running maximum of the decrease sum to -1, not to -inf.
const INITIAL_MAX_DECREASE: f64 = -1.0;

impl PageHinkley {
    /// Builds a detector; `delta` must be finite and non-negative, `threshold` positive
    /// and `alpha` in (0, 1].
    pub fn new(params: PageHinkleyParams) -> Result<Self> {
        if !(params.delta.is_finite() && params.delta >= 0.0) {
            return Err(invalid(
                NAME,
                "delta",
                params.delta,
                "must be finite and >= 0",
            ));
        }
        check_positive(NAME, "threshold", params.threshold)?;
        if !(params.alpha > 0.0 && params.alpha <= 1.0) {
            return Err(invalid(NAME, "alpha", params.alpha, "must lie in (0, 1]"));
        }
        Ok(Self::fresh(params))
    }

    fn fresh(params: PageHinkleyParams) -> Self {
        Self {
            params,
            drift_detected: false,
            mean: RunningMean::default(),
            sum_increase: 0.0,
            sum_decrease: 0.0,
            min_increase: None,
            max_decrease: INITIAL_MAX_DECREASE,
        }
    }

    fn test_increase(&self) -> f64 {
        self.sum_increase - self.min_increase.unwrap_or(f64::INFINITY)
    }

    fn test_decrease(&self) -> f64 {
        self.max_decrease - self.sum_decrease
    }
}

impl DriftDetector for PageHinkley {
    fn update(&mut self, x: f64) -> DetectorOutput {
        if self.drift_detected {
            self.reset();
        }
        self.mean.update(x);
        let dev = x - self.mean.mean;
        let p = self.params;
        self.sum_increase = p.alpha * self.sum_increase + dev - p.delta;
        self.sum_decrease = p.alpha * self.sum_decrease + dev + p.delta;
        if self.sum_increase < self.min_increase.unwrap_or(f64::INFINITY) {
            self.min_increase = Some(self.sum_increase);
        }
        if self.sum_decrease > self.max_decrease {
            self.max_decrease = self.sum_decrease;
        }
        if self.mean.n >= f64::from(p.min_instances) {
            let up = self.test_increase() > p.threshold;
            let down = self.test_decrease() > p.threshold;
            self.drift_detected = match p.mode {
                PageHinkleyMode::Up => up,
                PageHinkleyMode::Down => down,
                PageHinkleyMode::Both => up || down,
            };
        }
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
                Named::new("min_instances", ParamValue::Int(p.min_instances.into())),
                Named::new("delta", ParamValue::Float(p.delta)),
                Named::new("threshold", ParamValue::Float(p.threshold)),
                Named::new("alpha", ParamValue::Float(p.alpha)),
                Named::new("mode", ParamValue::Text(p.mode.as_str().to_owned())),
            ],
        }
    }

    fn evidence(&self) -> Vec<Named<f64>> {
        let mut out = vec![Named::new("threshold", self.params.threshold)];
        // Before the first update the increase minimum is still River's +inf.
        if self.min_increase.is_some() {
            out.push(Named::new("test_increase", self.test_increase()));
            out.push(Named::new("test_decrease", self.test_decrease()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mean shift upwards is flagged in "up" mode and ignored in "down" mode.
    #[test]
    fn mode_selects_direction() {
        let stream: Vec<f64> = (0..600).map(|i| if i < 300 { 0.0 } else { 2.0 }).collect();
        for (mode, expected) in [(PageHinkleyMode::Up, true), (PageHinkleyMode::Down, false)] {
            let params = PageHinkleyParams {
                mode,
                ..PageHinkleyParams::default()
            };
            let mut d = PageHinkley::new(params).expect("valid");
            assert_eq!(
                stream.iter().any(|&x| d.update(x).drift),
                expected,
                "{mode:?}"
            );
        }
    }

    /// No drift can be flagged before `min_instances` observations.
    #[test]
    fn silent_before_min_instances() {
        let params = PageHinkleyParams {
            threshold: 0.1,
            ..PageHinkleyParams::default()
        };
        let mut d = PageHinkley::new(params).expect("valid");
        for i in 0..29 {
            assert!(!d.update(f64::from(i) * 100.0).drift);
        }
        assert!(d.update(1e6).drift);
    }

    /// A negative tolerance or an alpha above one is rejected.
    #[test]
    fn rejects_bad_parameters() {
        let p = PageHinkleyParams {
            delta: -1.0,
            ..PageHinkleyParams::default()
        };
        assert!(PageHinkley::new(p).is_err());
        let p = PageHinkleyParams {
            alpha: 1.01,
            ..PageHinkleyParams::default()
        };
        assert!(PageHinkley::new(p).is_err());
    }
}

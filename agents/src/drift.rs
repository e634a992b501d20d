//! Drift detection for the DriftJudge.
//!
//! Concept drift is watched on a stream of numbers (usually the champion's 0/1 online
//! errors) by the detectors in the submodules, all behind [`DriftDetector`]. Data drift is
//! judged per feature against a reference sample by [`data_drift::feature_drift`].
//!
//! Every detector reproduces River 0.26.1 step for step, including its warm-up and its
//! habit of resetting itself on the update *after* the one that flagged drift, so the
//! indices at which drift is flagged match River's on identical input (see
//! `tests/river_fixtures.rs`).

use serde::{Deserialize, Serialize};

use crate::error::{invalid, Result};

pub mod adwin;
pub mod data_drift;
pub mod ddm;
pub mod distances;
pub mod hddm_a;
pub mod hddm_w;
pub mod ks;
pub mod kswin;
pub mod page_hinkley;
pub mod py_random;
pub mod special;

pub use adwin::{Adwin, AdwinParams};
pub use ddm::{Ddm, DdmParams};
pub use hddm_a::{HddmA, HddmAParams};
pub use hddm_w::{HddmW, HddmWParams};
pub use kswin::{Kswin, KswinParams};
pub use page_hinkley::{PageHinkley, PageHinkleyMode, PageHinkleyParams};

/// What a detector concluded after one update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DetectorOutput {
    /// The detector flagged a change at this update.
    pub drift: bool,
    /// The detector is in its warning zone (only DDM and the HDDMs have one).
    pub warning: bool,
}

/// One parameter value, typed so that descriptions serialise faithfully.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A real-valued parameter such as `delta`.
    Float(f64),
    /// A count such as `window_size`.
    Int(u64),
    /// A switch such as `two_sided_test`.
    Bool(bool),
    /// A choice such as Page-Hinkley's `mode`.
    Text(String),
}

/// A named number: one parameter, or one piece of evidence behind a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Named<T> {
    /// The name, spelled as River spells the parameter or attribute.
    pub name: String,
    /// The value.
    pub value: T,
}

impl<T> Named<T> {
    /// Pairs a name with a value.
    pub fn new(name: &str, value: T) -> Self {
        Self {
            name: name.to_owned(),
            value,
        }
    }
}

/// A detector's name and its parameters, as recorded in events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorDescription {
    /// The detector's name, as River's class is known (e.g. `"ADWIN"`).
    pub name: String,
    /// Every parameter with its value, in River's order.
    pub params: Vec<Named<ParamValue>>,
}

/// A concept-drift detector over a stream of `f64`.
///
/// Implementations are deterministic: the same parameters and inputs always give the same
/// outputs, and a detector restored from its serialised state continues exactly as the
/// original would have.
pub trait DriftDetector {
    /// Feeds one observation and reports whether drift or a warning is flagged now.
    fn update(&mut self, x: f64) -> DetectorOutput;

    /// Forgets everything seen so far, keeping the parameters.
    fn reset(&mut self);

    /// The detector's name and parameters.
    fn describe(&self) -> DetectorDescription;

    /// The current test statistic(s) and the threshold(s) they are compared with.
    ///
    /// These numbers become the `evidence` of a DriftDetected event, so they are the ones
    /// the last [`DriftDetector::update`] compared.
    fn evidence(&self) -> Vec<Named<f64>>;
}

/// Rejects a probability-like parameter outside the open interval (0, 1).
pub(crate) fn check_open_unit(component: &'static str, name: &'static str, v: f64) -> Result<()> {
    if v > 0.0 && v < 1.0 {
        Ok(())
    } else {
        Err(invalid(
            component,
            name,
            v,
            "must lie in the open interval (0, 1)",
        ))
    }
}

/// Rejects a non-finite or non-positive parameter.
pub(crate) fn check_positive(component: &'static str, name: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(
            component,
            name,
            v,
            "must be finite and greater than zero",
        ))
    }
}

/// Any of the six concept-drift detectors, tagged by River's name when serialised, so the
/// DriftJudge's state and snapshots can hold whichever one a policy picks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "detector")]
pub enum AnyDetector {
    /// ADWIN.
    #[serde(rename = "ADWIN")]
    Adwin(Adwin),
    /// DDM.
    #[serde(rename = "DDM")]
    Ddm(Ddm),
    /// HDDM_A.
    #[serde(rename = "HDDM_A")]
    HddmA(HddmA),
    /// HDDM_W.
    #[serde(rename = "HDDM_W")]
    HddmW(HddmW),
    /// Page-Hinkley.
    #[serde(rename = "PageHinkley")]
    PageHinkley(PageHinkley),
    /// KSWIN.
    #[serde(rename = "KSWIN")]
    Kswin(Kswin),
}

impl AnyDetector {
    fn inner(&self) -> &dyn DriftDetector {
        match self {
            Self::Adwin(d) => d,
            Self::Ddm(d) => d,
            Self::HddmA(d) => d,
            Self::HddmW(d) => d,
            Self::PageHinkley(d) => d,
            Self::Kswin(d) => d,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn DriftDetector {
        match self {
            Self::Adwin(d) => d,
            Self::Ddm(d) => d,
            Self::HddmA(d) => d,
            Self::HddmW(d) => d,
            Self::PageHinkley(d) => d,
            Self::Kswin(d) => d,
        }
    }
}

impl DriftDetector for AnyDetector {
    fn update(&mut self, x: f64) -> DetectorOutput {
        self.inner_mut().update(x)
    }

    fn reset(&mut self) {
        self.inner_mut().reset();
    }

    fn describe(&self) -> DetectorDescription {
        self.inner().describe()
    }

    fn evidence(&self) -> Vec<Named<f64>> {
        self.inner().evidence()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The open-unit check accepts interior values and rejects both ends and NaN.
    #[test]
    fn open_unit_check_rejects_edges() {
        assert!(check_open_unit("T", "p", 0.5).is_ok());
        for bad in [0.0, 1.0, -0.1, f64::NAN] {
            assert!(check_open_unit("T", "p", bad).is_err(), "{bad} accepted");
        }
    }

    /// The positivity check rejects zero, negatives, NaN and infinity.
    #[test]
    fn positive_check_rejects_non_positive() {
        assert!(check_positive("T", "t", 3.0).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(check_positive("T", "t", bad).is_err(), "{bad} accepted");
        }
    }

    /// The enum delegates to the wrapped detector: same outputs, same description.
    #[test]
    fn delegates_to_inner_detector() {
        let params = PageHinkleyParams::default();
        let mut bare = PageHinkley::new(params).expect("valid");
        let mut any = AnyDetector::PageHinkley(PageHinkley::new(params).expect("valid"));
        for i in 0..500 {
            let x = if i < 250 { 0.0 } else { 4.0 };
            assert_eq!(any.update(x), bare.update(x), "at {i}");
        }
        assert_eq!(any.describe().name, "PageHinkley");
        let adwin = AnyDetector::Adwin(Adwin::new(AdwinParams::default()).expect("valid"));
        assert_eq!(adwin.describe().name, "ADWIN");
    }
}

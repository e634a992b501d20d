//! ADWIN, the adaptive-windowing change detector (Bifet and Gavaldà, 2007).
//!
//! This follows River 0.26.1's Rust `AdaptiveWindowing` (itself a port of the earlier
//! Cython `adwin_c.pyx`) operation for operation, because ADWIN's cut test compares two
//! floating-point numbers and a different order of additions can move a detection.

use serde::{Deserialize, Serialize};

use super::{
    check_open_unit, DetectorDescription, DetectorOutput, DriftDetector, Named, ParamValue,
};
use crate::error::{invalid, Result};

const NAME: &str = "ADWIN";

/// ADWIN's parameters, named and defaulted as in River.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdwinParams {
    /// Significance value of the cut test, in (0, 1).
    pub delta: f64,
    /// The window is checked for a cut every `clock` updates.
    pub clock: u32,
    /// How many summaries of each size are kept before two are merged.
    pub max_buckets: u32,
    /// Sub-windows shorter than this are never compared.
    pub min_window_length: u32,
    /// No check is made until the window holds more than this many points.
    pub grace_period: u32,
}

impl Default for AdwinParams {
    fn default() -> Self {
        Self {
            delta: 0.002,
            clock: 32,
            max_buckets: 5,
            min_window_length: 5,
            grace_period: 10,
        }
    }
}

/// One row of the exponential histogram: summaries that each cover 2^row points.
///
/// Index 0 is the oldest summary of the row; new summaries are pushed at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    totals: Vec<f64>,
    variances: Vec<f64>,
}

impl Row {
    fn new() -> Self {
        Self {
            totals: Vec::new(),
            variances: Vec::new(),
        }
    }

    fn push(&mut self, total: f64, variance: f64) {
        self.totals.push(total);
        self.variances.push(variance);
    }

    /// Drops the `n` oldest summaries of the row.
    fn drop_oldest(&mut self, n: usize) {
        self.totals.drain(..n);
        self.variances.drain(..n);
    }

    fn len(&self) -> usize {
        self.totals.len()
    }
}

/// The cut closest to (or furthest past) the threshold in the latest check.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
struct CutEvidence {
    mean_difference: f64,
    epsilon_cut: f64,
}

/// ADWIN detector; see the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adwin {
    params: AdwinParams,
    drift_detected: bool,
    total: f64,
    variance: f64,
    width: f64,
    tick: u64,
    rows: Vec<Row>,
    last_cut: Option<CutEvidence>,
}

impl Adwin {
    /// Builds a detector, rejecting parameters outside ADWIN's domain.
    pub fn new(params: AdwinParams) -> Result<Self> {
        check_open_unit(NAME, "delta", params.delta)?;
        if params.clock == 0 {
            return Err(invalid(NAME, "clock", params.clock, "must be at least 1"));
        }
        if params.max_buckets == 0 {
            return Err(invalid(
                NAME,
                "max_buckets",
                params.max_buckets,
                "must be at least 1",
            ));
        }
        Ok(Self {
            params,
            drift_detected: false,
            total: 0.0,
            variance: 0.0,
            width: 0.0,
            tick: 0,
            rows: vec![Row::new()],
            last_cut: None,
        })
    }

    /// Number of points in the current adaptive window.
    pub fn width(&self) -> f64 {
        self.width
    }

    /// Mean of the current window (0 when it is empty, as in River).
    pub fn estimation(&self) -> f64 {
        if self.width == 0.0 {
            0.0
        } else {
            self.total / self.width
        }
    }

    fn max_per_row(&self) -> usize {
        self.params.max_buckets as usize
    }

    /// Appends a point and merges full rows, updating the streaming variance first.
    fn insert(&mut self, value: f64) {
        // Only a hand-edited snapshot can lack the first row; recreate it rather than panic.
        if self.rows.is_empty() {
            self.rows.push(Row::new());
        }
        self.rows[0].push(value, 0.0);
        self.width += 1.0;
        let mut incremental = 0.0;
        if self.width > 1.0 {
            let d = value - self.total / (self.width - 1.0);
            incremental = (self.width - 1.0) * d * d / self.width;
        }
        self.variance += incremental;
        self.total += value;
        self.merge_full_rows();
    }

    /// A row holding `max_buckets + 1` summaries merges its two oldest into the next row.
    fn merge_full_rows(&mut self) {
        let mut i = 0;
        while self.rows[i].len() == self.max_per_row() + 1 {
            let size = (1u64 << i) as f64;
            let (t0, t1) = (self.rows[i].totals[0], self.rows[i].totals[1]);
            let (v0, v1) = (self.rows[i].variances[0], self.rows[i].variances[1]);
            let (mu0, mu1) = (t0 / size, t1 / size);
            let merged_variance = v0 + v1 + size * 0.5 * (mu0 - mu1) * (mu0 - mu1);
            if i + 1 == self.rows.len() {
                self.rows.push(Row::new());
            }
            self.rows[i + 1].push(t0 + t1, merged_variance);
            self.rows[i].drop_oldest(2);
            i += 1;
        }
    }

    /// Removes the oldest summary, which always sits in the last row.
    fn drop_oldest_summary(&mut self) {
        let last = self.rows.len() - 1;
        let size = (1u64 << last) as f64;
        let (u, v) = (self.rows[last].totals[0], self.rows[last].variances[0]);
        let mu = u / size;
        self.width -= size;
        self.total -= u;
        let mu_window = self.total / self.width;
        self.variance -=
            v + size * self.width * (mu - mu_window) * (mu - mu_window) / (size + self.width);
        self.rows[last].drop_oldest(1);
        if self.rows[last].len() == 0 && last > 0 {
            self.rows.pop();
        }
    }

    /// Hoeffding-style bound that `|mean(W0) - mean(W1)|` must exceed for a cut.
    fn epsilon_cut(&self, n0: f64, n1: f64) -> f64 {
        let min_len = f64::from(self.params.min_window_length);
        let delta_prime = (2.0 * self.width.ln() / self.params.delta).ln();
        let m_recip = 1.0 / (n0 - min_len + 1.0) + 1.0 / (n1 - min_len + 1.0);
        (2.0 * m_recip * (self.variance / self.width) * delta_prime).sqrt()
            + 2.0 / 3.0 * delta_prime * m_recip
    }

    /// Scans every split point from the oldest end; on the first cut, drops the oldest
    /// summary and reports `true` so the caller scans again.
    fn scan_once(&mut self) -> bool {
        let min_len = f64::from(self.params.min_window_length);
        let (mut n0, mut n1, mut u0, mut u1) = (0.0, self.width, 0.0, self.total);
        for i in (0..self.rows.len()).rev() {
            let size = (1u64 << i) as f64;
            let len = self.rows[i].len();
            for k in 0..len {
                n0 += size;
                n1 -= size;
                let t = self.rows[i].totals[k];
                u0 += t;
                u1 -= t;
                // The split after the newest summary leaves W1 empty: River stops here.
                if i == 0 && k + 1 == len {
                    return false;
                }
                if n1 < min_len || n0 < min_len {
                    continue;
                }
                let gap = ((u0 / n0) - (u1 / n1)).abs();
                let eps = self.epsilon_cut(n0, n1);
                let better = self
                    .last_cut
                    .is_none_or(|c| gap - eps > c.mean_difference - c.epsilon_cut);
                if better {
                    self.last_cut = Some(CutEvidence {
                        mean_difference: gap,
                        epsilon_cut: eps,
                    });
                }
                if gap > eps && self.width > 0.0 {
                    self.last_cut = Some(CutEvidence {
                        mean_difference: gap,
                        epsilon_cut: eps,
                    });
                    self.drop_oldest_summary();
                    return true;
                }
            }
        }
        false
    }

    fn detect_change(&mut self) -> bool {
        self.tick += 1;
        let mut detected = false;
        if self.tick.is_multiple_of(u64::from(self.params.clock))
            && self.width > f64::from(self.params.grace_period)
        {
            self.last_cut = None;
            while self.scan_once() {
                detected = true;
            }
        }
        detected
    }
}

impl DriftDetector for Adwin {
    fn update(&mut self, x: f64) -> DetectorOutput {
        // River rebuilds the whole window on the update after a detection.
        if self.drift_detected {
            self.reset();
        }
        self.insert(x);
        self.drift_detected = self.detect_change();
        DetectorOutput {
            drift: self.drift_detected,
            warning: false,
        }
    }

    fn reset(&mut self) {
        *self = Self {
            params: self.params,
            drift_detected: false,
            total: 0.0,
            variance: 0.0,
            width: 0.0,
            tick: 0,
            rows: vec![Row::new()],
            last_cut: None,
        };
    }

    fn describe(&self) -> DetectorDescription {
        let p = &self.params;
        DetectorDescription {
            name: NAME.to_owned(),
            params: vec![
                Named::new("delta", ParamValue::Float(p.delta)),
                Named::new("clock", ParamValue::Int(p.clock.into())),
                Named::new("max_buckets", ParamValue::Int(p.max_buckets.into())),
                Named::new(
                    "min_window_length",
                    ParamValue::Int(p.min_window_length.into()),
                ),
                Named::new("grace_period", ParamValue::Int(p.grace_period.into())),
            ],
        }
    }

    fn evidence(&self) -> Vec<Named<f64>> {
        let cut = self.last_cut.unwrap_or_default();
        vec![
            Named::new("width", self.width),
            Named::new("estimation", self.estimation()),
            Named::new("mean_difference", cut.mean_difference),
            Named::new("epsilon_cut", cut.epsilon_cut),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A constant stream never drifts and the window keeps every point.
    #[test]
    fn constant_stream_never_drifts_and_window_grows() {
        let mut d = Adwin::new(AdwinParams::default()).expect("defaults are valid");
        for i in 0..3000 {
            assert!(!d.update(1.0).drift, "drift at {i}");
        }
        assert_eq!(d.width(), 3000.0);
        assert_eq!(d.estimation(), 1.0);
    }

    /// A jump of the mean is detected, and the window shrinks at the detection.
    #[test]
    fn detects_jump_and_shrinks_window() {
        let mut d = Adwin::new(AdwinParams::default()).expect("defaults are valid");
        let mut hit = None;
        for i in 0..2000 {
            let x = if i < 1000 {
                f64::from(i % 2)
            } else {
                5.0 + f64::from(i % 2)
            };
            if d.update(x).drift {
                hit = Some(i);
                break;
            }
        }
        let at = hit.expect("a jump of five standard deviations must be detected");
        assert!((1000..1100).contains(&at), "detected at {at}");
        assert!(d.width() < f64::from(at), "window did not shrink");
        let ev = d.evidence();
        assert!(
            ev[2].value > ev[3].value,
            "evidence must show the gap above epsilon"
        );
    }

    /// Delta outside (0, 1) and a zero clock are rejected instead of panicking.
    #[test]
    fn rejects_bad_parameters() {
        for delta in [0.0, 1.0, 2.0, f64::NAN] {
            assert!(Adwin::new(AdwinParams {
                delta,
                ..AdwinParams::default()
            })
            .is_err());
        }
        assert!(Adwin::new(AdwinParams {
            clock: 0,
            ..AdwinParams::default()
        })
        .is_err());
        assert!(Adwin::new(AdwinParams {
            max_buckets: 0,
            ..AdwinParams::default()
        })
        .is_err());
    }
}

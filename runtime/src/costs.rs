//! What the loop's work costs: the deterministic cost model the sim's workers record,
//! and the sums per loop iteration read back from a log ([`ledger`]).
//!
//! The sim records modelled CPU seconds, never wall-clock time: a run's log must be the
//! same bytes for the same seed, and wall time differs between two runs and machines.
//! The model charges a training pass `rows x epochs x parameters` times a constant and a
//! scoring pass `rows x parameters` times another, both from the `[host.costs]` table of
//! the policy file, so that the numbers scale the way real training cost does. What the
//! work really took on this machine is measured beside the log ([`measured`]).

use ledgerloop_events::catalogue::Cost;
use serde::{Deserialize, Serialize};

pub mod ledger;
pub mod measured;

pub use ledger::{summarise, IterationCost};
pub use measured::{MeasuredCosts, MeasuredWork, Stopwatch, WorkKind};

/// The sim's cost model, the `[host.costs]` table of a policy file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostModel {
    /// CPU seconds per row, epoch and parameter of a training pass (forward and
    /// backward); about six floating-point operations per parameter and row at 1 GFLOP/s
    /// (default 6e-9).
    pub cpu_seconds_per_row_epoch_parameter: f64,
    /// CPU seconds per row and parameter of a scoring pass (forward only; default 2e-9).
    pub cpu_seconds_per_row_parameter_scored: f64,
}

impl Default for CostModel {
    fn default() -> Self {
        Self {
            cpu_seconds_per_row_epoch_parameter: 6e-9,
            cpu_seconds_per_row_parameter_scored: 2e-9,
        }
    }
}

impl CostModel {
    /// Rejects constants no run could use.
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (name, v) in [
            (
                "cpu_seconds_per_row_epoch_parameter",
                self.cpu_seconds_per_row_epoch_parameter,
            ),
            (
                "cpu_seconds_per_row_parameter_scored",
                self.cpu_seconds_per_row_parameter_scored,
            ),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("host.costs.{name} = {v}: must be finite and >= 0"));
            }
        }
        Ok(())
    }

    /// A training job: `rows` rows for `epochs` epochs of a model of `parameters`
    /// parameters, producing an artifact of `artifact_bytes` bytes.
    pub fn training(
        &self,
        rows: usize,
        epochs: usize,
        parameters: u64,
        artifact_bytes: u64,
    ) -> Cost {
        let work = rows as f64 * epochs as f64 * parameters as f64;
        Cost {
            cpu_seconds: work * self.cpu_seconds_per_row_epoch_parameter,
            artifact_bytes,
            ..Cost::default()
        }
    }

    /// Scoring `rows` rows with a model of `parameters` parameters.
    pub fn scoring(&self, rows: usize, parameters: u64) -> f64 {
        rows as f64 * parameters as f64 * self.cpu_seconds_per_row_parameter_scored
    }

    /// A distillation: the teacher scores the transfer set once for its soft targets,
    /// the student trains on it for `epochs` epochs.
    pub fn distillation(
        &self,
        rows: usize,
        epochs: usize,
        teacher_parameters: u64,
        student_parameters: u64,
        artifact_bytes: u64,
    ) -> Cost {
        let mut cost = self.training(rows, epochs, student_parameters, artifact_bytes);
        cost.cpu_seconds += self.scoring(rows, teacher_parameters);
        cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Training cost grows linearly in rows, epochs and parameters, and scoring is
    /// charged once per row.
    #[test]
    fn cost_scales_with_the_work() {
        let m = CostModel {
            cpu_seconds_per_row_epoch_parameter: 1e-3,
            cpu_seconds_per_row_parameter_scored: 1e-4,
        };
        let one = m.training(10, 2, 5, 7).cpu_seconds;
        assert!((one - 0.1).abs() < 1e-12);
        assert!((m.training(20, 2, 5, 7).cpu_seconds - 2.0 * one).abs() < 1e-12);
        let d = m.distillation(10, 2, 100, 5, 3);
        assert!((d.cpu_seconds - (0.1 + 0.1)).abs() < 1e-12, "{d:?}");
        assert_eq!(d.artifact_bytes, 3);
        assert!(CostModel {
            cpu_seconds_per_row_parameter_scored: f64::NAN,
            ..m
        }
        .validate()
        .is_err());
    }
}

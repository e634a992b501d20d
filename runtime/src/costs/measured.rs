//! CPU time the workers really took, measured while they ran and kept beside the log,
//! never in it.
//!
//! The log carries the deterministic cost model's CPU seconds so that the same seed
//! writes the same bytes on every machine; a measurement differs from run to run. The
//! host measures every training, distillation and evaluation it runs (process CPU time
//! before and after, plus wall time) and the run writes the list to
//! [`MEASURED_COSTS_FILE`] in its folder, so the model's constants can be checked
//! against this machine (`ledgerloop sim` prints both totals).

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// File (in a run's folder) of the measured costs.
pub const MEASURED_COSTS_FILE: &str = "measured_costs.json";

/// Most pieces of work one run keeps a measurement of; later ones are counted only.
/// A 90-day ONT run does a few hundred, so this bound is never near in practice.
pub const MAX_MEASURED_WORKS: usize = 100_000;

/// Clock ticks per second of `/proc/self/stat` (`USER_HZ`, fixed at 100 by the Linux
/// ABI on every architecture this runs on).
const PROC_TICKS_PER_SECOND: f64 = 100.0;

/// What kind of work a measurement is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    /// A training job (`ModelTrained` or `TrainingFailed`).
    Training,
    /// A distillation (`StudentDistilled`).
    Distillation,
    /// Scoring a candidate and the champion on held-out rows.
    Evaluation,
}

/// One piece of work, measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredWork {
    /// Simulated hour it ran in.
    pub hour: u64,
    /// What it was.
    pub kind: WorkKind,
    /// Job id, or the candidate's model id for an evaluation.
    pub subject: String,
    /// Process CPU seconds (user + system, every thread) it took; `None` where the
    /// platform has no `/proc/self/stat`.
    pub cpu_seconds_measured: Option<f64>,
    /// Wall-clock seconds it took.
    pub wall_seconds: f64,
    /// CPU seconds the cost model charged for it in the log (0 when it failed).
    pub cpu_seconds_modelled: f64,
}

/// The measurements of one run, in the order the work ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeasuredCosts {
    /// Every measured piece of work (at most [`MAX_MEASURED_WORKS`]).
    pub works: Vec<MeasuredWork>,
    /// Pieces of work beyond [`MAX_MEASURED_WORKS`], not kept.
    pub works_not_kept: u64,
}

/// Totals of one kind of work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MeasuredTotals {
    /// Pieces of work.
    pub works: u64,
    /// Measured process CPU seconds (of the works that could be measured).
    pub cpu_seconds_measured: f64,
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// CPU seconds the cost model charged.
    pub cpu_seconds_modelled: f64,
}

impl MeasuredCosts {
    /// Keeps one measurement (or counts it once the list is full).
    pub fn push(&mut self, work: MeasuredWork) {
        if self.works.len() < MAX_MEASURED_WORKS {
            self.works.push(work);
        } else {
            self.works_not_kept += 1;
        }
    }

    /// Totals of the kept works of `kind` (all kinds with `None`).
    pub fn totals(&self, kind: Option<WorkKind>) -> MeasuredTotals {
        let mut t = MeasuredTotals::default();
        for w in self
            .works
            .iter()
            .filter(|w| kind.is_none_or(|k| w.kind == k))
        {
            t.works += 1;
            t.cpu_seconds_measured += w.cpu_seconds_measured.unwrap_or(0.0);
            t.wall_seconds += w.wall_seconds;
            t.cpu_seconds_modelled += w.cpu_seconds_modelled;
        }
        t
    }

    /// Writes the measurements to [`MEASURED_COSTS_FILE`] in `folder`.
    pub fn write(&self, folder: &Path) -> Result<()> {
        let path = folder.join(MEASURED_COSTS_FILE);
        let json = serde_json::to_vec_pretty(self)?;
        std::fs::write(&path, json).map_err(crate::error::io(&path))
    }
}

/// Measures one piece of work from [`Stopwatch::start`] to [`Stopwatch::stop`].
#[derive(Debug)]
pub struct Stopwatch {
    cpu_seconds_at_start: Option<f64>,
    wall_at_start: Instant,
}

impl Stopwatch {
    /// Starts measuring now.
    pub fn start() -> Self {
        Self {
            cpu_seconds_at_start: process_cpu_seconds(),
            wall_at_start: Instant::now(),
        }
    }

    /// The measurement of the work since [`Stopwatch::start`].
    pub fn stop(
        self,
        hour: u64,
        kind: WorkKind,
        subject: &str,
        cpu_seconds_modelled: f64,
    ) -> MeasuredWork {
        let cpu_seconds_measured = self
            .cpu_seconds_at_start
            .zip(process_cpu_seconds())
            .map(|(start, end)| (end - start).max(0.0));
        MeasuredWork {
            hour,
            kind,
            subject: subject.to_string(),
            cpu_seconds_measured,
            wall_seconds: self.wall_at_start.elapsed().as_secs_f64(),
            cpu_seconds_modelled,
        }
    }
}

/// User + system CPU seconds of this process so far, every thread included (candle's
/// matrix products may use several), from `/proc/self/stat`; `None` where that file
/// is missing or unreadable.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_proc_stat(&stat)
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in seconds. The command name (field
/// 2) is in parentheses and may contain spaces, so fields are counted after its `)`.
fn parse_proc_stat(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields 3.. follow the name; utime and stime are fields 14 and 15.
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / PROC_TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// utime and stime are read after the command name, even one with spaces and `)`.
    #[test]
    fn proc_stat_fields_are_found_after_the_name() {
        let line = "4242 (ledger loop) x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 75 0 0 \
                    20 0 3 0 100 0 0";
        assert_eq!(parse_proc_stat(line), Some(3.25));
        assert_eq!(parse_proc_stat("4242 (short) S 1 2"), None);
        assert_eq!(parse_proc_stat("no name at all"), None);
    }

    /// Burning CPU shows up in the measurement, and the totals add up per kind.
    #[test]
    fn measured_cpu_grows_with_work_and_totals_add_up() {
        let watch = Stopwatch::start();
        let mut x = 0u64;
        let begun = Instant::now();
        while begun.elapsed().as_millis() < 300 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let work = watch.stop(3, WorkKind::Training, "job-1", 0.5);
        if let Some(cpu) = work.cpu_seconds_measured {
            assert!(cpu >= 0.1, "300 ms of spinning measured as {cpu} s");
        }
        assert!(work.wall_seconds >= 0.3);
        let mut all = MeasuredCosts::default();
        all.push(work.clone());
        all.push(MeasuredWork {
            kind: WorkKind::Evaluation,
            ..work
        });
        assert_eq!(all.totals(Some(WorkKind::Training)).works, 1);
        let total = all.totals(None);
        assert_eq!(total.works, 2);
        assert!((total.cpu_seconds_modelled - 1.0).abs() < 1e-12);
    }
}

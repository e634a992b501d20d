//! `summary.json` and the terminal table. Both are pure functions of the run output and
//! the resolved scenario, so same scenario + seed gives the same bytes.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Scenario;
use crate::engine::{DayReport, RunOutput, Training};
use crate::error::{Error, Result};
use crate::metrics::ArmDay;
use crate::world::recommend::{RecommendArm, RecommendDay};
use crate::world::QuarantinedRow;

mod costs;
mod table;

pub use costs::{CostSummary, CostTotals, IterationCost, PerAccuracyPoint};

/// Days in the first / last window of the summary.
pub const WINDOW_DAYS: usize = 7;

/// Mean figures of one arm over a window of days.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmMeans {
    /// Mean daily accuracy (evaluation population, see `evaluation.accuracy_on`).
    pub accuracy: f64,
    /// Mean daily balanced accuracy on all rows.
    pub balanced_accuracy: f64,
    /// Mean daily F1 on all rows.
    pub f1: f64,
}

/// Means of the three arms over a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowMeans {
    /// First day of the window.
    pub first_day: u32,
    /// Last day of the window (inclusive).
    pub last_day: u32,
    /// Static baseline.
    pub static_arm: ArmMeans,
    /// Served by the policy.
    pub served: ArmMeans,
    /// Oracle baseline.
    pub oracle: ArmMeans,
}

/// The content of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The scenario as run (after `--set` overrides).
    pub scenario: Scenario,
    /// sha256 of the canonical JSON of `scenario`.
    pub scenario_sha256: String,
    /// Policy that served.
    pub policy: String,
    /// Learner of the baselines.
    pub learner: String,
    /// Classification means over the first 7 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_week: Option<WindowMeans>,
    /// Classification means over the last 7 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_week: Option<WindowMeans>,
    /// Recommend means over the first 7 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommend_first_week: Option<RecommendWindow>,
    /// Recommend means over the last 7 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommend_last_week: Option<RecommendWindow>,
    /// Baseline trainings.
    pub trainings: Vec<Training>,
    /// Per-day reports (classification worlds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<DayReport>,
    /// Per-day reports (recommend world).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recommend_days: Vec<RecommendDay>,
    /// Rows set aside by a replay.
    pub quarantined: Vec<QuarantinedRow>,
    /// What a governed run spent (filled by the sim host from the log after the run;
    /// absent for the static policy and in summaries written before costs existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub costs: Option<CostSummary>,
}

/// sha256 (hex) of the scenario's canonical JSON.
pub fn scenario_sha256(scenario: &Scenario) -> Result<String> {
    let json = serde_json::to_vec(scenario)?;
    Ok(hex(&Sha256::digest(&json)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn means(days: &[DayReport], pick: impl Fn(&DayReport) -> &ArmDay) -> ArmMeans {
    let n = days.len().max(1) as f64;
    ArmMeans {
        accuracy: days.iter().map(|d| pick(d).accuracy).sum::<f64>() / n,
        balanced_accuracy: days.iter().map(|d| pick(d).balanced_accuracy).sum::<f64>() / n,
        f1: days.iter().map(|d| pick(d).f1).sum::<f64>() / n,
    }
}

/// Means of the three arms over `days`.
pub fn window(days: &[DayReport]) -> WindowMeans {
    WindowMeans {
        first_day: days.first().map_or(0, |d| d.day),
        last_day: days.last().map_or(0, |d| d.day),
        static_arm: means(days, |d| &d.static_arm),
        served: means(days, |d| &d.served),
        oracle: means(days, |d| &d.oracle),
    }
}

/// Means of the three recommend arms over a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecommendWindow {
    /// First day of the window.
    pub first_day: u32,
    /// Last day of the window (inclusive).
    pub last_day: u32,
    /// Static baseline.
    pub static_arm: RecommendArm,
    /// Served.
    pub served: RecommendArm,
    /// Oracle baseline.
    pub oracle: RecommendArm,
}

fn recommend_window(days: &[RecommendDay]) -> RecommendWindow {
    let n = days.len().max(1) as f64;
    let mean = |pick: fn(&RecommendDay) -> &RecommendArm| RecommendArm {
        ctr: days.iter().map(|d| pick(d).ctr).sum::<f64>() / n,
        hit_rate: days.iter().map(|d| pick(d).hit_rate).sum::<f64>() / n,
        ndcg: days.iter().map(|d| pick(d).ndcg).sum::<f64>() / n,
    };
    RecommendWindow {
        first_day: days.first().map_or(0, |d| d.day),
        last_day: days.last().map_or(0, |d| d.day),
        static_arm: mean(|d| &d.static_arm),
        served: mean(|d| &d.served),
        oracle: mean(|d| &d.oracle),
    }
}

/// The first and last `WINDOW_DAYS` of `days` (None when there are no days).
fn first_last<T>(days: &[T]) -> Option<(&[T], &[T])> {
    if days.is_empty() {
        return None;
    }
    let week = days.len().min(WINDOW_DAYS);
    Some((&days[..week], &days[days.len() - week..]))
}

impl Summary {
    /// Builds the summary of a run.
    pub fn new(scenario: &Scenario, out: RunOutput) -> Result<Self> {
        let class = first_last(&out.days);
        let rec = first_last(&out.recommend_days);
        Ok(Self {
            scenario_sha256: scenario_sha256(scenario)?,
            scenario: scenario.clone(),
            policy: out.policy,
            learner: out.learner,
            first_week: class.map(|(f, _)| window(f)),
            last_week: class.map(|(_, l)| window(l)),
            recommend_first_week: rec.map(|(f, _)| recommend_window(f)),
            recommend_last_week: rec.map(|(_, l)| recommend_window(l)),
            trainings: out.trainings,
            days: out.days,
            recommend_days: out.recommend_days,
            quarantined: out.quarantined,
            costs: None,
        })
    }

    /// Pretty JSON, newline-terminated.
    pub fn to_json(&self) -> Result<String> {
        let mut s = serde_json::to_string_pretty(self)?;
        s.push('\n');
        Ok(s)
    }

    /// Writes `summary.json` into `dir` (created if absent).
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_file(&dir.join("summary.json"), self.to_json()?.as_bytes())
    }

    /// The per-day table for a terminal.
    pub fn table(&self) -> String {
        table::render(self)
    }
}

/// Writes `bytes` to `path`, creating the parent directory.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let wrap = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(wrap)?;
    }
    std::fs::write(path, bytes).map_err(wrap)
}

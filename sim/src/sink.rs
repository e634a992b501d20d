//! Where a run's records go. The engine knows nothing about files or the event log: it
//! hands every record, stamped with virtual time, to a [`RunSink`]. The CLI plugs in a
//! sink that appends to the event log; tests use [`MemorySink`]; [`NullSink`] drops all.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::{DayReport, Training};
use crate::error::Result;
use crate::world::recommend::RecommendDay;

/// What is known when a scenario starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioStart {
    /// Scenario name.
    pub name: String,
    /// World kind (`ont`, `intent`, `recommend`, `replay`).
    pub world: String,
    /// Master seed.
    pub seed: u64,
    /// Simulated days after the warm-up.
    pub days: u32,
    /// Warm-up days before day 0.
    pub warmup_days: u32,
    /// sha256 of the scenario as run (after overrides).
    pub scenario_sha256: String,
    /// Policy serving.
    pub policy: String,
    /// Learner of the baselines.
    pub learner: String,
}

/// One record of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "type", content = "payload", rename_all = "snake_case")]
pub enum SimRecord<'a> {
    /// Before the warm-up.
    ScenarioStarted(&'a ScenarioStart),
    /// A baseline (static or oracle) was (re)trained.
    BaselineTrained(&'a Training),
    /// A classification day ended; its figures for the three arms.
    DayClosed(&'a DayReport),
    /// A recommend day ended.
    RecommendDayClosed(&'a RecommendDay),
    /// After the last day: rows quarantined in total.
    ScenarioFinished {
        /// Days run.
        days: u32,
        /// Rows a replay set aside.
        quarantined: u64,
    },
}

/// Receives a run's records in order, each with the virtual time it happened at.
pub trait RunSink {
    /// Records one item.
    fn record(&mut self, time: DateTime<Utc>, record: SimRecord<'_>) -> Result<()>;
}

/// Drops everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl RunSink for NullSink {
    fn record(&mut self, _time: DateTime<Utc>, _record: SimRecord<'_>) -> Result<()> {
        Ok(())
    }
}

/// Keeps every record as a JSON line (time first), for tests and debugging.
#[derive(Debug, Default, Clone)]
pub struct MemorySink {
    /// `{"time":..,"type":..,"payload":..}` lines in order.
    pub lines: Vec<String>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: DateTime<Utc>,
    #[serde(flatten)]
    record: SimRecord<'a>,
}

impl RunSink for MemorySink {
    fn record(&mut self, time: DateTime<Utc>, record: SimRecord<'_>) -> Result<()> {
        self.lines
            .push(serde_json::to_string(&Line { time, record })?);
        Ok(())
    }
}

/// Watches a run's records after they were written, to show progress. An observer only
/// reads: it gets each record after the sink accepted it, cannot fail the run and cannot
/// change what is written, so a run with an observer writes the same bytes as one
/// without (tested in `tests/determinism.rs`).
pub trait RunObserver {
    /// Called once per record, in order, after the sink recorded it.
    fn observe(&mut self, time: DateTime<Utc>, record: &SimRecord<'_>);
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl RunObserver for NoObserver {
    fn observe(&mut self, _time: DateTime<Utc>, _record: &SimRecord<'_>) {}
}

/// A sink that records to `sink` and then shows the record to `observer`.
pub struct Observed<'a> {
    /// Where records are written.
    pub sink: &'a mut dyn RunSink,
    /// Who is shown each record once it is written.
    pub observer: &'a mut dyn RunObserver,
}

impl std::fmt::Debug for Observed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed").finish_non_exhaustive()
    }
}

impl RunSink for Observed<'_> {
    fn record(&mut self, time: DateTime<Utc>, record: SimRecord<'_>) -> Result<()> {
        self.sink.record(time, record)?;
        self.observer.observe(time, &record);
        Ok(())
    }
}

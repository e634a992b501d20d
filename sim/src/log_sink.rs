//! A [`RunSink`] that appends a run's records to the embedded event log, on stream
//! `world`, as the catalogue's world events (`ScenarioStarted`, `BaselineTrained`,
//! `DayClosed`). Event ids are UUID v7 built from virtual time and bytes of a seeded RNG,
//! so the same scenario and seed write the same log byte for byte.
//!
//! Every event is correlated with the `ScenarioStarted` event of its run; a day's
//! `DayClosed` is caused by the run's start, and the oracle retraining that follows a day
//! is caused by that day's `DayClosed`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use ledgerloop_events::catalogue::{BaselineTrained, DayClosed, ScenarioStarted};
use ledgerloop_events::{
    ids, Actor, Event, ExpectedVersion, FileLog, FileLogOptions, FsyncPolicy, NewEvent, SharedLog,
    StreamId,
};
use rand::RngCore;
use uuid::Uuid;

use crate::engine::{DayReport, Training};
use crate::error::Result;
use crate::metrics::ArmDay;
use crate::rng::{component_rng, SimRng};
use crate::sink::{RunSink, ScenarioStart, SimRecord};
use crate::world::recommend::{RecommendArm, RecommendDay};

/// Stream every world event goes to.
pub const WORLD_STREAM: &str = "world";

/// Appends a run's records to a log (the embedded [`FileLog`] or a remote backend).
#[derive(Debug)]
pub struct EventLogSink {
    log: SharedLog,
    stream: StreamId,
    actor: Actor,
    ids: SimRng,
    overrides: Vec<String>,
    started: Option<Uuid>,
    last_day: Option<Uuid>,
}

impl EventLogSink {
    /// Opens (creating) the log in `dir`; ids derive from `seed`; `overrides` are the
    /// `--set` assignments, recorded in `ScenarioStarted`.
    pub fn open(dir: &Path, seed: u64, overrides: &[String]) -> Result<Self> {
        Self::with_log(std::sync::Arc::new(open_log(dir)?), seed, overrides)
    }

    /// A sink on an already open log, which others (a policy's host) may append to as
    /// well: the world's events go to their own stream.
    pub fn with_log(log: SharedLog, seed: u64, overrides: &[String]) -> Result<Self> {
        Ok(Self {
            log,
            stream: StreamId::new(WORLD_STREAM)?,
            actor: Actor::new("world", "sim"),
            ids: component_rng(seed, "log/ids"),
            overrides: overrides.to_vec(),
            started: None,
            last_day: None,
        })
    }

    /// Flushes and closes the log.
    pub fn close(self) -> Result<()> {
        self.log.close_sync()?;
        Ok(())
    }

    fn append(&mut self, time: DateTime<Utc>, event: &Event, cause: Option<Uuid>) -> Result<Uuid> {
        let mut random = [0u8; 10];
        self.ids.fill_bytes(&mut random);
        let id = ids::deterministic_v7(time, random);
        let mut new = NewEvent::new(id, time, self.actor.clone(), event)?;
        if let Some(c) = cause.or(self.started) {
            new = new.caused_by(c);
        }
        if let Some(s) = self.started {
            new = new.correlated_with(s);
        }
        self.log
            .append_sync(&self.stream, ExpectedVersion::Any, vec![new])?;
        Ok(id)
    }
}

/// Opens (creating) a run's log as simulations do: no fsync, since a run that dies is
/// simply run again.
pub fn open_log(dir: &Path) -> Result<FileLog> {
    let options = FileLogOptions {
        fsync: FsyncPolicy::Never,
        ..Default::default()
    };
    Ok(FileLog::open(dir, options)?)
}

impl RunSink for EventLogSink {
    fn record(&mut self, time: DateTime<Utc>, record: SimRecord<'_>) -> Result<()> {
        match record {
            SimRecord::ScenarioStarted(start) => {
                let id = self.append(time, &started(start, &self.overrides), None)?;
                self.started = Some(id);
            }
            SimRecord::BaselineTrained(training) => {
                let cause = if training.day >= 0 {
                    self.last_day
                } else {
                    None
                };
                self.append(time, &trained(training), cause)?;
            }
            SimRecord::DayClosed(day) => {
                self.last_day = Some(self.append(time, &closed(day), None)?);
            }
            SimRecord::RecommendDayClosed(day) => {
                self.last_day = Some(self.append(time, &closed_recommend(day), None)?);
            }
            // The catalogue has no end-of-run event; the summary carries the totals.
            SimRecord::ScenarioFinished { .. } => {}
        }
        Ok(())
    }
}

fn started(start: &ScenarioStart, overrides: &[String]) -> Event {
    Event::ScenarioStarted(ScenarioStarted {
        scenario: start.name.clone(),
        seed: start.seed,
        days: start.days,
        config_sha256: start.scenario_sha256.clone(),
        overrides: overrides.to_vec(),
    })
}

fn trained(t: &Training) -> Event {
    let metrics = t
        .class_counts
        .iter()
        .enumerate()
        .map(|(c, n)| (format!("rows_class_{c}"), *n as f64))
        .collect();
    Event::BaselineTrained(BaselineTrained {
        arm: t.arm.clone(),
        model_id: t.version.clone(),
        // The static model is trained before day 0; it is recorded as of day 0.
        day: t.day.max(0) as u32,
        training_rows: t.class_counts.iter().sum(),
        metrics,
        warm_start: None,
    })
}

fn arm_metrics(a: &ArmDay) -> BTreeMap<String, f64> {
    BTreeMap::from([
        ("accuracy".to_string(), a.accuracy),
        ("balanced_accuracy".to_string(), a.balanced_accuracy),
        ("f1".to_string(), a.f1),
        ("rows".to_string(), a.rows as f64),
    ])
}

fn closed(d: &DayReport) -> Event {
    let mut arms = BTreeMap::from([
        ("static".to_string(), arm_metrics(&d.static_arm)),
        ("served".to_string(), arm_metrics(&d.served)),
        ("oracle".to_string(), arm_metrics(&d.oracle)),
    ]);
    for v in &d.served_versions {
        let m = BTreeMap::from([
            ("accuracy".to_string(), v.accuracy),
            ("balanced_accuracy".to_string(), v.balanced_accuracy),
            ("rows".to_string(), v.rows as f64),
        ]);
        arms.insert(format!("version:{}", v.version), m);
    }
    Event::DayClosed(DayClosed {
        day: d.day,
        arms,
        readings: d.served.rows,
        labels_spent: d.labels.asked,
    })
}

fn recommend_metrics(a: &RecommendArm, k: u32) -> BTreeMap<String, f64> {
    BTreeMap::from([
        ("ctr".to_string(), a.ctr),
        (format!("hr_at_{k}"), a.hit_rate),
        (format!("ndcg_at_{k}"), a.ndcg),
    ])
}

fn closed_recommend(d: &RecommendDay) -> Event {
    let mut arms = BTreeMap::from([
        ("static".to_string(), recommend_metrics(&d.static_arm, d.k)),
        ("served".to_string(), recommend_metrics(&d.served, d.k)),
        ("oracle".to_string(), recommend_metrics(&d.oracle, d.k)),
    ]);
    for v in &d.served_versions {
        let m = BTreeMap::from([
            ("online_ctr".to_string(), v.ctr),
            ("impressions".to_string(), v.impressions as f64),
            ("clicks".to_string(), v.clicks as f64),
        ]);
        arms.insert(format!("version:{}", v.version), m);
    }
    Event::DayClosed(DayClosed {
        day: d.day,
        arms,
        readings: d.sessions,
        labels_spent: 0,
    })
}

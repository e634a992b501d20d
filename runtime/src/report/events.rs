//! Reads a run's event log into the rows of the decision table and the chart markers.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use ledgerloop_events::{Event, FileLog, RecordedEvent};

use crate::error::Result;

/// Decisions the Perceiver and the drift judge take routinely, many times a day; the
/// table leaves them out and the page says how many there were.
pub const ROUTINE_TYPES: &[&str] = &[
    "LabelsRequested",
    "PseudoLabelsAccepted",
    "ReadingsQuarantined",
    "DriftNoticed",
];

/// Most evidence numbers shown in one table row.
pub const MAX_EVIDENCE_PER_ROW: usize = 8;

/// Payload keys that name a model, in the order they are looked for.
const MODEL_KEYS: &[&str] = &[
    "model_id",
    "candidate_model_id",
    "teacher_model_id",
    "parent_model_id",
];

/// What a vertical marker on the accuracy chart stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MarkerKind {
    /// `DriftDetected`.
    Drift,
    /// `TrainingStarted`.
    Training,
    /// `CanaryStarted`.
    Canary,
    /// `ModelPromoted`.
    Promotion,
    /// `RolledBack`.
    Rollback,
}

impl MarkerKind {
    /// Every kind, in legend order.
    pub const ALL: [MarkerKind; 5] = [
        MarkerKind::Drift,
        MarkerKind::Training,
        MarkerKind::Canary,
        MarkerKind::Promotion,
        MarkerKind::Rollback,
    ];

    fn of(event: &Event) -> Option<Self> {
        match event {
            Event::DriftDetected(_) => Some(MarkerKind::Drift),
            Event::TrainingStarted(_) => Some(MarkerKind::Training),
            Event::CanaryStarted(_) => Some(MarkerKind::Canary),
            Event::ModelPromoted(_) => Some(MarkerKind::Promotion),
            Event::RolledBack(_) => Some(MarkerKind::Rollback),
            _ => None,
        }
    }

    /// The legend text.
    pub fn label(self) -> &'static str {
        match self {
            MarkerKind::Drift => "drift alarm",
            MarkerKind::Training => "training start",
            MarkerKind::Canary => "canary start",
            MarkerKind::Promotion => "promotion",
            MarkerKind::Rollback => "rollback",
        }
    }

    /// The CSS class suffix (`marker-<name>`).
    pub fn class(self) -> &'static str {
        match self {
            MarkerKind::Drift => "drift",
            MarkerKind::Training => "training",
            MarkerKind::Canary => "canary",
            MarkerKind::Promotion => "promotion",
            MarkerKind::Rollback => "rollback",
        }
    }

    /// The stroke colour.
    pub fn colour(self) -> &'static str {
        match self {
            MarkerKind::Drift => "#d62728",
            MarkerKind::Training => "#9467bd",
            MarkerKind::Canary => "#ff7f0e",
            MarkerKind::Promotion => "#17becf",
            MarkerKind::Rollback => "#8c564b",
        }
    }
}

/// One vertical marker: an event of a marked type at a point of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// What happened.
    pub kind: MarkerKind,
    /// Time since the start of day 0, in days.
    pub offset_days: f64,
    /// Event time, `YYYY-MM-DD HH:MM` (UTC).
    pub time: String,
}

/// One row of the decision table.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRow {
    /// Event id.
    pub id: String,
    /// Event time, `YYYY-MM-DD HH:MM` (UTC).
    pub time: String,
    /// Time since the start of day 0, in days.
    pub offset_days: f64,
    /// The stream the event is in.
    pub stream: String,
    /// Event type.
    pub event_type: String,
    /// The model the decision concerns, where the payload names one.
    pub model_id: Option<String>,
    /// The first evidence numbers by name.
    pub evidence: Vec<(String, f64)>,
    /// Evidence numbers not shown.
    pub evidence_hidden: usize,
    /// The rule's policy name.
    pub rule: String,
}

/// What the report takes from the log.
#[derive(Debug, Default)]
pub struct LogDigest {
    /// Decision rows, in log order.
    pub rows: Vec<DecisionRow>,
    /// Chart markers, in log order.
    pub markers: Vec<Marker>,
    /// Routine decisions left out of the table, per type.
    pub left_out: BTreeMap<String, u64>,
    /// Events in the log.
    pub events: u64,
}

/// Reads every event of the log in `log_dir`; times are measured from `start` (day 0).
pub fn read(log_dir: &Path, start: DateTime<Utc>) -> Result<LogDigest> {
    let log = FileLog::open_read_only(log_dir)?;
    let mut digest = LogDigest::default();
    for recorded in log.read_all(0)? {
        let recorded = recorded?;
        let event = recorded.decode()?;
        digest.events += 1;
        digest.add(&recorded, &event, start);
    }
    Ok(digest)
}

impl LogDigest {
    fn add(&mut self, recorded: &RecordedEvent, event: &Event, start: DateTime<Utc>) {
        let offset_days = (recorded.time - start).num_milliseconds() as f64 / 86_400_000.0;
        let time = recorded.time.format("%Y-%m-%d %H:%M").to_string();
        if let Some(kind) = MarkerKind::of(event) {
            self.markers.push(Marker {
                kind,
                offset_days,
                time: time.clone(),
            });
        }
        let Some((evidence, rule)) = event.decision() else {
            return;
        };
        if ROUTINE_TYPES.contains(&event.event_type()) {
            *self
                .left_out
                .entry(event.event_type().to_string())
                .or_default() += 1;
            return;
        }
        let shown: Vec<(String, f64)> = evidence
            .0
            .iter()
            .take(MAX_EVIDENCE_PER_ROW)
            .map(|(name, value)| (name.clone(), *value))
            .collect();
        self.rows.push(DecisionRow {
            id: recorded.id.to_string(),
            time,
            offset_days,
            stream: recorded.stream.as_str().to_string(),
            event_type: event.event_type().to_string(),
            model_id: model_id(&recorded.payload),
            evidence_hidden: evidence.0.len() - shown.len(),
            evidence: shown,
            rule: rule.policy.clone(),
        });
    }
}

/// The first model id the payload names (see [`MODEL_KEYS`]).
fn model_id(payload: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    MODEL_KEYS
        .iter()
        .find_map(|key| value.get(*key).and_then(|v| v.as_str()))
        .map(str::to_string)
}

//! `explain`: the causal chain from an event (or a model version) back to the evidence
//! and data that started it.
//!
//! Every event a host writes names its cause: a decision its input record, an input
//! record the event it carries (or, for a tick, the decision the tick concerns), a
//! worker's fact the decision that asked for it. Following causation ids from the
//! target therefore walks promotion -> canary -> verdict -> evaluation -> trained model
//! -> training job -> retrain request -> drift alarm -> the ingested batch and its
//! stored readings, with every number on the way.

use std::collections::HashMap;
use std::path::Path;

use ledgerloop_events::{Event, FileLog, RecordedEvent};
use serde::Serialize;
use uuid::Uuid;

use crate::costs::IterationCost;
use crate::error::{Error, Result};

/// Longest chain followed, so a malformed log with a causation cycle still ends.
pub const MAX_CHAIN_EVENTS: usize = 256;

/// One link of a chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    /// Event id.
    pub id: Uuid,
    /// Stream and sequence.
    pub stream: String,
    /// 1-based sequence in the stream.
    pub sequence: u64,
    /// Global position.
    pub position: u64,
    /// Virtual time.
    pub time: String,
    /// Who wrote it.
    pub actor: String,
    /// Event type.
    pub event_type: String,
    /// Decision or fact.
    pub decision: bool,
    /// The payload (evidence and rule included).
    pub payload: serde_json::Value,
    /// Other decisions taken on the same input (e.g. the `DriftDetected` beside a
    /// `RetrainRequested`), as (event type, payload).
    pub siblings: Vec<(String, serde_json::Value)>,
    /// Why a link that is not a cause of the one before it is in the chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Link {
    fn of(r: &RecordedEvent, event: &Event) -> Self {
        Self {
            id: r.id,
            stream: r.stream.as_str().to_string(),
            sequence: r.sequence,
            position: r.position,
            time: r.time.to_rfc3339(),
            actor: format!("{}/{}", r.actor.role, r.actor.instance),
            event_type: r.event_type.clone(),
            decision: event.decision().is_some(),
            payload: serde_json::from_slice(&r.payload).unwrap_or(serde_json::Value::Null),
            siblings: Vec::new(),
            note: None,
        }
    }
}

/// The chain of `target` (an event id, or a model version: its promotion if it was
/// promoted, else its training), newest first.
pub fn explain(log_dir: &Path, target: &str) -> Result<Vec<Link>> {
    let log = FileLog::open_read_only(log_dir)?;
    let mut by_id: HashMap<Uuid, (RecordedEvent, Event)> = HashMap::new();
    let mut children: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    let mut promoted = None;
    let mut trained = None;
    let wanted = Uuid::parse_str(target).ok();
    for r in log.read_all(0)? {
        let r = r?;
        let event = r.decode()?;
        match &event {
            Event::ModelPromoted(p) if p.model_id == target => promoted = Some(r.id),
            Event::ModelTrained(m) if m.model_id == target => trained = Some(r.id),
            Event::BaselineTrained(b) if b.model_id == target && trained.is_none() => {
                trained = Some(r.id)
            }
            _ => {}
        }
        if let Some(c) = r.causation_id {
            children.entry(c).or_default().push(r.id);
        }
        by_id.insert(r.id, (r, event));
    }
    let start = wanted
        .filter(|id| by_id.contains_key(id))
        .or(promoted)
        .or(trained)
        .ok_or_else(|| Error::Replay {
            stream: log_dir.display().to_string(),
            sequence: 0,
            reason: format!("`{target}` is neither an event id nor a model version in this log"),
        })?;
    let mut chain = Vec::new();
    let mut next = Some(start);
    while let Some(id) = next {
        let Some((r, event)) = by_id.get(&id) else {
            break;
        };
        if chain.len() >= MAX_CHAIN_EVENTS || chain.iter().any(|l: &Link| l.id == id) {
            break;
        }
        let mut link = Link::of(r, event);
        if let (true, Some(cause)) = (link.decision, r.causation_id) {
            for sibling in children.get(&cause).into_iter().flatten() {
                match by_id.get(sibling) {
                    Some((s, e)) if s.id != id && e.decision().is_some() => {
                        let payload = serde_json::from_slice(&s.payload).unwrap_or_default();
                        link.siblings.push((s.event_type.clone(), payload));
                    }
                    _ => {}
                }
            }
        }
        chain.push(link);
        next = r.causation_id;
    }
    if let Some(opener) = episode_opener(&chain, &by_id) {
        chain.push(opener);
    }
    Ok(chain)
}

/// The alarm that opened the episode a chain's retrain continues, when the chain holds an
/// `episode_continues` notice: that retrain's cause is a later crossing, not an alarm, so
/// the causation walk alone would never reach the evidence that started the episode. The
/// notice records the hour the episode opened; the opener is the last `DriftDetected`
/// decided on an input of that hour before the notice.
fn episode_opener(chain: &[Link], by_id: &HashMap<Uuid, (RecordedEvent, Event)>) -> Option<Link> {
    let continues = |event_type: &str, payload: &serde_json::Value| {
        (event_type == "DriftNoticed" && payload["reason"] == "episode_continues")
            .then(|| payload["evidence"]["episode.opened_hour"].as_f64())
            .flatten()
    };
    let (opened_hour, before) = chain.iter().find_map(|link| {
        std::iter::once((link.event_type.as_str(), &link.payload))
            .chain(link.siblings.iter().map(|(t, p)| (t.as_str(), p)))
            .find_map(|(t, p)| continues(t, p))
            .map(|hour| (hour, link.position))
    })?;
    let judged_at = |r: &RecordedEvent| match r.causation_id.and_then(|c| by_id.get(&c)) {
        Some((_, Event::InputRecorded(input))) => Some(input.hour as f64),
        _ => None,
    };
    let (r, event) = by_id
        .values()
        .filter(|(r, e)| {
            r.position < before
                && matches!(e, Event::DriftDetected(_))
                && judged_at(r) == Some(opened_hour)
        })
        .max_by_key(|(r, _)| r.position)?;
    let mut link = Link::of(r, event);
    link.note = Some(format!(
        "the alarm that opened the episode (hour {opened_hour}) this chain's retrain continues"
    ));
    Some(link)
}

/// What the loop iteration of `chain` cost: the iteration whose job's `TrainingStarted`
/// is a link of the chain, else the one answering the retrain request the chain starts
/// from. The fleet size for device-hours is read from the run's `summary.json` beside
/// the log when there is one.
pub fn iteration_cost(log_dir: &Path, chain: &[Link]) -> Result<Option<IterationCost>> {
    let summary = log_dir
        .parent()
        .map(|run| run.join("summary.json"))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| serde_json::from_str::<ledgerloop_sim::summary::Summary>(&text).ok());
    let devices = summary
        .and_then(|s| s.scenario.ont)
        .map(|o| o.devices.max(0) as u64);
    let costs = crate::costs::summarise(log_dir, devices)?;
    let ids: Vec<String> = chain.iter().map(|l| l.id.to_string()).collect();
    let by_start = costs
        .iterations
        .iter()
        .find(|it| ids.contains(&it.started_id));
    let first = ids.first();
    let by_request = || {
        costs
            .iterations
            .iter()
            .find(|it| it.request_id.is_some() && it.request_id.as_ref() == first)
    };
    Ok(by_start.or_else(by_request).cloned())
}

/// The cost of an iteration as lines for a terminal.
pub fn render_cost(it: &IterationCost) -> String {
    let mut out = format!(
        "cost of this loop iteration (job {}, outcome {}):\n    cpu_seconds: {:.3} \
         (training {:.3}, distillation {:.3}, evaluation {:.3})\n    labels: {}\n    \
         artifact_bytes: {}\n    canary exposure: {:.2} fleet-hours, {:.1} device-hours",
        it.job_id,
        it.outcome,
        it.cpu_seconds,
        it.cpu_seconds_training,
        it.cpu_seconds_distillation,
        it.cpu_seconds_evaluation,
        it.labels,
        it.artifact_bytes,
        it.exposure_fleet_hours,
        it.exposure_device_hours,
    );
    if let (Some(g), Some(c)) = (it.estimated_gain_points, it.estimated_cpu_seconds) {
        out.push_str(&format!(
            "\n    weighed before the start: expected gain {g:.2} points for {c:.3} cpu seconds"
        ));
        if let Some(d) = it.estimated_cpu_seconds_distil_eval {
            out.push_str(&format!(
                " (training {:.3}, distillation + evaluation {d:.3}: the budget covers the \
                 whole iteration)",
                c - d
            ));
        }
    }
    out
}

/// A one-paragraph rendering of a link: type, where, and every number.
pub fn render(link: &Link) -> String {
    let mut out = format!(
        "{} {} #{} @{} ({}, {})",
        link.event_type,
        link.stream,
        link.sequence,
        link.position,
        link.time,
        if link.decision { "decision" } else { "fact" }
    );
    if let Some(note) = &link.note {
        out.push_str(&format!("\n    ({note})"));
    }
    render_payload(&mut out, &link.payload);
    for (event_type, payload) in &link.siblings {
        out.push_str(&format!("\n    decided on the same input: {event_type}"));
        render_payload(&mut out, payload);
    }
    out
}

/// Payload fields that are records worth reading whole, shown one field a line instead
/// of as clipped JSON: the source a warm-started first model came from.
const EXPANDED_FIELDS: &[&str] = &["warm_start"];

fn render_payload(out: &mut String, payload: &serde_json::Value) {
    if let serde_json::Value::Object(map) = payload {
        for (k, v) in map {
            if let (true, serde_json::Value::Object(_)) = (EXPANDED_FIELDS.contains(&k.as_str()), v)
            {
                out.push_str(&format!("\n    {k}:"));
                let mut inner = String::new();
                render_payload(&mut inner, v);
                out.push_str(&inner.replace("\n    ", "\n        "));
                continue;
            }
            let text = match v {
                serde_json::Value::String(s) => format!("\"{}\"", clip(s, 120)),
                serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                    clip(&v.to_string(), 400)
                }
                other => other.to_string(),
            };
            out.push_str(&format!("\n    {k}: {text}"));
        }
    }
}

/// `s` cut to at most `max` bytes at a character boundary, with `...` when cut.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

//! The auditor: verifies a log's hash chains, then re-derives every decision from the
//! inputs recorded beside it.
//!
//! The deciders are rebuilt from the log's `PoliciesLoaded`. Each agent's stream is
//! replayed from the start: every `InputRecorded` is turned back into the input (its
//! source event looked up by id, its blob read and checked against its SHA-256), handed
//! to [`crate::step::apply`] exactly as the host did, and the decisions it yields are
//! compared, type and payload bytes, with the events recorded after the input. A log
//! whose hashes were all recomputed after a decision was edited still fails here: the
//! edited decision no longer follows from its inputs.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ledgerloop_events::catalogue::InputRecorded;
use ledgerloop_events::verify::{verify, VerifyOptions};
use ledgerloop_events::{Event, FileLog, RecordedEvent, StreamId};
use serde::Serialize;
use uuid::Uuid;

use crate::blobs::BlobStore;
use crate::config::GovernedConfig;
use crate::error::{Error, Result};
use crate::journal::input_of;
use crate::step::{apply, Role, States};

pub mod deep;

/// Mismatches listed in full; beyond this only the count grows.
pub const MAX_LISTED_MISMATCHES: usize = 100;

/// One decision that does not follow from its inputs (or one input that cannot be
/// replayed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    /// The agent's stream.
    pub stream: String,
    /// Sequence of the recorded input.
    pub input_sequence: u64,
    /// Global position of the recorded input.
    pub input_position: u64,
    /// What differs.
    pub reason: String,
}

/// Per-agent counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AgentAudit {
    /// Inputs replayed.
    pub inputs: u64,
    /// Decisions recorded in the stream.
    pub decisions_recorded: u64,
    /// Of those, decisions re-derived identically.
    pub decisions_rederived: u64,
}

/// The outcome of an audit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AuditReport {
    /// Events in the log (all checked by `verify`).
    pub events: u64,
    /// Counts per agent role.
    pub agents: BTreeMap<String, AgentAudit>,
    /// Mismatches (at most [`MAX_LISTED_MISMATCHES`] listed).
    pub mismatches: Vec<Mismatch>,
    /// All mismatches found.
    pub mismatch_count: u64,
    /// The workers re-run (`--deep`).
    pub deep: Option<deep::DeepReport>,
}

impl AuditReport {
    /// Decisions recorded across agents.
    pub fn decisions_recorded(&self) -> u64 {
        self.agents.values().map(|a| a.decisions_recorded).sum()
    }

    /// Decisions re-derived identically across agents.
    pub fn decisions_rederived(&self) -> u64 {
        self.agents.values().map(|a| a.decisions_rederived).sum()
    }

    /// True when every decision was re-derived and nothing mismatched.
    pub fn passed(&self) -> bool {
        self.mismatch_count == 0
            && self.decisions_rederived() == self.decisions_recorded()
            && self.deep.as_ref().is_none_or(deep::DeepReport::passed)
    }

    fn mismatch(&mut self, m: Mismatch) {
        self.mismatch_count += 1;
        if self.mismatches.len() < MAX_LISTED_MISMATCHES {
            self.mismatches.push(m);
        }
    }
}

/// What an audit is doing, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditStage {
    /// Checking checksums and hash chains, then reading the log.
    Verify,
    /// Replaying the agents' recorded inputs (`total`: inputs of all agents).
    Replay,
    /// Re-running the workers (`total`: trainings, evaluations and distillations).
    Deep,
}

/// Where an audit is: `done` of `total` steps of `stage` (`total` is 0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditProgress {
    /// The stage.
    pub stage: AuditStage,
    /// Steps of the stage finished.
    pub done: u64,
    /// Steps of the stage in all.
    pub total: u64,
}

/// Reports progress to a callback; the audit's result does not depend on it.
pub(crate) struct Progress<'a> {
    report: &'a mut dyn FnMut(AuditProgress),
    now: AuditProgress,
}

impl Progress<'_> {
    /// Starts `stage` with `total` steps.
    pub(crate) fn stage(&mut self, stage: AuditStage, total: u64) {
        self.now = AuditProgress {
            stage,
            done: 0,
            total,
        };
        (self.report)(self.now);
    }

    /// One more step of the current stage is done.
    pub(crate) fn step(&mut self) {
        self.now.done += 1;
        (self.report)(self.now);
    }
}

/// Audits the log in `log_dir`, reading stored inputs from `inputs_dir`; `deep` also
/// re-runs every worker ([`deep`]). Damage to the log itself (checksums, chains) is
/// returned as the log's error; decisions that do not follow are reported in the result.
pub fn audit(log_dir: &Path, inputs_dir: &Path, deep: bool) -> Result<AuditReport> {
    audit_with_progress(log_dir, inputs_dir, deep, &mut |_| {})
}

/// Like [`audit`], telling `progress` where the audit is after every step (the CLI draws
/// its progress bar from it).
pub fn audit_with_progress(
    log_dir: &Path,
    inputs_dir: &Path,
    deep: bool,
    progress: &mut dyn FnMut(AuditProgress),
) -> Result<AuditReport> {
    let mut progress = Progress {
        report: progress,
        now: AuditProgress {
            stage: AuditStage::Verify,
            done: 0,
            total: 0,
        },
    };
    progress.stage(AuditStage::Verify, 0);
    let verified = verify(log_dir, VerifyOptions::default())?;
    tracing::debug!(events = verified.events, "checksums and hash chains intact");
    let log = FileLog::open_read_only(log_dir)?;
    let mut order: Vec<(RecordedEvent, Event)> = Vec::new();
    for recorded in log.read_all(0)? {
        let recorded = recorded?;
        let event = recorded.decode()?;
        order.push((recorded, event));
    }
    let by_id: HashMap<Uuid, usize> = order
        .iter()
        .enumerate()
        .map(|(i, (r, _))| (r.id, i))
        .collect();
    let (config, agents) = recorded_policies(&order, log_dir)?;
    let blobs = BlobStore::new(inputs_dir);
    let mut report = AuditReport {
        events: verified.events,
        ..AuditReport::default()
    };
    let loaded = deep::Loaded {
        order: &order,
        by_id: &by_id,
    };
    let is_agent = |r: &RecordedEvent| Role::ALL.iter().any(|a| a.name() == r.stream.as_str());
    let inputs = order
        .iter()
        .filter(|(r, e)| matches!(e, Event::InputRecorded(_)) && is_agent(r))
        .count();
    progress.stage(AuditStage::Replay, inputs as u64);
    for role in Role::ALL {
        let stream: Vec<&(RecordedEvent, Event)> = order
            .iter()
            .filter(|(r, _)| r.stream.as_str() == role.name())
            .collect();
        let replayed = Replayed {
            report: &mut report,
            progress: &mut progress,
        };
        let counts = replay_stream(&agents, role, &stream, &loaded, &blobs, replayed);
        tracing::debug!(
            agent = role.name(),
            inputs = counts.inputs,
            recorded = counts.decisions_recorded,
            rederived = counts.decisions_rederived,
            "agent replayed"
        );
        report.agents.insert(role.name().to_string(), counts);
    }
    if deep {
        report.deep = Some(deep::deep(&loaded, &blobs, &config, &mut progress));
    }
    Ok(report)
}

/// The deciders' policies as the host recorded them (`PoliciesLoaded`).
fn recorded_policies(
    order: &[(RecordedEvent, Event)],
    log_dir: &Path,
) -> Result<(GovernedConfig, crate::step::Agents)> {
    let policies = order.iter().find_map(|(_, e)| match e {
        Event::PoliciesLoaded(p) => Some(p.policies.clone()),
        _ => None,
    });
    let policies = policies.ok_or_else(|| Error::InvalidPolicy {
        path: log_dir.to_path_buf(),
        reason: "the log holds no PoliciesLoaded event: it was not written by a host".into(),
    })?;
    let config: GovernedConfig =
        serde_json::from_value(policies).map_err(|e| Error::InvalidPolicy {
            path: log_dir.to_path_buf(),
            reason: format!("recorded policies: {e}"),
        })?;
    let agents = config.agents().map_err(|e| Error::InvalidPolicy {
        path: log_dir.to_path_buf(),
        reason: format!("recorded policies: {e}"),
    })?;
    Ok((config, agents))
}

/// Splits a stream into (input record, decisions that follow it).
fn calls(stream: &[&(RecordedEvent, Event)]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < stream.len() {
        let mut j = i + 1;
        while j < stream.len() && !matches!(stream[j].1, Event::InputRecorded(_)) {
            j += 1;
        }
        out.push((i, j));
        i = j;
    }
    out
}

/// Where a stream's replay reports its mismatches and its progress.
struct Replayed<'r, 'p> {
    report: &'r mut AuditReport,
    progress: &'r mut Progress<'p>,
}

fn replay_stream(
    agents: &crate::step::Agents,
    role: Role,
    stream: &[&(RecordedEvent, Event)],
    loaded: &deep::Loaded<'_>,
    blobs: &BlobStore,
    out: Replayed<'_, '_>,
) -> AgentAudit {
    let Replayed { report, progress } = out;
    let mut states = States::default();
    let mut counts = AgentAudit::default();
    for (start, end) in calls(stream) {
        let (head, event) = stream[start];
        let recorded = &stream[start + 1..end];
        counts.decisions_recorded += recorded.len() as u64;
        let mismatch = |reason: String| Mismatch {
            stream: role.name().to_string(),
            input_sequence: head.sequence,
            input_position: head.position,
            reason,
        };
        let Event::InputRecorded(record) = event else {
            report.mismatch(mismatch(format!(
                "{} without a recorded input before it",
                event.event_type()
            )));
            continue;
        };
        counts.inputs += 1;
        progress.step();
        match rederive(agents, &mut states, role, record, loaded, blobs) {
            Ok(derived) => {
                let (same, reason) = compare(&derived, recorded, head.id);
                counts.decisions_rederived += same;
                if let Some(reason) = reason {
                    report.mismatch(mismatch(reason));
                }
            }
            Err(reason) => report.mismatch(mismatch(reason)),
        }
    }
    counts
}

fn rederive(
    agents: &crate::step::Agents,
    states: &mut States,
    role: Role,
    record: &InputRecorded,
    loaded: &deep::Loaded<'_>,
    blobs: &BlobStore,
) -> std::result::Result<Vec<Event>, String> {
    let source = match &record.source_event_id {
        Some(id) => {
            let id = Uuid::parse_str(id).map_err(|e| format!("source id {id}: {e}"))?;
            Some(
                loaded
                    .by_id
                    .get(&id)
                    .map(|i| &loaded.order[*i].1)
                    .ok_or_else(|| format!("source event {id} is not in the log"))?,
            )
        }
        None => None,
    };
    let input = input_of(record, source, blobs)?;
    apply(agents, states, role, record.hour, &input).map_err(|e| format!("replay failed: {e}"))
}

/// Counts the recorded decisions re-derived identically (in order) and describes the
/// first difference.
fn compare(
    derived: &[Event],
    recorded: &[&(RecordedEvent, Event)],
    input_id: Uuid,
) -> (u64, Option<String>) {
    let mut same = 0;
    for (k, (rec, _)) in recorded.iter().enumerate() {
        if rec.causation_id != Some(input_id) {
            return (
                same,
                Some(format!(
                    "decision #{} is not caused by its input",
                    rec.sequence
                )),
            );
        }
        let Some(d) = derived.get(k) else {
            return (
                same,
                Some(format!(
                    "{} #{} was recorded but does not follow from the input",
                    rec.event_type, rec.sequence
                )),
            );
        };
        let payload = d.to_payload_json().unwrap_or_default();
        if d.event_type() != rec.event_type || payload != rec.payload {
            return (
                same,
                Some(format!(
                    "{} #{} differs from the re-derived {}: recorded {} / re-derived {}",
                    rec.event_type,
                    rec.sequence,
                    d.event_type(),
                    truncate(&String::from_utf8_lossy(&rec.payload)),
                    truncate(&String::from_utf8_lossy(&payload)),
                )),
            );
        }
        same += 1;
    }
    if derived.len() > recorded.len() {
        let missing = &derived[recorded.len()];
        return (
            same,
            Some(format!(
                "the input calls for a {} that was not recorded",
                missing.event_type()
            )),
        );
    }
    (same, None)
}

fn truncate(s: &str) -> String {
    const MAX: usize = 240;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// The stream id of an agent (for callers that read one stream).
pub fn stream_of(role: Role) -> Result<StreamId> {
    Ok(StreamId::new(role.name())?)
}

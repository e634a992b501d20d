//! How a host writes the agents' work into the log, and how an auditor reads it back.
//!
//! Every call of an agent is one atomic batch on the agent's stream (named after its
//! role): an `InputRecorded` describing the input, then the decisions `apply` returned,
//! each caused by that record. The record itself is caused by the input's source event
//! (a worker's fact, another agent's decision) or, for ticks, by the decision the tick
//! concerns, so `explain` can walk from any decision back to the evidence. Event ids are
//! UUID v7 from virtual time and a seeded RNG: the same run writes the same log.

use chrono::{DateTime, Utc};
use ledgerloop_events::catalogue::InputRecorded;
use ledgerloop_events::{ids, Actor, Event, ExpectedVersion, NewEvent, SharedLog, StreamId};
use ledgerloop_sim::clock::Clock;
use ledgerloop_sim::rng::{component_rng, SimRng};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use ledgerloop_agents::releaser::{OnlineStats, RollbackCommand};

use crate::blobs::BlobStore;
use crate::error::{Error, Result};
use crate::step::{Input, Role};

/// Stream of the workers' facts (trained models, students, failures).
pub const WORKER_STREAM: &str = "workers";
/// Stream of the host's own facts (the policies it loaded).
pub const HOST_STREAM: &str = "host";
/// Stream of label deliveries from the oracle.
pub const LABELS_STREAM: &str = "labels";

/// The body of a recorded rollback command.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RollbackBody {
    command: RollbackCommand,
    online: OnlineStats,
}

/// Writes events with deterministic ids and virtual time.
#[derive(Debug)]
pub struct Journal {
    log: SharedLog,
    blobs: BlobStore,
    clock: Clock,
    ids: SimRng,
    correlation: Option<Uuid>,
    /// Every event whose append returned, in order: what the host may rely on being in
    /// the log (the fault simulation checks that none is ever lost).
    acknowledged: Vec<Uuid>,
}

impl Journal {
    /// A journal on `log`, storing large inputs in `blobs`; ids derive from `seed`.
    pub fn new(log: SharedLog, blobs: BlobStore, clock: Clock, seed: u64) -> Self {
        Self {
            log,
            blobs,
            clock,
            ids: component_rng(seed, "governed/ids"),
            correlation: None,
            acknowledged: Vec::new(),
        }
    }

    /// Every later event is correlated with `run` (the run's first event).
    pub fn correlate_with(&mut self, run: Uuid) {
        self.correlation = Some(run);
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The log.
    pub fn log(&self) -> &SharedLog {
        &self.log
    }

    /// Ids of every event appended through this journal, in order.
    pub fn acknowledged(&self) -> &[Uuid] {
        &self.acknowledged
    }

    /// Takes back the acknowledgement of the last `n` events: a simulated crash tore
    /// their append, so the host never learned that it succeeded.
    pub(crate) fn retract_last(&mut self, n: usize) {
        let keep = self.acknowledged.len().saturating_sub(n);
        self.acknowledged.truncate(keep);
    }

    fn next_id(&mut self, time: DateTime<Utc>) -> Uuid {
        draw_id(&mut self.ids, time)
    }

    /// Appends facts to `stream` as `actor` at `hour`, each caused by `cause`; returns ids.
    pub fn facts(
        &mut self,
        stream: &str,
        actor: &str,
        hour: u64,
        events: &[Event],
        cause: Option<Uuid>,
    ) -> Result<Vec<Uuid>> {
        let time = self.clock.time_of(hour);
        let mut batch = Vec::with_capacity(events.len());
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            let id = self.next_id(time);
            batch.push(self.envelope(id, time, actor, e, cause)?);
            out.push(id);
        }
        self.log
            .append_sync(&StreamId::new(stream)?, ExpectedVersion::Any, batch)?;
        tracing::debug!(
            stream,
            hour,
            events = ?events.iter().map(Event::event_type).collect::<Vec<_>>(),
            "facts recorded"
        );
        self.acknowledged.extend_from_slice(&out);
        Ok(out)
    }

    /// Appends one fact; returns its id.
    pub fn fact(
        &mut self,
        stream: &str,
        actor: &str,
        hour: u64,
        event: &Event,
        cause: Option<Uuid>,
    ) -> Result<Uuid> {
        let ids = self.facts(stream, actor, hour, std::slice::from_ref(event), cause)?;
        Ok(ids[0])
    }

    fn envelope(
        &self,
        id: Uuid,
        time: DateTime<Utc>,
        actor: &str,
        event: &Event,
        cause: Option<Uuid>,
    ) -> Result<NewEvent> {
        envelope(id, time, actor, event, cause, self.correlation)
    }

    /// Records one call of `role`: the input (caused by `cause`) and its decisions, in
    /// one batch. Returns the record's id and the decisions' ids.
    pub fn call(
        &mut self,
        role: Role,
        hour: u64,
        input: &Input,
        source: Option<Uuid>,
        cause: Option<Uuid>,
        decisions: &[Event],
    ) -> Result<(Uuid, Vec<Uuid>)> {
        let record = self.record_of(role, hour, input, source)?;
        self.append_call(role, hour, record, cause.or(source), decisions)
    }

    /// Appends a call whose input was already described ([`Journal::record`]): the
    /// record (caused by `cause`) and the decisions caused by it, one batch.
    pub fn append_call(
        &mut self,
        role: Role,
        hour: u64,
        record: InputRecorded,
        cause: Option<Uuid>,
        decisions: &[Event],
    ) -> Result<(Uuid, Vec<Uuid>)> {
        let header = self.call_header(role, hour, cause);
        let kind = record.kind.clone();
        let (batch, ids) = call_batch(&header, record, decisions)?;
        self.log
            .append_sync(&StreamId::new(role.name())?, ExpectedVersion::Any, batch)?;
        // Calls without a decision are every agent's routine (hourly ticks); only those
        // that decided something are worth a line, and only when debugging.
        if !decisions.is_empty() {
            tracing::debug!(
                agent = role.name(),
                hour,
                input = %kind,
                decisions = ?decisions.iter().map(Event::event_type).collect::<Vec<_>>(),
                "agent decided"
            );
        }
        self.acknowledge_call(&header, &ids);
        Ok((header.record_id, ids))
    }

    /// Everything about a call of `role` at `hour` but its input and decisions: the
    /// record's id (drawn from the journal's ids), time, cause and correlation. An agent
    /// in another process builds the same batch from it ([`call_batch`]).
    ///
    /// The record id is the journal's next id, but it is only taken (the id sequence
    /// advanced) by [`Journal::acknowledge_call`]: a call that fails (a refusal) uses no
    /// id, wherever the agent runs, so the ids that follow do not depend on it.
    pub fn call_header(&self, role: Role, hour: u64, cause: Option<Uuid>) -> CallHeader {
        let time = self.clock.time_of(hour);
        let mut ids = self.ids.clone();
        CallHeader {
            role,
            hour,
            time,
            record_id: draw_id(&mut ids, time),
            cause,
            correlation: self.correlation,
        }
    }

    /// Notes that a call's record and decisions were stored (by this host or by the
    /// agent's own process), taking the record's id from the id sequence.
    pub fn acknowledge_call(&mut self, header: &CallHeader, decisions: &[Uuid]) {
        let taken = self.next_id(header.time);
        assert_eq!(
            taken, header.record_id,
            "a call header was used after another id was drawn"
        );
        self.acknowledged.push(header.record_id);
        self.acknowledged.extend_from_slice(decisions);
    }

    /// Describes the input of a call of `role` as it will be recorded, storing a large
    /// input in the blob store. The description is also the input's idempotency key
    /// (see `restore::input_key`).
    pub fn record(
        &self,
        role: Role,
        hour: u64,
        input: &Input,
        source: Option<Uuid>,
    ) -> Result<InputRecorded> {
        self.record_of(role, hour, input, source)
    }

    fn record_of(
        &self,
        role: Role,
        hour: u64,
        input: &Input,
        source: Option<Uuid>,
    ) -> Result<InputRecorded> {
        let mut record = InputRecorded {
            agent: role.name().to_string(),
            kind: input.kind().to_string(),
            hour,
            source_event_id: source.map(|s| s.to_string()),
            ..InputRecorded::default()
        };
        let needs_source = matches!(
            input,
            Input::Event(_) | Input::Fold(_) | Input::Verdict { .. }
        );
        if needs_source && source.is_none() {
            return Err(Error::Replay {
                stream: role.name().to_string(),
                sequence: 0,
                reason: format!("a {} input needs its source event id", input.kind()),
            });
        }
        match input {
            Input::Readings(b) => self.blob(&mut record, &serde_json::to_vec(b)?)?,
            Input::Feedback(f) => self.blob(&mut record, &serde_json::to_vec(f)?)?,
            Input::Rows {
                rows, fold_only, ..
            } => {
                self.blob(&mut record, &serde_json::to_vec(rows)?)?;
                record.body = serde_json::json!({ "fold_only": fold_only });
            }
            Input::Report(r) => record.body = serde_json::to_value(r)?,
            Input::Verdict { online, .. } | Input::Analyse(online) => {
                record.body = serde_json::to_value(online)?
            }
            Input::Rollback { command, online } => {
                record.body = serde_json::to_value(RollbackBody {
                    command: command.clone(),
                    online: online.clone(),
                })?
            }
            Input::Event(_) | Input::Fold(_) | Input::Tick => {}
        }
        Ok(record)
    }

    fn blob(&self, record: &mut InputRecorded, bytes: &[u8]) -> Result<()> {
        record.blob_sha256 = Some(self.blobs.put(bytes)?);
        record.blob_bytes = bytes.len() as u64;
        Ok(())
    }
}

fn draw_id(ids: &mut SimRng, time: DateTime<Utc>) -> Uuid {
    let mut random = [0u8; 10];
    ids.fill_bytes(&mut random);
    ids::deterministic_v7(time, random)
}

/// What identifies one agent call apart from its input and decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallHeader {
    /// The agent called.
    pub role: Role,
    /// Simulated hour of the call.
    pub hour: u64,
    /// Time stamped on the record and decisions.
    pub time: DateTime<Utc>,
    /// Id of the `InputRecorded`.
    pub record_id: Uuid,
    /// What the record is caused by.
    pub cause: Option<Uuid>,
    /// The run every event is correlated with.
    pub correlation: Option<Uuid>,
}

/// The id of the `index`-th decision of the call whose record is `record_id`: derived
/// from the record's id, so whoever appends the call (the host, or the agent's own
/// process in the mesh) writes the same ids, and a call retried after a crash writes the
/// same events again (which the log recognises as already stored).
pub fn decision_id(record_id: Uuid, time: DateTime<Utc>, index: usize) -> Uuid {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"ledgerloop/decision\0");
    hasher.update(record_id.as_bytes());
    hasher.update((index as u64).to_le_bytes());
    let digest = hasher.finalize();
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    ids::deterministic_v7(time, random)
}

/// The batch one call appends to the agent's stream: the record, then each decision
/// caused by it. Returns the batch and the decisions' ids.
pub fn call_batch(
    header: &CallHeader,
    record: InputRecorded,
    decisions: &[Event],
) -> Result<(Vec<NewEvent>, Vec<Uuid>)> {
    let actor = header.role.name();
    let mut batch = vec![envelope(
        header.record_id,
        header.time,
        actor,
        &Event::InputRecorded(record),
        header.cause,
        header.correlation,
    )?];
    let mut ids = Vec::with_capacity(decisions.len());
    for (i, d) in decisions.iter().enumerate() {
        let id = decision_id(header.record_id, header.time, i);
        batch.push(envelope(
            id,
            header.time,
            actor,
            d,
            Some(header.record_id),
            header.correlation,
        )?);
        ids.push(id);
    }
    Ok((batch, ids))
}

fn envelope(
    id: Uuid,
    time: DateTime<Utc>,
    actor: &str,
    event: &Event,
    cause: Option<Uuid>,
    correlation: Option<Uuid>,
) -> Result<NewEvent> {
    let mut new = NewEvent::new(id, time, Actor::new(actor, "sim"), event)?;
    if let Some(c) = cause {
        new = new.caused_by(c);
    }
    if let Some(run) = correlation {
        new = new.correlated_with(run);
    }
    Ok(new)
}

/// Rebuilds the input an `InputRecorded` describes. `source` is the event its
/// `source_event_id` names (looked up by the caller), `blobs` holds large inputs.
pub fn input_of(
    record: &InputRecorded,
    source: Option<&Event>,
    blobs: &BlobStore,
) -> std::result::Result<Input, String> {
    let need_source = || {
        source
            .cloned()
            .ok_or_else(|| format!("{} input without a readable source event", record.kind))
    };
    let blob = || -> std::result::Result<Vec<u8>, String> {
        let sha = record
            .blob_sha256
            .as_deref()
            .ok_or_else(|| format!("{} input without a blob", record.kind))?;
        blobs.get(sha).map_err(|e| e.to_string())
    };
    let body = |v: &serde_json::Value| v.clone();
    Ok(match record.kind.as_str() {
        "reading_batch" => {
            Input::Readings(serde_json::from_slice(&blob()?).map_err(|e| e.to_string())?)
        }
        "feedback_batch" => {
            Input::Feedback(serde_json::from_slice(&blob()?).map_err(|e| e.to_string())?)
        }
        "event" => Input::Event(need_source()?),
        "fold" => Input::Fold(need_source()?),
        "rows" => Input::Rows {
            event: need_source()?,
            fold_only: record.body.get("fold_only").and_then(|v| v.as_bool()) == Some(true),
            rows: serde_json::from_slice(&blob()?).map_err(|e| e.to_string())?,
        },
        "tick" => Input::Tick,
        "evaluation_report" => {
            Input::Report(serde_json::from_value(body(&record.body)).map_err(|e| e.to_string())?)
        }
        "verdict" => Input::Verdict {
            verdict: need_source()?,
            online: serde_json::from_value(body(&record.body)).map_err(|e| e.to_string())?,
        },
        "analyse" => {
            Input::Analyse(serde_json::from_value(body(&record.body)).map_err(|e| e.to_string())?)
        }
        "rollback" => {
            let b: RollbackBody =
                serde_json::from_value(body(&record.body)).map_err(|e| e.to_string())?;
            Input::Rollback {
                command: b.command,
                online: b.online,
            }
        }
        other => return Err(format!("unknown input kind `{other}`")),
    })
}

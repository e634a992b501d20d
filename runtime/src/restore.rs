//! Rebuilding an agent after a crash: its state is the fold of its own recorded history.
//!
//! Every call of an agent is one batch on its stream: an `InputRecorded` and the
//! decisions. Whatever the agent's convention in [`crate::step::apply`], the event an
//! input carries (a fact, a verdict, a folded event) is folded *before* the decisions
//! it produced (the Trainer, Distiller and Releaser fold it before deciding; the
//! DriftJudge decides on the unchanged state but folds the input before its decisions),
//! and inputs without an event (readings, ticks, reports, analyses) change the state
//! only through the decisions. So an agent's state is rebuilt without re-deciding
//! anything: fold each call's input event, then its recorded decisions. The same walk
//! yields the keys of the inputs the agent already handled, which make delivery
//! idempotent: an input delivered again is answered with the decisions already recorded.

use std::collections::{BTreeSet, HashMap};

use ledgerloop_events::catalogue::InputRecorded;
use ledgerloop_events::{Event, FileLog, RecordedEvent, StreamId};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::step::{fold, Role, States};

/// What identifies one delivery of an input to an agent: the source event's id when
/// the input is an event (the same event handed on twice is one input), otherwise the
/// whole record (kind, hour, inline body, blob digest), which differs between any two
/// inputs a host gives one agent.
pub type InputKey = [u8; 32];

/// The idempotency key of a recorded input.
pub fn input_key(record: &InputRecorded) -> Result<InputKey> {
    let mut hasher = Sha256::new();
    match &record.source_event_id {
        Some(id) => {
            hasher.update(b"source\0");
            hasher.update(id.as_bytes());
        }
        None => {
            hasher.update(b"record\0");
            hasher.update(serde_json::to_vec(record)?);
        }
    }
    Ok(hasher.finalize().into())
}

/// Folds one recorded call of `role` into `states`: the input's event, then the
/// decisions (see the module documentation for why this order holds for every agent).
pub fn fold_call(states: &mut States, role: Role, source: Option<&Event>, decisions: &[Event]) {
    if let Some(event) = source {
        fold(states, role, event);
    }
    for d in decisions {
        fold(states, role, d);
    }
}

/// One agent rebuilt from the log: its state (inside an otherwise default [`States`])
/// and the keys of every input it handled.
#[derive(Debug, Default)]
pub struct Restored {
    /// The agent's state; the other agents' parts are default.
    pub states: States,
    /// Keys of the inputs recorded on the agent's stream.
    pub handled: BTreeSet<InputKey>,
}

/// Every event of a log in order, with an index by id (the source events an agent's
/// inputs name live on other streams).
#[derive(Debug, Default)]
pub struct LogView {
    /// Events in global order.
    pub events: Vec<(RecordedEvent, Event)>,
    by_id: HashMap<Uuid, usize>,
}

impl LogView {
    /// Reads every event of `log`.
    pub fn read(log: &FileLog) -> Result<Self> {
        let mut view = LogView::default();
        for recorded in log.read_all(0)? {
            view.push(recorded?)?;
        }
        Ok(view)
    }

    /// A view of events read from another log (JetStream), in global order.
    pub fn of_events(events: impl IntoIterator<Item = RecordedEvent>) -> Result<Self> {
        let mut view = LogView::default();
        for recorded in events {
            view.push(recorded)?;
        }
        Ok(view)
    }

    fn push(&mut self, recorded: RecordedEvent) -> Result<()> {
        let event = recorded.decode()?;
        self.by_id.insert(recorded.id, self.events.len());
        self.events.push((recorded, event));
        Ok(())
    }

    /// The event with this id.
    pub fn get(&self, id: &Uuid) -> Option<&Event> {
        self.by_id.get(id).map(|i| &self.events[*i].1)
    }

    /// The calls recorded on `role`'s stream: each input record with its id, the event
    /// it names as source, and the decisions recorded after it (with their ids).
    pub fn calls(&self, role: Role) -> Result<Vec<RecordedCall<'_>>> {
        let mut calls: Vec<RecordedCall<'_>> = Vec::new();
        for (recorded, event) in &self.events {
            if recorded.stream.as_str() != role.name() {
                continue;
            }
            match event {
                Event::InputRecorded(record) => {
                    let source = match &record.source_event_id {
                        Some(id) => {
                            let id = Uuid::parse_str(id).map_err(|e| replay(role, recorded, e))?;
                            let found = self.get(&id).ok_or_else(|| {
                                replay(
                                    role,
                                    recorded,
                                    format!("source event {id} is not in the log"),
                                )
                            })?;
                            Some(found)
                        }
                        None => None,
                    };
                    calls.push(RecordedCall {
                        record,
                        source,
                        decisions: Vec::new(),
                    });
                }
                decision => match calls.last_mut() {
                    Some(call) => call.decisions.push((recorded.id, decision)),
                    None => {
                        return Err(replay(role, recorded, "a decision before any input"));
                    }
                },
            }
        }
        Ok(calls)
    }
}

/// One call of an agent as the log holds it.
#[derive(Debug)]
pub struct RecordedCall<'a> {
    /// The input's description.
    pub record: &'a InputRecorded,
    /// The event the input carried, if any.
    pub source: Option<&'a Event>,
    /// The decisions, with their ids.
    pub decisions: Vec<(Uuid, &'a Event)>,
}

/// Rebuilds `role` from its recorded history in `view`.
pub fn restore(view: &LogView, role: Role) -> Result<Restored> {
    let mut restored = Restored::default();
    for call in view.calls(role)? {
        let decisions: Vec<Event> = call.decisions.iter().map(|(_, e)| (*e).clone()).collect();
        fold_call(&mut restored.states, role, call.source, &decisions);
        restored.handled.insert(input_key(call.record)?);
    }
    Ok(restored)
}

/// The decisions recorded for the input with `key` on `role`'s stream of `log` (the
/// last such call), or `None` when the agent never handled it. Reads only that stream:
/// the key needs no source event.
pub fn recorded_decisions(
    log: &FileLog,
    role: Role,
    key: &InputKey,
) -> Result<Option<Vec<(Uuid, Event)>>> {
    let stream = StreamId::new(role.name())?;
    decisions_for_key(log.read_stream(&stream, 0, usize::MAX)?, key)
}

/// The decisions recorded for the input with `key` among one agent stream's events (the
/// last such call), or `None`.
pub fn decisions_for_key(
    stream_events: impl IntoIterator<Item = RecordedEvent>,
    key: &InputKey,
) -> Result<Option<Vec<(Uuid, Event)>>> {
    let mut found = None;
    let mut current: Option<Vec<(Uuid, Event)>> = None;
    for recorded in stream_events {
        match recorded.decode()? {
            Event::InputRecorded(record) => {
                if current.is_some() {
                    found = current.take();
                }
                if input_key(&record)? == *key {
                    current = Some(Vec::new());
                }
            }
            decision => {
                if let Some(c) = current.as_mut() {
                    c.push((recorded.id, decision));
                }
            }
        }
    }
    Ok(current.or(found))
}

/// Moves `role`'s part of `from` into `into`, leaving the other agents untouched.
pub fn replace_role(into: &mut States, from: States, role: Role) {
    match role {
        Role::Perceiver => into.perceiver = from.perceiver,
        Role::DriftJudge => into.drift_judge = from.drift_judge,
        Role::Trainer => into.trainer = from.trainer,
        Role::Distiller => into.distiller = from.distiller,
        Role::Evaluator => into.evaluator = from.evaluator,
        Role::Releaser => into.releaser = from.releaser,
    }
}

/// True when `role`'s parts of `a` and `b` are equal.
pub fn same_role(a: &States, b: &States, role: Role) -> bool {
    match role {
        Role::Perceiver => a.perceiver == b.perceiver,
        Role::DriftJudge => a.drift_judge == b.drift_judge,
        Role::Trainer => a.trainer == b.trainer,
        Role::Distiller => a.distiller == b.distiller,
        Role::Evaluator => a.evaluator == b.evaluator,
        Role::Releaser => a.releaser == b.releaser,
    }
}

fn replay(role: Role, at: &RecordedEvent, reason: impl std::fmt::Display) -> Error {
    Error::Replay {
        stream: role.name().to_string(),
        sequence: at.sequence,
        reason: reason.to_string(),
    }
}

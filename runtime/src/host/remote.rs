//! Agents that live elsewhere (an actor or a process of the mesh): the host describes
//! each call exactly as it would record it, the agent decides, appends the call to its
//! own stream and answers with its decisions, and the host folds them into its copy of
//! the agent's state (the same fold that rebuilds an agent after a crash, see
//! `restore.rs`). Because decision ids derive from the record's id
//! ([`crate::journal::decision_id`]), the log is the same event for event whoever
//! appended the call.

use ledgerloop_events::catalogue::InputRecorded;
use ledgerloop_events::Event;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::GovernedPolicy;
use crate::error::{Error, Result};
use crate::journal::{decision_id, CallHeader};
use crate::restore::{fold_call, input_key};
use crate::step::{Input, Role};

/// An event on the wire: its type, schema version and payload as the log stores them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireEvent {
    /// Event type name.
    pub event_type: String,
    /// Payload schema version.
    pub schema_version: u16,
    /// Payload JSON.
    pub payload: serde_json::Value,
}

impl WireEvent {
    /// Encodes `event`.
    pub fn of(event: &Event) -> Result<Self> {
        Ok(Self {
            event_type: event.event_type().to_string(),
            schema_version: event.schema_version(),
            payload: serde_json::from_slice(&event.to_payload_json()?)?,
        })
    }

    /// Decodes the event (upcasting an older schema version).
    pub fn event(&self) -> Result<Event> {
        let bytes = serde_json::to_vec(&self.payload)?;
        Ok(Event::decode(
            &self.event_type,
            self.schema_version,
            &bytes,
        )?)
    }
}

/// One call of an agent, as sent to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentCall {
    /// Role, hour, time, record id, cause and correlation.
    pub header: CallHeader,
    /// The input as it is recorded (a large input names a blob by SHA-256).
    pub record: InputRecorded,
    /// The event the input carries (facts, verdicts, decisions handed on).
    pub source: Option<WireEvent>,
}

/// An agent's answer to a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentReply {
    /// The decisions with their ids, as stored on the agent's stream.
    pub decisions: Vec<(Uuid, WireEvent)>,
    /// The input had been handled before (a retried call): the decisions are the ones
    /// recorded then, not decided again.
    pub repeated: bool,
}

/// Where the host sends agent calls when the agents run elsewhere.
pub trait RemoteAgents: Send + std::fmt::Debug {
    /// Delivers `call` and returns the agent's reply once the call is in the log. Must be
    /// safe to retry: an agent answers a repeated call from the log.
    fn call(&mut self, call: &AgentCall) -> Result<AgentReply>;
}

/// The event an input carries, if any.
pub fn carried_event(input: &Input) -> Option<&Event> {
    match input {
        Input::Event(e) | Input::Fold(e) => Some(e),
        Input::Rows { event, .. } => Some(event),
        Input::Verdict { verdict, .. } => Some(verdict),
        Input::Readings(_)
        | Input::Feedback(_)
        | Input::Tick
        | Input::Report(_)
        | Input::Analyse(_)
        | Input::Rollback { .. } => None,
    }
}

impl GovernedPolicy {
    /// Sends every later agent call to `remote` instead of deciding in this process.
    pub fn use_remote_agents(&mut self, remote: Box<dyn RemoteAgents>) {
        self.remote = Some(remote);
    }

    /// One call of `role` made by a remote agent: the host keeps its copy of the agent's
    /// state by folding the input and the decisions returned, and checks that the
    /// decisions carry the ids a local call would have written.
    pub(super) fn call_remote(
        &mut self,
        role: Role,
        hour: u64,
        input: &Input,
        source: Option<Uuid>,
        cause: Option<Uuid>,
    ) -> Result<Vec<(Uuid, Event)>> {
        let record = self.journal.record(role, hour, input, source)?;
        let key = input_key(&record)?;
        let header = self.journal.call_header(role, hour, cause.or(source));
        let carried = carried_event(input);
        let call = AgentCall {
            header,
            record,
            source: carried.map(WireEvent::of).transpose()?,
        };
        let remote = self.remote.as_mut().ok_or_else(|| Error::Mesh {
            reason: "no remote agents configured".into(),
        })?;
        let reply = remote.call(&call)?;
        let mut decisions = Vec::with_capacity(reply.decisions.len());
        for (i, (id, wire)) in reply.decisions.iter().enumerate() {
            if *id != decision_id(header.record_id, header.time, i) {
                return Err(Error::Mesh {
                    reason: format!(
                        "{} answered call {} with decision id {id}, not the one derived from \
                         the record",
                        role.name(),
                        header.record_id
                    ),
                });
            }
            decisions.push((*id, wire.event()?));
        }
        let events: Vec<Event> = decisions.iter().map(|(_, e)| e.clone()).collect();
        fold_call(&mut self.states, role, carried, &events);
        let ids: Vec<Uuid> = decisions.iter().map(|(id, _)| *id).collect();
        self.journal.acknowledge_call(&header, &ids);
        self.handled.entry(role).or_default().insert(key);
        self.last_record = Some((header.record_id, call.record));
        Ok(decisions)
    }
}

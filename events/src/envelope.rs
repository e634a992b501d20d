//! The envelope every event carries, before ([`NewEvent`]) and after ([`RecordedEvent`])
//! it is stored.
//!
//! The payload is kept as the exact JSON bytes that were written: the hash covers those
//! bytes, so an upcast on read (which changes the typed view) never changes what the chain
//! proves, and export/import can carry the bytes verbatim.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalogue::Event;
use crate::ids::{Actor, Hash, StreamId, MAX_ACTOR_PART_BYTES};
use crate::{Error, Result};

/// Largest payload accepted, in bytes. Evidence belongs in events; data sets do not.
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;

/// An event ready to be appended: everything but its stream position and hash.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: Uuid,
    pub time: DateTime<Utc>,
    pub actor: Actor,
    pub causation_id: Option<Uuid>,
    pub correlation_id: Option<Uuid>,
    pub event_type: String,
    pub schema_version: u16,
    /// JSON bytes of the payload, exactly as they will be stored and hashed.
    pub payload: Vec<u8>,
}

impl NewEvent {
    /// Encodes a typed event. The encoding is decoded back before it is accepted, so a
    /// value JSON cannot carry (a NaN or infinite number) is refused here, not discovered
    /// by an auditor later.
    pub fn new(id: Uuid, time: DateTime<Utc>, actor: Actor, event: &Event) -> Result<Self> {
        let payload = event.to_payload_json()?;
        let new = NewEvent {
            id,
            time,
            actor,
            causation_id: None,
            correlation_id: None,
            event_type: event.event_type().to_string(),
            schema_version: event.schema_version(),
            payload,
        };
        new.validate()?;
        Ok(new)
    }

    /// Builds an event from already-encoded parts, as import does. The payload must decode.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        id: Uuid,
        time: DateTime<Utc>,
        actor: Actor,
        causation_id: Option<Uuid>,
        correlation_id: Option<Uuid>,
        event_type: String,
        schema_version: u16,
        payload: Vec<u8>,
    ) -> Result<Self> {
        let new = NewEvent {
            id,
            time,
            actor,
            causation_id,
            correlation_id,
            event_type,
            schema_version,
            payload,
        };
        new.validate()?;
        Event::decode(&new.event_type, new.schema_version, &new.payload)?;
        Ok(new)
    }

    /// Records the event that caused this one.
    pub fn caused_by(mut self, id: Uuid) -> Self {
        self.causation_id = Some(id);
        self
    }

    /// Records the loop iteration this event belongs to.
    pub fn correlated_with(mut self, id: Uuid) -> Self {
        self.correlation_id = Some(id);
        self
    }

    fn validate(&self) -> Result<()> {
        let fail = |reason: String| Err(Error::InvalidEvent { reason });
        if self.payload.len() > MAX_PAYLOAD_BYTES {
            return fail(format!(
                "payload of {} is {} bytes, over the limit of {MAX_PAYLOAD_BYTES}",
                self.event_type,
                self.payload.len()
            ));
        }
        for (what, part) in [
            ("actor role", &self.actor.role),
            ("actor instance", &self.actor.instance),
        ] {
            if part.is_empty() || part.len() > MAX_ACTOR_PART_BYTES {
                return fail(format!("{what} must be 1..={MAX_ACTOR_PART_BYTES} bytes"));
            }
        }
        if self.time.timestamp_nanos_opt().is_none() {
            return fail(format!(
                "time {} is outside the years 1677..2262",
                self.time
            ));
        }
        Ok(())
    }
}

/// An event as stored: the envelope, its place in the log, and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub id: Uuid,
    pub stream: StreamId,
    /// 1-based position within the stream.
    pub sequence: u64,
    /// 0-based position in the whole log, where the backend has one.
    pub position: u64,
    pub time: DateTime<Utc>,
    pub actor: Actor,
    pub causation_id: Option<Uuid>,
    pub correlation_id: Option<Uuid>,
    pub event_type: String,
    pub schema_version: u16,
    /// The payload's stored JSON bytes.
    #[serde(with = "raw_json")]
    pub payload: Vec<u8>,
    pub prev_hash: Hash,
    pub hash: Hash,
}

impl RecordedEvent {
    /// The typed event, upcast to the current schema version.
    pub fn decode(&self) -> Result<Event> {
        Event::decode(&self.event_type, self.schema_version, &self.payload)
    }

    /// The canonical bytes the hash covers (see [`crate::codec`]).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        crate::codec::encode_canonical(self)
    }

    /// Recomputes the hash from the canonical bytes.
    pub fn computed_hash(&self) -> Hash {
        Hash::of(&self.canonical_bytes())
    }
}

/// Serialises payload bytes as embedded raw JSON (not as a string), so export files read
/// naturally and import gets back the very same bytes.
mod raw_json {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::value::RawValue;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(bytes).map_err(serde::ser::Error::custom)?;
        let raw: &RawValue = serde_json::from_str(text).map_err(serde::ser::Error::custom)?;
        s.serialize_some(raw)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Ok(raw.get().as_bytes().to_vec())
    }
}

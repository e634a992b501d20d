//! The canonical binary encoding of an event, which the SHA-256 chain covers.
//!
//! Layout (all integers little-endian, strings UTF-8 with a length prefix):
//!
//! ```text
//! "LLEV" format:u8=1 id:16 stream:u16+bytes sequence:u64 time_unix_ns:i64
//! role:u16+bytes instance:u16+bytes causation:u8 flag+16 correlation:u8 flag+16
//! event_type:u16+bytes schema_version:u16 payload:u32+bytes prev_hash:32
//! ```
//!
//! Every field is length-prefixed or fixed-width, so two different envelopes can never
//! produce the same bytes. The global position is not covered: it is where a backend put
//! the event, not what the event says, and it differs between a JetStream log and its
//! embedded export.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::envelope::{NewEvent, RecordedEvent};
use crate::ids::{Actor, Hash, StreamId};
use crate::{Error, Result};

/// Magic bytes opening every canonical event encoding.
pub const EVENT_MAGIC: &[u8; 4] = b"LLEV";
/// Version of the canonical encoding itself (not of any payload schema).
pub const ENCODING_VERSION: u8 = 1;

/// Encodes the hashed part of an event.
pub fn encode_canonical(ev: &RecordedEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + ev.payload.len() + ev.stream.as_str().len());
    encode_into(&mut out, ev);
    out
}

/// Appends the canonical encoding of `ev` to `out`.
pub fn encode_into(out: &mut Vec<u8>, ev: &RecordedEvent) {
    let parts = Parts {
        id: ev.id,
        stream: ev.stream.as_str(),
        sequence: ev.sequence,
        time: ev.time,
        actor: &ev.actor,
        causation_id: ev.causation_id,
        correlation_id: ev.correlation_id,
        event_type: &ev.event_type,
        schema_version: ev.schema_version,
        payload: &ev.payload,
        prev_hash: &ev.prev_hash,
    };
    encode_parts(out, &parts);
}

/// Appends the canonical encoding of an event about to be stored at `stream`/`sequence`
/// after `prev_hash`, without building a [`RecordedEvent`] first (the append hot path).
pub fn encode_new_into(
    out: &mut Vec<u8>,
    ev: &NewEvent,
    stream: &StreamId,
    sequence: u64,
    prev_hash: &Hash,
) {
    let parts = Parts {
        id: ev.id,
        stream: stream.as_str(),
        sequence,
        time: ev.time,
        actor: &ev.actor,
        causation_id: ev.causation_id,
        correlation_id: ev.correlation_id,
        event_type: &ev.event_type,
        schema_version: ev.schema_version,
        payload: &ev.payload,
        prev_hash,
    };
    encode_parts(out, &parts);
}

/// The hashed fields of an event, borrowed.
struct Parts<'a> {
    id: Uuid,
    stream: &'a str,
    sequence: u64,
    time: DateTime<Utc>,
    actor: &'a Actor,
    causation_id: Option<Uuid>,
    correlation_id: Option<Uuid>,
    event_type: &'a str,
    schema_version: u16,
    payload: &'a [u8],
    prev_hash: &'a Hash,
}

fn encode_parts(out: &mut Vec<u8>, ev: &Parts<'_>) {
    out.extend_from_slice(EVENT_MAGIC);
    out.push(ENCODING_VERSION);
    out.extend_from_slice(ev.id.as_bytes());
    put_str16(out, ev.stream);
    out.extend_from_slice(&ev.sequence.to_le_bytes());
    // Validated at NewEvent construction; the fallback never triggers for stored events.
    let nanos = ev.time.timestamp_nanos_opt().unwrap_or(i64::MIN);
    out.extend_from_slice(&nanos.to_le_bytes());
    put_str16(out, &ev.actor.role);
    put_str16(out, &ev.actor.instance);
    put_opt_id(out, ev.causation_id);
    put_opt_id(out, ev.correlation_id);
    put_str16(out, ev.event_type);
    out.extend_from_slice(&ev.schema_version.to_le_bytes());
    out.extend_from_slice(&(ev.payload.len() as u32).to_le_bytes());
    out.extend_from_slice(ev.payload);
    out.extend_from_slice(&ev.prev_hash.0);
}

/// Decodes canonical bytes back into an event, given its global position and stored hash.
/// Every length is checked against the buffer; trailing bytes are an error.
pub fn decode_canonical(bytes: &[u8], position: u64, hash: Hash) -> Result<RecordedEvent> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != EVENT_MAGIC {
        return Err(r.fail("bad event magic"));
    }
    let version = r.u8()?;
    if version != ENCODING_VERSION {
        return Err(r.fail(&format!(
            "event encoding version {version} is not supported"
        )));
    }
    let id = Uuid::from_slice(r.take(16)?).map_err(|e| r.fail(&e.to_string()))?;
    let stream = StreamId::new(r.str16()?).map_err(|e| r.fail(&e.to_string()))?;
    let sequence = r.u64()?;
    let time = DateTime::from_timestamp_nanos(r.u64()? as i64);
    let actor = Actor::new(r.str16()?, r.str16()?);
    let causation_id = r.opt_id()?;
    let correlation_id = r.opt_id()?;
    let event_type = r.str16()?;
    let schema_version = u16::from_le_bytes(r.array()?);
    let payload_len = r.u32()? as usize;
    let payload = r.take(payload_len)?.to_vec();
    let prev_hash = Hash(r.array()?);
    if r.at != bytes.len() {
        return Err(r.fail("trailing bytes after event"));
    }
    Ok(RecordedEvent {
        id,
        stream,
        sequence,
        position,
        time,
        actor,
        causation_id,
        correlation_id,
        event_type,
        schema_version,
        payload,
        prev_hash,
        hash,
    })
}

/// The few header fields verification needs, read without copying the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanonicalHeader<'a> {
    pub id: Uuid,
    pub stream: &'a str,
    pub sequence: u64,
    pub event_type: &'a str,
    pub schema_version: u16,
    pub prev_hash: Hash,
}

/// Reads the header fields of canonical bytes (used on the verify hot path).
pub fn peek_header(bytes: &[u8]) -> Result<CanonicalHeader<'_>> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != EVENT_MAGIC || r.u8()? != ENCODING_VERSION {
        return Err(r.fail("bad event magic or encoding version"));
    }
    let id = Uuid::from_slice(r.take(16)?).map_err(|e| r.fail(&e.to_string()))?;
    let stream = r.str16_ref()?;
    let sequence = r.u64()?;
    r.take(8)?;
    r.str16_ref()?;
    r.str16_ref()?;
    r.opt_id()?;
    r.opt_id()?;
    let event_type = r.str16_ref()?;
    let schema_version = u16::from_le_bytes(r.array()?);
    let payload_len = r.u32()? as usize;
    r.take(payload_len)?;
    let prev_hash = Hash(r.array()?);
    if r.at != bytes.len() {
        return Err(r.fail("trailing bytes after event"));
    }
    Ok(CanonicalHeader {
        id,
        stream,
        sequence,
        event_type,
        schema_version,
        prev_hash,
    })
}

fn put_str16(out: &mut Vec<u8>, s: &str) {
    // Stream, actor and type names are validated to be far below 64 KiB.
    out.extend_from_slice(&(s.len().min(u16::MAX as usize) as u16).to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..s.len().min(u16::MAX as usize)]);
}

fn put_opt_id(out: &mut Vec<u8>, id: Option<Uuid>) {
    match id {
        Some(id) => {
            out.push(1);
            out.extend_from_slice(id.as_bytes());
        }
        None => {
            out.push(0);
            out.extend_from_slice(&[0; 16]);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn fail(&self, detail: &str) -> Error {
        Error::InvalidEvent {
            reason: format!("canonical encoding at byte {}: {detail}", self.at),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| self.fail(&format!("needs {n} more bytes")))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn str16_ref(&mut self) -> Result<&'a str> {
        let len = u16::from_le_bytes(self.array()?) as usize;
        let raw = self.take(len)?;
        std::str::from_utf8(raw).map_err(|_| self.fail("string is not UTF-8"))
    }

    fn str16(&mut self) -> Result<String> {
        Ok(self.str16_ref()?.to_string())
    }

    fn opt_id(&mut self) -> Result<Option<Uuid>> {
        let flag = self.u8()?;
        let raw = self.take(16)?;
        match flag {
            0 => Ok(None),
            1 => Ok(Some(
                Uuid::from_slice(raw).map_err(|e| self.fail(&e.to_string()))?,
            )),
            other => Err(self.fail(&format!("bad option flag {other}"))),
        }
    }
}

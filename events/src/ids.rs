//! Identifiers: event ids (UUID v7), stream names, actors and hashes.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result};

/// Longest stream name accepted, in bytes.
pub const MAX_STREAM_NAME_BYTES: usize = 200;
/// Longest actor role or instance accepted, in bytes.
pub const MAX_ACTOR_PART_BYTES: usize = 100;

/// A UUID v7 built from a given time and ten caller-supplied random bytes.
///
/// The simulator passes virtual time and bytes from its seeded RNG so that a run's ids,
/// and therefore its log, are identical for the same seed. Live hosts pass real time and
/// OS randomness.
pub fn deterministic_v7(time: DateTime<Utc>, random10: [u8; 10]) -> Uuid {
    let millis = u64::try_from(time.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &random10).into_uuid()
}

/// The name of one stream: an agent instance or an aggregate. Chains are per stream.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(String);

impl StreamId {
    /// Validates a stream name: 1..=200 bytes of `[A-Za-z0-9._-]`, so that it can double as
    /// a NATS subject token and a file-system-safe name.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let reason = if name.is_empty() {
            Some("empty")
        } else if name.len() > MAX_STREAM_NAME_BYTES {
            Some("longer than 200 bytes")
        } else if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            Some("only ASCII letters, digits, '.', '_' and '-' are allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidStream {
                name,
                reason: reason.to_string(),
            }),
            None => Ok(StreamId(name)),
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for StreamId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StreamId {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        StreamId::new(value)
    }
}

impl From<StreamId> for String {
    fn from(value: StreamId) -> Self {
        value.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who wrote an event: a role (`perceiver`, `releaser`, `world`, `operator`) and an instance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub role: String,
    pub instance: String,
}

impl Actor {
    /// Builds an actor from a role and an instance name.
    pub fn new(role: impl Into<String>, instance: impl Into<String>) -> Self {
        Actor {
            role: role.into(),
            instance: instance.into(),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.role, self.instance)
    }
}

/// A SHA-256 digest; printed and serialised as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash that precedes the first event of every stream.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// Hashes bytes with SHA-256.
    pub fn of(bytes: &[u8]) -> Hash {
        use sha2::Digest;
        Hash(sha2::Sha256::digest(bytes).into())
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Hash> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Hash(out))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Hash::from_hex(&text).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stream names outside the safe alphabet are rejected with the reason.
    #[test]
    fn stream_names_are_validated() {
        assert!(StreamId::new("perceiver-1.ont").is_ok());
        assert!(StreamId::new("").is_err());
        assert!(StreamId::new("a b").is_err());
        assert!(StreamId::new("x".repeat(201)).is_err());
    }

    /// Hex encoding of hashes round-trips.
    #[test]
    fn hash_hex_round_trips() {
        let h = Hash::of(b"ledgerloop");
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex("zz"), None);
    }

    /// Deterministic v7 ids depend only on time and the supplied bytes.
    #[test]
    fn deterministic_ids_repeat() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        assert_eq!(deterministic_v7(t, [7; 10]), deterministic_v7(t, [7; 10]));
        assert_ne!(deterministic_v7(t, [7; 10]), deterministic_v7(t, [8; 10]));
        assert_eq!(deterministic_v7(t, [7; 10]).get_version_num(), 7);
    }
}

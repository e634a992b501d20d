//! Projections: state folded from events, with snapshots as a cache.
//!
//! A snapshot stores the folded state and the position after the last event it covers;
//! loading a snapshot and folding the events after it must give the same state as folding
//! everything (tested by property in `tests/projection.rs`). Snapshots are JSON with a
//! SHA-256 of the state, checked on load.

use std::path::Path;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::envelope::RecordedEvent;
use crate::file_log::FileLog;
use crate::ids::Hash;
use crate::{Error, Result};

/// State derived from events, deterministically.
pub trait Projection: Default + Serialize + DeserializeOwned {
    /// Applies one event.
    fn apply(&mut self, event: &RecordedEvent) -> Result<()>;
}

/// A projection's state as of a position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot<P> {
    /// Position after the last event folded in.
    pub next_position: u64,
    /// Hash of the last event folded in, so a snapshot from another log is refused.
    pub last_hash: Hash,
    /// SHA-256 of the state's JSON.
    pub state_sha256: Hash,
    pub state: P,
}

/// Folds every event from `from` onwards into `state`; returns the next position and the
/// hash of the last event folded.
pub fn fold_from<P: Projection>(
    log: &FileLog,
    state: &mut P,
    from: u64,
    mut last_hash: Hash,
) -> Result<(u64, Hash)> {
    let mut next = from;
    for event in log.read_all(from)? {
        let event = event?;
        state.apply(&event)?;
        next = event.position + 1;
        last_hash = event.hash;
    }
    Ok((next, last_hash))
}

/// Folds the whole log.
pub fn fold_all<P: Projection>(log: &FileLog) -> Result<Snapshot<P>> {
    let mut state = P::default();
    let (next_position, last_hash) = fold_from(log, &mut state, 0, Hash::GENESIS)?;
    snapshot_of(state, next_position, last_hash)
}

/// Brings a snapshot up to date with the log.
pub fn catch_up<P: Projection>(log: &FileLog, snapshot: Snapshot<P>) -> Result<Snapshot<P>> {
    if snapshot.next_position > 0 {
        let at = log.read_range(snapshot.next_position - 1, 1)?;
        if at.first().map(|e| e.hash) != Some(snapshot.last_hash) {
            return Err(Error::InvalidEvent {
                reason: format!(
                    "snapshot at position {} does not belong to this log",
                    snapshot.next_position
                ),
            });
        }
    }
    let mut state = snapshot.state;
    let (next_position, last_hash) =
        fold_from(log, &mut state, snapshot.next_position, snapshot.last_hash)?;
    snapshot_of(state, next_position, last_hash)
}

fn snapshot_of<P: Projection>(
    state: P,
    next_position: u64,
    last_hash: Hash,
) -> Result<Snapshot<P>> {
    let json = serde_json::to_vec(&state).map_err(|e| Error::InvalidEvent {
        reason: e.to_string(),
    })?;
    Ok(Snapshot {
        next_position,
        last_hash,
        state_sha256: Hash::of(&json),
        state,
    })
}

/// Writes a snapshot atomically (temporary file, fsync, rename).
pub fn save<P: Projection>(path: &Path, snapshot: &Snapshot<P>) -> Result<()> {
    let json = serde_json::to_vec(snapshot).map_err(|e| Error::InvalidEvent {
        reason: e.to_string(),
    })?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &json).map_err(|e| Error::io(&tmp, e))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Loads a snapshot and checks its state hash.
pub fn load<P: Projection>(path: &Path) -> Result<Snapshot<P>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |reason: String| Error::BadInput {
        file: path.display().to_string(),
        line: 0,
        reason,
    };
    let snapshot: Snapshot<P> = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let json = serde_json::to_vec(&snapshot.state).map_err(|e| bad(e.to_string()))?;
    if Hash::of(&json) != snapshot.state_sha256 {
        return Err(bad("snapshot state does not match its SHA-256".into()));
    }
    Ok(snapshot)
}

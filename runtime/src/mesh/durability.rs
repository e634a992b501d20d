//! The server settings the mesh needs for "no acknowledged event is lost", and the check
//! made at start-up.
//!
//! JetStream acknowledges a publish once the message is in the server's write buffer;
//! with file storage it is flushed to disk every `sync_interval` (2 minutes by default),
//! so a power failure can lose acknowledged events (an independent analysis of NATS
//! 2.12.1 showed exactly that). ledgerloop needs one of:
//!
//! * a single server with `jetstream { sync_interval: always }` (NATS >= 2.10), which
//!   fsyncs before every acknowledgement; or
//! * a cluster with the stream replicated to 3 servers (`num_replicas: 3`), where an
//!   acknowledgement means a quorum holds the message.
//!
//! The client API does not expose `sync_interval`, so the check below can prove
//! weakness (memory storage, a server too old to sync every write) but not strength: it
//! reports what it saw and warns loudly unless the operator states the server syncs
//! every write.

use serde::Serialize;

/// What the start-up check saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Durability {
    /// Server version string.
    pub server_version: String,
    /// Storage of the events stream (`file` or `memory`).
    pub storage: String,
    /// Replicas of the events stream.
    pub replicas: usize,
    /// Warnings, each naming the setting to change.
    pub warnings: Vec<String>,
}

impl Durability {
    /// True when nothing weaker than required was seen.
    pub fn is_durable(&self) -> bool {
        self.warnings.is_empty()
    }
}

/// Checks the events stream and server; `assume_sync_always` is the operator's statement
/// that the server runs with `sync_interval: always`.
pub fn check(
    server_version: &str,
    storage_is_file: bool,
    replicas: usize,
    assume_sync_always: bool,
) -> Durability {
    let mut warnings = Vec::new();
    if !storage_is_file {
        warnings.push(
            "the events stream uses memory storage: everything is lost when the server \
             stops; recreate it with file storage"
                .to_string(),
        );
    }
    let syncs_supported = version_at_least(server_version, (2, 10));
    if replicas < 3 && !assume_sync_always {
        let fix = if syncs_supported {
            "set `jetstream { sync_interval: always }` in the server config (and pass \
             --assume-sync-always), or replicate the stream to 3 servers"
        } else {
            "this server cannot sync every write (sync_interval arrived in NATS 2.10): \
             upgrade it, or replicate the stream to 3 servers"
        };
        warnings.push(format!(
            "acknowledged events can be lost on a crash of the machine: JetStream flushes \
             to disk every 2 minutes by default and the stream has {replicas} replica(s); \
             {fix}"
        ));
    } else if replicas < 3 && !syncs_supported {
        warnings.push(format!(
            "--assume-sync-always was given but NATS {server_version} has no \
             sync_interval setting; upgrade to 2.10 or later"
        ));
    }
    Durability {
        server_version: server_version.to_string(),
        storage: if storage_is_file { "file" } else { "memory" }.to_string(),
        replicas,
        warnings,
    }
}

fn version_at_least(version: &str, (major, minor): (u64, u64)) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A single 2.9 server with default settings is reported as not durable, naming the fix.
    #[test]
    fn old_single_server_is_weak() {
        let d = check("2.9.10", true, 1, false);
        assert!(!d.is_durable());
        assert!(d.warnings[0].contains("upgrade"), "{:?}", d.warnings);
    }

    /// A 2.10 server the operator runs with sync_interval always passes.
    #[test]
    fn synced_server_passes() {
        assert!(check("2.10.4", true, 1, true).is_durable());
        assert!(check("v2.12.1", true, 3, false).is_durable());
    }

    /// Memory storage is always reported.
    #[test]
    fn memory_storage_is_weak() {
        assert!(!check("2.12.1", false, 3, true).is_durable());
    }
}

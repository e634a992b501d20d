//! Helpers shared by the event crate's integration tests.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use ledgerloop_events::catalogue::{DriftDetected, OperatorNoted};
use ledgerloop_events::ids::deterministic_v7;
use ledgerloop_events::{Actor, Event, Evidence, NewEvent, Rule};

/// A fixed, valid time `i` seconds after a base instant.
pub fn time(i: u64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_750_000_000 + i as i64, 0).expect("valid time")
}

/// A deterministic operator note numbered `i` with a text of about `len` bytes.
pub fn note(i: u64, len: usize) -> NewEvent {
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&i.to_le_bytes());
    let text = format!("note {i} {}", "x".repeat(len));
    let event = Event::OperatorNoted(OperatorNoted {
        operator: "tester".into(),
        text,
    });
    NewEvent::new(
        deterministic_v7(time(i), random),
        time(i),
        Actor::new("operator", "test"),
        &event,
    )
    .expect("valid event")
}

/// A deterministic drift decision numbered `i`.
pub fn drift(i: u64) -> NewEvent {
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&(i | 1 << 63).to_le_bytes());
    let event = Event::DriftDetected(DriftDetected {
        drift_kind: "data".into(),
        detector: "ks".into(),
        feature: Some("rx_power_dbm".into()),
        model_id: "tabular-0001".into(),
        evidence: Evidence::new()
            .with("statistic", 0.31)
            .with("threshold", 0.1)
            .with("window", i as f64),
        rule: Rule::new("data_drift_ks").with("alpha", 0.01),
    });
    NewEvent::new(
        deterministic_v7(time(i), random),
        time(i),
        Actor::new("drift_judge", "ont"),
        &event,
    )
    .expect("valid event")
}

/// Copies a directory tree (flat: logs have no sub-directories).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy file");
    }
}

/// Path of the only segment of a small log.
pub fn only_segment(dir: &std::path::Path) -> std::path::PathBuf {
    let mut segs: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    assert_eq!(segs.len(), 1, "expected one segment");
    segs.remove(0)
}

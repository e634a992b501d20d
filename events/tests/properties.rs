//! Property tests: encodings round-trip, export/import keeps hashes, snapshot + tail
//! equals a full fold.

#[path = "support/helpers.rs"]
mod helpers;

use std::collections::BTreeMap;

use ledgerloop_events::catalogue::{DriftDetected, OperatorNoted};
use ledgerloop_events::ids::deterministic_v7;
use ledgerloop_events::projection::{self, Projection};
use ledgerloop_events::{
    codec, jsonl, Actor, Event, Evidence, ExpectedVersion, FileLog, FileLogOptions, FsyncPolicy,
    NewEvent, RecordedEvent, Rule, StreamId,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

fn arb_event() -> impl Strategy<Value = Event> {
    let note = ("[a-z]{1,8}", any::<String>())
        .prop_map(|(operator, text)| Event::OperatorNoted(OperatorNoted { operator, text }));
    let drift = (
        "[a-z_]{1,10}",
        proptest::option::of("[a-z_]{1,12}"),
        proptest::collection::btree_map("[a-z_]{1,8}", -1e12f64..1e12, 0..6),
        any::<u32>(),
    )
        .prop_map(|(detector, feature, evidence, alpha)| {
            Event::DriftDetected(DriftDetected {
                drift_kind: "concept".into(),
                detector,
                feature,
                model_id: "m".into(),
                evidence: Evidence(evidence),
                rule: Rule::new("p").with("alpha", alpha),
            })
        });
    prop_oneof![note, drift]
}

fn arb_new_event() -> impl Strategy<Value = NewEvent> {
    (
        arb_event(),
        0i64..4_000_000_000_000,
        any::<[u8; 10]>(),
        "[a-z_]{1,12}",
        "[a-z0-9-]{1,12}",
        any::<Option<[u8; 16]>>(),
        any::<bool>(),
    )
        .prop_map(|(event, millis, random, role, instance, cause, corr)| {
            let time = chrono::DateTime::from_timestamp_millis(millis).expect("in range");
            let mut e = NewEvent::new(
                deterministic_v7(time, random),
                time,
                Actor::new(role, instance),
                &event,
            )
            .expect("valid");
            if let Some(c) = cause {
                e = e.caused_by(uuid::Uuid::from_bytes(c));
                if corr {
                    e = e.correlated_with(uuid::Uuid::from_bytes(c));
                }
            }
            e
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any batch of events round-trips through append/read, the canonical codec, and
    /// JSONL export/import into a fresh log with identical hashes.
    #[test]
    fn events_round_trip_with_identical_hashes(batches in proptest::collection::vec((0usize..3, proptest::collection::vec(arb_new_event(), 1..5)), 1..6)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = FileLog::open(dir.path().join("a"), FileLogOptions { fsync: FsyncPolicy::Never, ..Default::default() }).expect("open");
        let mut written = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (stream, events) in batches {
            let events: Vec<NewEvent> = events.into_iter().filter(|e| seen.insert(e.id)).collect();
            if events.is_empty() { continue; }
            let stream = StreamId::new(format!("s{stream}")).expect("stream");
            log.append(&stream, ExpectedVersion::Any, events.clone()).expect("append");
            written.extend(events);
        }
        let read: Vec<RecordedEvent> = log.read_all(0).expect("read").collect::<Result<_, _>>().expect("events");
        prop_assert_eq!(read.len(), written.len());
        for (r, w) in read.iter().zip(&written) {
            prop_assert_eq!(r.id, w.id);
            prop_assert_eq!(&r.payload, &w.payload);
            prop_assert_eq!(r.time, w.time);
            prop_assert_eq!(r.decode().expect("decode").to_payload_json().expect("encode"), w.payload.clone());
            let back = codec::decode_canonical(&r.canonical_bytes(), r.position, r.hash).expect("codec");
            prop_assert_eq!(&back, r);
            prop_assert_eq!(r.computed_hash(), r.hash);
        }
        let mut exported = Vec::new();
        jsonl::export(&log, 0, None, &mut exported).expect("export");
        let copy = FileLog::open(dir.path().join("b"), FileLogOptions { fsync: FsyncPolicy::Never, ..Default::default() }).expect("open");
        jsonl::import(&copy, &mut exported.as_slice(), "export.jsonl").expect("import");
        let imported: Vec<RecordedEvent> = copy.read_all(0).expect("read").collect::<Result<_, _>>().expect("events");
        prop_assert_eq!(imported.iter().map(|e| e.hash).collect::<Vec<_>>(), read.iter().map(|e| e.hash).collect::<Vec<_>>());
        let again = jsonl::import(&copy, &mut exported.as_slice(), "export.jsonl").expect("re-import");
        prop_assert_eq!(again.events, 0, "a re-run of an import writes nothing");
    }

    /// Folding N events equals folding a snapshot taken at k and then the tail.
    #[test]
    fn snapshot_plus_tail_equals_full_fold(n in 1u64..60, k_frac in 0.0f64..1.0) {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = FileLog::open(dir.path(), FileLogOptions { fsync: FsyncPolicy::Never, ..Default::default() }).expect("open");
        let k = (n as f64 * k_frac) as u64;
        let mut snapshot = None;
        for i in 0..n {
            if i == k {
                snapshot = Some(projection::fold_all::<Tally>(&log).expect("fold"));
            }
            let event = if i % 3 == 0 { helpers::drift(i) } else { helpers::note(i, i as usize % 7) };
            let stream = StreamId::new(format!("s{}", i % 4)).expect("stream");
            log.append(&stream, ExpectedVersion::Any, vec![event]).expect("append");
        }
        let full = projection::fold_all::<Tally>(&log).expect("fold");
        let snapshot = snapshot.unwrap_or_else(|| projection::fold_all::<Tally>(&log).expect("fold"));
        let path = dir.path().join("snap.json");
        projection::save(&path, &snapshot).expect("save");
        let loaded = projection::load::<Tally>(&path).expect("load");
        let caught_up = projection::catch_up(&log, loaded).expect("catch up");
        prop_assert_eq!(caught_up, full);
    }
}

/// A projection counting events per type and summing sequences per stream.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Tally {
    per_type: BTreeMap<String, u64>,
    sequence_sum: BTreeMap<String, u64>,
    last_position: Option<u64>,
}

impl Projection for Tally {
    fn apply(&mut self, event: &RecordedEvent) -> ledgerloop_events::Result<()> {
        *self
            .per_type
            .entry(event.decode()?.event_type().to_string())
            .or_default() += 1;
        *self
            .sequence_sum
            .entry(event.stream.to_string())
            .or_default() += event.sequence;
        self.last_position = Some(event.position);
        Ok(())
    }
}

/// A payload with a non-finite number is refused when the event is built.
#[test]
fn non_finite_evidence_is_refused() {
    let event = Event::DriftDetected(DriftDetected {
        evidence: Evidence::new().with("statistic", f64::NAN),
        ..Default::default()
    });
    let err = NewEvent::new(
        uuid::Uuid::nil(),
        helpers::time(0),
        Actor::new("a", "b"),
        &event,
    )
    .unwrap_err();
    assert!(err.to_string().contains("DriftDetected"), "{err}");
}

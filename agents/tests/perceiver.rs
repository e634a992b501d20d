//! Given-events / when-input / then-events tests of the Perceiver.

use std::collections::BTreeMap;

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::perceiver::ingest::SUMMARY_BINS;
use ledgerloop_agents::perceiver::{
    FeedbackBatch, MissingValues, Outcome, Perceiver, PerceiverInput, PerceiverPolicy,
    PerceiverState, ReadingBatch, MAX_TRACKED_VERSIONS,
};
use ledgerloop_events::Event;

#[path = "support/perceiver_inputs.rs"]
mod inputs;
use inputs::*;

fn quarantine_counts(events: &[Event]) -> BTreeMap<String, u64> {
    events
        .iter()
        .find_map(|e| match e {
            Event::ReadingsQuarantined(q) => Some(q.counts_by_reason.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

const P: [f64; 2] = [0.5, 0.5];

/// Given nothing, when a batch breaks each cleaning rule once, then each reason is counted once.
#[test]
fn each_quarantine_reason_is_counted() {
    let perceiver = Perceiver::new(PerceiverPolicy {
        missing: MissingValues::Quarantine,
        ..policy()
    })
    .expect("valid");
    let rows = vec![
        ok_row("good", P.to_vec()),
        reading("arity", "d1", vec![Some(1.0)], P.to_vec()),
        reading("dup", "dev-good", vec![Some(-10.0), Some(20.0)], P.to_vec()),
        reading("missing", "d2", vec![None, Some(20.0)], P.to_vec()),
        reading("nan", "d3", vec![Some(f64::NAN), Some(20.0)], P.to_vec()),
        reading("range", "d4", vec![Some(-10.0), Some(200.0)], P.to_vec()),
    ];
    let events = perceiver
        .decide(&PerceiverState::default(), &batch("b0", 0, rows))
        .expect("decides");
    let expected: BTreeMap<String, u64> = [
        "wrong_arity",
        "duplicate",
        "missing",
        "non_finite",
        "out_of_range",
    ]
    .iter()
    .map(|r| ((*r).to_owned(), 1))
    .collect();
    assert_eq!(quarantine_counts(&events), expected);
    let Event::BatchIngested(ingested) = &events[0] else {
        panic!("first event is BatchIngested: {events:?}")
    };
    assert_eq!((ingested.rows, ingested.clean_rows), (6, 1));
}

/// Given readings without a device id, when they share the hour, then none is taken for a duplicate.
#[test]
fn readings_without_device_are_not_duplicates() {
    let perceiver = Perceiver::new(policy()).expect("valid");
    let rows = (0..3)
        .map(|i| {
            reading(
                &format!("r{i}"),
                "",
                vec![Some(-10.0), Some(20.0)],
                P.to_vec(),
            )
        })
        .collect();
    let events = perceiver
        .decide(&PerceiverState::default(), &batch("b", 0, rows))
        .expect("decides");
    assert_eq!(quarantine_counts(&events), BTreeMap::new());
}

/// Given a batch reported in mW, when a value is positive it is converted to dBm, otherwise quarantined.
#[test]
fn unit_rules_convert_or_quarantine() {
    let perceiver = Perceiver::new(policy()).expect("valid");
    let mut input = ReadingBatch {
        batch_id: "b".into(),
        hour: 0,
        ..Default::default()
    };
    input.units.insert("rx_power_dbm".into(), "mW".into());
    input.rows = vec![
        reading("a", "d1", vec![Some(1.0), Some(20.0)], P.to_vec()),
        reading("b", "d2", vec![Some(0.1), Some(20.0)], P.to_vec()),
        reading("c", "d3", vec![Some(0.0), Some(20.0)], P.to_vec()),
    ];
    let events = perceiver
        .decide(
            &PerceiverState::default(),
            &PerceiverInput::Batch(input.clone()),
        )
        .expect("decides");
    let Event::BatchIngested(ingested) = &events[0] else {
        panic!("{events:?}")
    };
    let sum = ingested.feature_sums["rx_power_dbm"];
    assert!((sum - (0.0 + -10.0)).abs() < 1e-9, "{sum}");
    assert_eq!(
        quarantine_counts(&events),
        BTreeMap::from([("unit_conversion".to_owned(), 1)])
    );
    input.units.insert("rx_power_dbm".into(), "W".into());
    let events = perceiver
        .decide(&PerceiverState::default(), &PerceiverInput::Batch(input))
        .expect("decides");
    assert_eq!(
        quarantine_counts(&events),
        BTreeMap::from([("unknown_unit".to_owned(), 3)])
    );
}

/// Given 40 ingested readings at 20 C, when a reading lacks its temperature, then the binned median fills it.
#[test]
fn missing_values_are_imputed_from_the_summary_median() {
    let perceiver = Perceiver::new(policy()).expect("valid");
    let mut state = PerceiverState::default();
    let history = (0..40)
        .map(|i| ok_row(&format!("h{i}"), P.to_vec()))
        .collect();
    perceiver
        .decide_and_evolve(&mut state, &batch("b0", 0, history))
        .expect("decides");
    let rows = vec![reading("m", "dm", vec![Some(-10.0), None], P.to_vec())];
    let events = perceiver
        .decide(&state, &batch("b1", 1, rows))
        .expect("decides");
    let Event::BatchIngested(ingested) = &events[0] else {
        panic!("{events:?}")
    };
    // Bins are 5 C wide from -20 C; all 40 values sit in [20, 25), whose middle is 22.5.
    assert_eq!(ingested.imputed_values, 1);
    assert!(
        (ingested.feature_sums["temp_c"] - 22.5).abs() < 1e-9,
        "{ingested:?}"
    );
    assert_eq!(state.features["temp_c"].bins.len(), SUMMARY_BINS);
    assert_eq!(quarantine_counts(&events), BTreeMap::new());
}

/// Given outcomes of two versions, when feedback arrives, then one FeedbackRecorded per version tallies them in order.
#[test]
fn feedback_is_recorded_per_serving_version() {
    let perceiver = Perceiver::new(policy()).expect("valid");
    let outcome = |m: &str, p: u32, a: u32| Outcome {
        item_id: "i".into(),
        model_id: m.into(),
        predicted: p,
        actual: a,
    };
    let input = PerceiverInput::Feedback(FeedbackBatch {
        hour: 7,
        outcomes: vec![
            outcome("v2", 1, 1),
            outcome("v1", 0, 1),
            outcome("v2", 1, 0),
            outcome("v1", 0, 0),
        ],
    });
    let mut state = PerceiverState::default();
    let events = perceiver
        .decide_and_evolve(&mut state, &input)
        .expect("decides");
    let recorded: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::FeedbackRecorded(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(recorded.len(), 2);
    assert_eq!(
        (
            recorded[0].model_id.as_str(),
            recorded[0].outcomes,
            recorded[0].errors,
            recorded[0].error_stream.as_str()
        ),
        ("v1", 2, 1, "10")
    );
    assert_eq!(
        (
            recorded[1].model_id.as_str(),
            recorded[1].error_stream.as_str(),
            recorded[1].hour
        ),
        ("v2", "01", 7)
    );
    assert_eq!(state.feedback["v1"].errors, 1);
}

/// Given feedback from more versions than are tracked, when it is folded, then the least recently updated version is forgotten.
#[test]
fn feedback_tallies_stay_bounded() {
    let perceiver = Perceiver::new(policy()).expect("valid");
    let mut state = PerceiverState::default();
    for v in 0..=MAX_TRACKED_VERSIONS as u64 {
        let outcome = Outcome {
            item_id: "i".into(),
            model_id: format!("v{v:02}"),
            predicted: 0,
            actual: 0,
        };
        let input = PerceiverInput::Feedback(FeedbackBatch {
            hour: v,
            outcomes: vec![outcome],
        });
        perceiver
            .decide_and_evolve(&mut state, &input)
            .expect("decides");
    }
    assert_eq!(state.feedback.len(), MAX_TRACKED_VERSIONS);
    assert!(!state.feedback.contains_key("v00") && state.feedback.contains_key("v32"));
}

/// Given a batch declaring a unit for a feature the policy lacks, when it is decided, then it is refused as invalid input.
#[test]
fn unit_for_unknown_feature_is_refused() {
    let perceiver = Perceiver::new(policy()).expect("valid");
    let mut input = ReadingBatch {
        batch_id: "b".into(),
        ..Default::default()
    };
    input.units.insert("humidity".into(), "%".into());
    let err = perceiver.decide(&PerceiverState::default(), &PerceiverInput::Batch(input));
    assert!(
        matches!(err, Err(ledgerloop_agents::Error::InvalidInput { .. })),
        "{err:?}"
    );
}

/// Given any run, when its events are folded from scratch, then the state equals the decider's own.
#[test]
fn fold_of_events_reproduces_state() {
    let perceiver = Perceiver::new(PerceiverPolicy {
        label_budget_per_day: 3,
        ..policy()
    })
    .expect("valid");
    let mut state = PerceiverState::default();
    let mut log = Vec::new();
    for hour in 0..30u64 {
        let rows = (0..8)
            .map(|i| {
                ok_row(
                    &format!("{hour}-{i}"),
                    vec![0.5 + 0.06 * f64::from(i), 0.5 - 0.06 * f64::from(i)],
                )
            })
            .collect();
        log.extend(
            perceiver
                .decide_and_evolve(&mut state, &batch(&format!("b{hour}"), hour, rows))
                .expect("decides"),
        );
    }
    assert_eq!(fold::<Perceiver>(&log), state);
    assert!(
        log.iter().all(|e| e.to_payload_json().is_ok()),
        "every event encodes"
    );
}

/// Given unusable policies, when the Perceiver is built, then each is rejected before any run.
#[test]
fn bad_policies_are_rejected() {
    let mut bad_range = policy();
    bad_range.features[0].min = 20.0;
    assert!(Perceiver::new(bad_range).is_err());
    assert!(Perceiver::new(PerceiverPolicy {
        pseudo_label_threshold: 1.5,
        ..policy()
    })
    .is_err());
    let mut orphan = policy();
    orphan.conversions[0].feature = "nope".into();
    assert!(Perceiver::new(orphan).is_err());
    let unknown_key = serde_json::from_str::<PerceiverPolicy>(r#"{"label_budget": 3}"#);
    assert!(unknown_key.is_err());
    assert!(Perceiver::new(PerceiverPolicy::default()).is_ok());
}

/// Given a policy with `temp_c` unmonitored, when a batch is ingested, then only `rx_power_dbm` is sampled for the DriftJudge while both are summed.
#[test]
fn unmonitored_features_are_summarised_but_not_sampled() {
    let perceiver = Perceiver::new(policy()).expect("valid");
    let rows = vec![ok_row("a", P.to_vec()), ok_row("b", P.to_vec())];
    let events = perceiver
        .decide(&PerceiverState::default(), &batch("b0", 0, rows))
        .expect("decides");
    let Event::BatchIngested(ingested) = &events[0] else {
        panic!("first event is BatchIngested: {events:?}")
    };
    let sampled: Vec<&str> = ingested
        .feature_samples
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(sampled, ["rx_power_dbm"]);
    assert_eq!(ingested.feature_sums.len(), 2);
    assert_eq!(ingested.feature_sums.get("temp_c"), Some(&40.0));
}

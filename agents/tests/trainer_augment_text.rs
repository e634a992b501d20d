//! The Trainer's `[trainer.augment_text]` table: carried whole (lexicon included) in the
//! `TrainingStarted` rule so the worker reads it back from the event alone, absent
//! without a trace when off, and refused when impossible or tampered with.

#[path = "support/trainer_inputs.rs"]
mod trainer_inputs;

use ledgerloop_agents::trainer::augment_text::RULE_PARAM;
use ledgerloop_agents::trainer::{TextAugmentPolicy, Trainer, TrainerPolicy, TrainingJob};
use proptest::prelude::*;
use trainer_inputs::started_job;

/// A small code-switch lexicon like the intent policy's.
fn lexicon() -> Vec<(String, String)> {
    [
        ("全屋wifi", "mesh wifi"),
        ("订购", "order"),
        ("网速", "speed"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any valid table travels through `TrainingStarted`'s rule unchanged, lexicon included.
    #[test]
    fn text_spec_round_trips_through_the_rule(
        rare_below_rows in 1u32..500,
        copies_per_row in 1u32..=20,
        char_noise_rate in 0.0f64..=1.0,
        substitution_rate in 0.0f64..=1.0,
        pairs in 0usize..=3,
    ) {
        let table = TextAugmentPolicy {
            rare_below_rows,
            copies_per_row,
            char_noise_rate,
            substitution_rate,
            lexicon: lexicon().into_iter().take(pairs).collect(),
        };
        let policy = TrainerPolicy {
            augment_text: Some(table.clone()),
            ..TrainerPolicy::default()
        };
        let (job, started) = started_job(policy);
        prop_assert_eq!(job.augment_text, Some(table.clone()));
        prop_assert_eq!(job.augment, None);
        prop_assert_eq!(started.rule.params.get(RULE_PARAM), Some(&table.params()));
    }
}

/// Without the table no rule parameter or policy key is written, and the job has no text spec.
#[test]
fn no_table_leaves_no_trace() {
    let (job, started) = started_job(TrainerPolicy::default());
    assert_eq!(job.augment_text, None);
    assert!(!started.rule.params.contains_key(RULE_PARAM));
    let json = serde_json::to_string(&TrainerPolicy::default()).expect("json");
    assert!(!json.contains(RULE_PARAM), "{json}");
}

/// Impossible values are refused by validation and by `Trainer::new`, naming the field.
#[test]
fn impossible_values_are_refused() {
    let ok = TextAugmentPolicy {
        lexicon: lexicon(),
        ..TextAugmentPolicy::default()
    };
    assert!(ok.validate().is_ok());
    let pair = |a: &str, b: &str| vec![(a.to_string(), b.to_string())];
    let cases = [
        (
            "rare_below_rows",
            TextAugmentPolicy {
                rare_below_rows: 0,
                ..ok.clone()
            },
        ),
        (
            "copies_per_row",
            TextAugmentPolicy {
                copies_per_row: 0,
                ..ok.clone()
            },
        ),
        (
            "copies_per_row",
            TextAugmentPolicy {
                copies_per_row: 21,
                ..ok.clone()
            },
        ),
        (
            "char_noise_rate",
            TextAugmentPolicy {
                char_noise_rate: -0.1,
                ..ok.clone()
            },
        ),
        (
            "char_noise_rate",
            TextAugmentPolicy {
                char_noise_rate: f64::NAN,
                ..ok.clone()
            },
        ),
        (
            "substitution_rate",
            TextAugmentPolicy {
                substitution_rate: 1.5,
                ..ok.clone()
            },
        ),
        (
            "lexicon",
            TextAugmentPolicy {
                lexicon: pair("", "speed"),
                ..ok.clone()
            },
        ),
        (
            "lexicon",
            TextAugmentPolicy {
                lexicon: pair("网速", "  "),
                ..ok.clone()
            },
        ),
        (
            "lexicon",
            TextAugmentPolicy {
                lexicon: pair("bill", "bill"),
                ..ok.clone()
            },
        ),
        (
            "lexicon",
            TextAugmentPolicy {
                lexicon: pair(&"x".repeat(41), "y"),
                ..ok.clone()
            },
        ),
        (
            "lexicon",
            TextAugmentPolicy {
                lexicon: vec![("a".into(), "b".into()); 201],
                ..ok.clone()
            },
        ),
    ];
    for (field, table) in cases {
        let err = table.validate().expect_err(field).to_string();
        assert!(err.contains(field), "{err}");
        let trainer = TrainerPolicy {
            augment_text: Some(table),
            ..TrainerPolicy::default()
        };
        assert!(Trainer::new(trainer).is_err(), "{field}");
    }
}

/// An empty pair is named by its position in the lexicon, so the user finds the line.
#[test]
fn a_bad_pair_is_named_by_position() {
    let mut table = TextAugmentPolicy {
        lexicon: lexicon(),
        ..TextAugmentPolicy::default()
    };
    table.lexicon.push(("宽带".into(), String::new()));
    let err = table.validate().expect_err("empty side").to_string();
    assert!(err.contains("entry 3"), "{err}");
    assert!(err.contains("宽带"), "{err}");
}

/// A recorded table edited out of range (or malformed) is refused by the job reader.
#[test]
fn tampered_rule_is_refused() {
    let policy = TrainerPolicy {
        augment_text: Some(TextAugmentPolicy::default()),
        ..TrainerPolicy::default()
    };
    let (_, started) = started_job(policy);
    let mut out_of_range = started.clone();
    out_of_range.rule.params.insert(
        RULE_PARAM.into(),
        serde_json::json!({ "rare_below_rows": 30, "copies_per_row": 99,
            "char_noise_rate": 0.1, "substitution_rate": 0.5, "lexicon": [] }),
    );
    assert!(TrainingJob::from_started(&out_of_range).is_err());
    let mut malformed = started;
    malformed.rule.params.insert(
        RULE_PARAM.into(),
        serde_json::json!({ "lexicon": [["only one side"]] }),
    );
    assert!(TrainingJob::from_started(&malformed).is_err());
}

//! The Trainer's `[trainer.augment]` table: written into `TrainingStarted` so the worker
//! reads it back from the event alone, absent without a trace when off, and refused when
//! impossible.

#[path = "support/trainer_inputs.rs"]
mod trainer_inputs;

use ledgerloop_agents::trainer::{
    AugmentClassWeights, AugmentMethod, AugmentPolicy, Trainer, TrainerPolicy, TrainingJob,
};
use proptest::prelude::*;
use trainer_inputs::started_job;

fn methods() -> impl Strategy<Value = AugmentMethod> {
    prop_oneof![
        Just(AugmentMethod::Smote),
        Just(AugmentMethod::Jitter),
        Just(AugmentMethod::SmoteJitter)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any valid augment policy travels through `TrainingStarted` unchanged and is in the rule.
    #[test]
    fn augment_spec_round_trips_through_the_event(
        method in methods(),
        target_share in 0.01f64..0.5,
        neighbours in 1u32..50,
        jitter_std in 0.01f64..1.0,
        max_synthetic_per_real in 0.5f64..20.0,
        weights in prop_oneof![
            Just(AugmentClassWeights::AugmentedCounts),
            Just(AugmentClassWeights::None),
            Just(AugmentClassWeights::RealCounts),
        ],
    ) {
        let augment = AugmentPolicy {
            method,
            target_share,
            neighbours,
            jitter_std,
            max_synthetic_per_real,
            class_weights: weights,
        };
        let policy = TrainerPolicy { augment: Some(augment.clone()), ..TrainerPolicy::default() };
        let (job, started) = started_job(policy);
        prop_assert_eq!(job.augment, Some(augment.clone()));
        prop_assert_eq!(started.rule.params.get("augment"), Some(&augment.params()));
    }
}

/// Without the table no `augment.*` evidence, rule parameter or policy key is written.
#[test]
fn no_table_leaves_no_trace() {
    let (job, started) = started_job(TrainerPolicy::default());
    assert_eq!(job.augment, None);
    assert!(started
        .evidence
        .0
        .keys()
        .all(|k| !k.starts_with("augment.")));
    assert!(!started.rule.params.contains_key("augment"));
    let json = serde_json::to_string(&TrainerPolicy::default()).expect("json");
    assert!(!json.contains("augment"), "{json}");
}

/// Impossible values are refused by the policy's validation, naming the field.
#[test]
fn impossible_values_are_refused() {
    let ok = AugmentPolicy::default();
    assert!(ok.validate().is_ok());
    let cases = [
        (
            "target_share",
            AugmentPolicy {
                target_share: 0.0,
                ..ok.clone()
            },
        ),
        (
            "target_share",
            AugmentPolicy {
                target_share: 0.75,
                ..ok.clone()
            },
        ),
        (
            "neighbours",
            AugmentPolicy {
                neighbours: 0,
                ..ok.clone()
            },
        ),
        (
            "neighbours",
            AugmentPolicy {
                neighbours: 51,
                ..ok.clone()
            },
        ),
        (
            "jitter_std",
            AugmentPolicy {
                jitter_std: -0.1,
                ..ok.clone()
            },
        ),
        (
            "jitter_std",
            AugmentPolicy {
                method: AugmentMethod::Jitter,
                jitter_std: 0.0,
                ..ok.clone()
            },
        ),
        (
            "max_synthetic_per_real",
            AugmentPolicy {
                max_synthetic_per_real: 21.0,
                ..ok.clone()
            },
        ),
    ];
    for (field, policy) in cases {
        let err = policy.validate().expect_err(field).to_string();
        assert!(err.contains(field), "{err}");
        let trainer = TrainerPolicy {
            augment: Some(policy),
            ..TrainerPolicy::default()
        };
        assert!(Trainer::new(trainer).is_err());
    }
}

/// A tampered spec in the evidence (an unknown method code) is refused by the job reader.
#[test]
fn tampered_spec_is_refused() {
    let policy = TrainerPolicy {
        augment: Some(AugmentPolicy::default()),
        ..TrainerPolicy::default()
    };
    let (_, mut started) = started_job(policy);
    started.evidence.0.insert("augment.method".into(), 7.0);
    assert!(TrainingJob::from_started(&started).is_err());
}

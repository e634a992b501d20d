//! Checks of the Trainer's dataset hash, job spec and refusals of bad input and policy.

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::trainer::{
    job_seed, DatasetComposition, RowRange, Trainer, TrainerInput, TrainerPolicy, TrainerState,
    TrainingJob,
};
use ledgerloop_events::catalogue::{
    BaselineTrained, LabelsReceived, PseudoLabelsAccepted, RetrainRequested, TrainingStarted,
};
use ledgerloop_events::Event;

fn trainer(p: TrainerPolicy) -> Trainer {
    Trainer::new(p).expect("valid policy")
}

fn request(severity: &str, hour: u64) -> RetrainRequested {
    RetrainRequested {
        severity: severity.into(),
        model_id: "m0".into(),
        hour,
        ..Default::default()
    }
}

/// What a host does for a request: append and fold it, then decide and fold the result.
fn host_request(t: &Trainer, state: &mut TrainerState, r: RetrainRequested) -> Vec<Event> {
    Trainer::evolve(state, &Event::RetrainRequested(r.clone()));
    t.decide_and_evolve(state, &TrainerInput::RetrainRequested(r))
        .expect("decides")
}

fn started(ev: &[Event]) -> &TrainingStarted {
    match ev {
        [Event::TrainingStarted(s)] => s,
        other => panic!("expected one TrainingStarted, got {other:?}"),
    }
}

/// The dataset hash depends only on the composition, changes when any part of it does,
/// and the job spec derived from the event re-checks it (a tampered count is refused).
#[test]
fn dataset_hash_is_deterministic_and_tracks_composition() {
    let p = TrainerPolicy::default();
    let given = [
        Event::BaselineTrained(BaselineTrained {
            arm: "static".into(),
            training_rows: 1000,
            ..Default::default()
        }),
        Event::LabelsReceived(LabelsReceived {
            labels: 250,
            ..Default::default()
        }),
        Event::PseudoLabelsAccepted(PseudoLabelsAccepted {
            count: 1000,
            ..Default::default()
        }),
    ];
    let run = || {
        let mut state = fold::<Trainer>(&given);
        host_request(&trainer(p.clone()), &mut state, request("low", 1))
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    let job = TrainingJob::from_started(started(&a)).expect("consistent event");
    // 250 fresh + 200 replay at a 0.3 cap allow floor(450 * 0.3 / 0.7) = 192 pseudo-labels.
    let expected = DatasetComposition {
        fresh_labels: RowRange { from: 0, to: 250 },
        pseudo_labels: RowRange {
            from: 808,
            to: 1000,
        },
        replay_pool_rows: 1000,
        replay_rows: 200,
    };
    assert_eq!(
        (job.composition, job.dataset_hash.clone()),
        (expected, expected.hash())
    );
    assert_eq!(job.seed, job_seed("train-1", &job.dataset_hash));
    let variants = [
        DatasetComposition {
            replay_rows: 199,
            ..expected
        },
        DatasetComposition {
            replay_pool_rows: 1001,
            ..expected
        },
        DatasetComposition {
            fresh_labels: RowRange { from: 1, to: 250 },
            ..expected
        },
        DatasetComposition {
            pseudo_labels: RowRange { from: 808, to: 999 },
            ..expected
        },
    ];
    for v in variants {
        assert_ne!(v.hash(), expected.hash(), "{v:?}");
    }
    let mut tampered = started(&a).clone();
    tampered.evidence.0.insert("replay.rows".into(), 10.0);
    assert!(TrainingJob::from_started(&tampered).is_err());
}

/// Bad input and bad policies are refused with an error, never a panic.
#[test]
fn bad_input_and_policy_are_refused() {
    let t = trainer(TrainerPolicy::default());
    let state = fold::<Trainer>(&[]);
    let bad = TrainerInput::RetrainRequested(request("extreme", 0));
    assert!(t.decide(&state, &bad).is_err());
    let state = fold::<Trainer>(&[Event::RetrainRequested(request("low", 50))]);
    assert!(t.decide(&state, &TrainerInput::Tick { hour: 49 }).is_err());
    let policies = [
        TrainerPolicy {
            min_fresh_labels: 0,
            ..TrainerPolicy::default()
        },
        TrainerPolicy {
            replay_fraction: f64::NAN,
            ..TrainerPolicy::default()
        },
        TrainerPolicy {
            max_pseudo_share: 1.0,
            ..TrainerPolicy::default()
        },
        TrainerPolicy {
            lora_rank_large: 2,
            ..TrainerPolicy::default()
        },
        TrainerPolicy {
            max_concurrent_jobs: 0,
            ..TrainerPolicy::default()
        },
        TrainerPolicy {
            max_attempts: 0,
            ..TrainerPolicy::default()
        },
    ];
    for p in policies {
        assert!(Trainer::new(p.clone()).is_err(), "{p:?}");
    }
    let unknown = r#"{"min_fresh_labels": 10, "max_labels": 3}"#;
    assert!(serde_json::from_str::<TrainerPolicy>(unknown).is_err());
}

//! Determinism of the Trainer over random input sequences: same inputs give the same
//! events, folding the log rebuilds the state, and a snapshot continues identically.

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::trainer::{Trainer, TrainerInput, TrainerPolicy, TrainerState};
use ledgerloop_events::catalogue::{
    BaselineTrained, LabelsReceived, ModelTrained, PseudoLabelsAccepted, RetrainRequested,
    TrainingFailed,
};
use ledgerloop_events::Event;
use proptest::prelude::*;

/// One step of a generated run: (kind, amount, hours to advance).
type Op = (u8, u16, u8);

const SEVERITIES: [&str; 3] = ["low", "medium", "high"];
const STRATEGIES: [&str; 5] = ["", "head_only", "lora", "fine_tune", "full"];

/// Turns a generated op into an input at `hour`; worker results name the running job.
fn input(state: &TrainerState, (kind, amount, _): Op, hour: u64) -> TrainerInput {
    let running = state
        .running
        .keys()
        .next()
        .cloned()
        .unwrap_or_else(|| "train-0".into());
    match kind % 6 {
        0 => TrainerInput::RetrainRequested(RetrainRequested {
            severity: SEVERITIES[usize::from(amount) % 3].into(),
            strategy: STRATEGIES[usize::from(amount) % 5].into(),
            model_id: format!("m{}", amount % 4),
            hour,
            ..Default::default()
        }),
        1 => TrainerInput::LabelsReceived {
            labels: LabelsReceived {
                request_id: "r".into(),
                labels: u64::from(amount),
                cost: 1.0,
            },
            hour,
        },
        2 => TrainerInput::PseudoLabelsAccepted {
            pseudo: PseudoLabelsAccepted {
                count: u64::from(amount),
                ..Default::default()
            },
            hour,
        },
        3 => TrainerInput::ModelTrained {
            trained: ModelTrained {
                job_id: running,
                model_id: format!("m{amount}"),
                ..Default::default()
            },
            hour,
        },
        4 => TrainerInput::TrainingFailed {
            failed: TrainingFailed {
                job_id: running,
                reason: "diverged".into(),
                spent: None,
            },
            hour,
        },
        _ => TrainerInput::Tick { hour },
    }
}

fn fact(input: &TrainerInput) -> Option<Event> {
    match input {
        TrainerInput::RetrainRequested(r) => Some(Event::RetrainRequested(r.clone())),
        TrainerInput::LabelsReceived { labels, .. } => Some(Event::LabelsReceived(labels.clone())),
        TrainerInput::PseudoLabelsAccepted { pseudo, .. } => {
            Some(Event::PseudoLabelsAccepted(pseudo.clone()))
        }
        TrainerInput::ModelTrained { trained, .. } => Some(Event::ModelTrained(trained.clone())),
        TrainerInput::TrainingFailed { failed, .. } => Some(Event::TrainingFailed(failed.clone())),
        TrainerInput::Tick { .. } => None,
    }
}

/// Runs `ops` from `state` as a host would, appending facts and decisions to `log`.
fn run(
    t: &Trainer,
    state: &mut TrainerState,
    ops: &[Op],
    mut hour: u64,
    log: &mut Vec<Event>,
) -> u64 {
    for &op in ops {
        hour += u64::from(op.2 % 12);
        let input = input(state, op, hour);
        if let Some(fact) = fact(&input) {
            Trainer::evolve(state, &fact);
            log.push(fact);
        }
        let events = t
            .decide_and_evolve(state, &input)
            .expect("generated inputs are valid");
        log.extend(events);
        assert!(
            state.running.len() <= 1,
            "the default policy runs one job at a time"
        );
    }
    hour
}

fn policy(cooldown: u64, min_labels: u64, federated: bool) -> TrainerPolicy {
    TrainerPolicy {
        cooldown_hours: cooldown,
        min_fresh_labels: min_labels.max(1),
        federated: federated.then_some(ledgerloop_agents::trainer::FederatedPolicy {
            clients: 4,
            rounds: 3,
            fedprox_mu: 0.01,
        }),
        ..TrainerPolicy::default()
    }
}

fn start() -> Vec<Event> {
    vec![Event::BaselineTrained(BaselineTrained {
        arm: "static".into(),
        model_id: "m0".into(),
        training_rows: 2000,
        ..Default::default()
    })]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Same inputs give the same events, the fold of the produced log reproduces the
    /// state, and a state restored from a JSON snapshot mid-run continues identically.
    #[test]
    fn trainer_is_deterministic_and_snapshots_continue(
        ops in proptest::collection::vec((0u8..6, 0u16..600, 0u8..24), 1..60),
        cut in 0usize..60,
        cooldown in 0u64..48,
        min_labels in 1u64..400,
        federated in any::<bool>(),
    ) {
        let t = Trainer::new(policy(cooldown, min_labels, federated)).expect("valid policy");
        let cut = cut.min(ops.len());
        let mut log_a = start();
        let mut state_a = fold::<Trainer>(&log_a);
        run(&t, &mut state_a, &ops, 0, &mut log_a);

        let mut log_b = start();
        let mut state_b = fold::<Trainer>(&log_b);
        let hour = run(&t, &mut state_b, &ops[..cut], 0, &mut log_b);
        let json = serde_json::to_string(&state_b).expect("serialises");
        let mut restored: TrainerState = serde_json::from_str(&json).expect("deserialises");
        prop_assert_eq!(&restored, &state_b);
        run(&t, &mut restored, &ops[cut..], hour, &mut log_b);

        prop_assert_eq!(&log_a, &log_b);
        prop_assert_eq!(&restored, &state_a);
        prop_assert_eq!(fold::<Trainer>(&log_a), state_a);
        for event in &log_a {
            prop_assert!(event.to_payload_json().is_ok(), "evidence must be finite: {event:?}");
        }
    }
}

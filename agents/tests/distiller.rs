//! Given-events / when-input / then-events tests of the Distiller.

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::distiller::{
    distil_seed, student_of, teacher_of, DistilTrigger, Distiller, DistillerInput, DistillerPolicy,
    DistillerState, StudentRecord, MAX_QUEUE,
};
use ledgerloop_events::catalogue::{
    DistillationStarted, ModelPromoted, ModelTrained, StudentDistilled, TrainingFailed,
};
use ledgerloop_events::{Event, Evidence};
use proptest::prelude::*;

fn distiller(p: DistillerPolicy) -> Distiller {
    Distiller::new(p).expect("valid policy")
}

fn trained(model: &str, hour: u64) -> DistillerInput {
    DistillerInput::ModelTrained {
        trained: ModelTrained {
            job_id: format!("train-{model}"),
            model_id: model.into(),
            ..Default::default()
        },
        hour,
    }
}

fn distilled(job: &str, teacher: &str, hour: u64) -> DistillerInput {
    DistillerInput::StudentDistilled {
        student: StudentDistilled {
            job_id: job.into(),
            teacher_model_id: teacher.into(),
            model_id: format!("{teacher}-student"),
            artifact_sha256: "ab".repeat(32),
            size_bytes: 9000,
            teacher_size_bytes: 32000,
            ..Default::default()
        },
        hour,
    }
}

fn failed(job: &str, hour: u64) -> DistillerInput {
    DistillerInput::TrainingFailed {
        failed: TrainingFailed {
            job_id: job.into(),
            reason: "diverged".into(),
            spent: None,
        },
        hour,
    }
}

fn fact(input: &DistillerInput) -> Option<Event> {
    match input {
        DistillerInput::ModelTrained { trained, .. } => Some(Event::ModelTrained(trained.clone())),
        DistillerInput::ModelPromoted(p) => Some(Event::ModelPromoted(p.clone())),
        DistillerInput::StudentDistilled { student, .. } => {
            Some(Event::StudentDistilled(student.clone()))
        }
        DistillerInput::TrainingFailed { failed, .. } => {
            Some(Event::TrainingFailed(failed.clone()))
        }
        DistillerInput::Tick { .. } => None,
    }
}

/// What a host does: append and fold the input's fact, then decide and fold the result.
fn host(d: &Distiller, state: &mut DistillerState, input: &DistillerInput) -> Vec<Event> {
    if let Some(fact) = fact(input) {
        Distiller::evolve(state, &fact);
    }
    d.decide_and_evolve(state, input).expect("decides")
}

fn expected(
    p: &DistillerPolicy,
    job: &str,
    teacher: &str,
    attempt: u32,
    hour: u64,
    waiting: f64,
    done: f64,
) -> Event {
    Event::DistillationStarted(DistillationStarted {
        job_id: job.into(),
        teacher_model_id: teacher.into(),
        student_config: "student".into(),
        temperature: p.temperature,
        alpha: p.alpha,
        quantize_int8: true,
        prune_sparsity: 0.0,
        seed: distil_seed(job, teacher),
        attempt,
        hour,
        evidence: Evidence::new()
            .with("hour", hour as f64)
            .with("attempt", f64::from(attempt))
            .with("candidates.waiting", waiting)
            .with("students.distilled", done)
            .with("temperature", p.temperature)
            .with("alpha", p.alpha)
            .with("quantize_int8", 1.0)
            .with("prune_sparsity", 0.0)
            .with("gate.max_student_bytes", 65536.0)
            .with("gate.max_latency_us", 500.0),
        rule: p.rule(),
    })
}

/// A trained teacher is distilled once, with the policy's T and alpha; a repeated
/// report of the same teacher asks for nothing, and the lineage records the student.
#[test]
fn distillation_requested_once_per_teacher() {
    let p = DistillerPolicy {
        temperature: 3.0,
        alpha: 0.5,
        ..DistillerPolicy::default()
    };
    let d = distiller(p.clone());
    let mut state = fold::<Distiller>(&[]);
    let events = host(&d, &mut state, &trained("m1", 5));
    assert_eq!(events, vec![expected(&p, "distil-1", "m1", 1, 5, 0.0, 0.0)]);
    assert!(host(&d, &mut state, &trained("m1", 6)).is_empty());
    assert!(host(&d, &mut state, &distilled("distil-1", "m1", 7)).is_empty());
    assert!(host(&d, &mut state, &trained("m1", 8)).is_empty());
    let record = StudentRecord {
        job_id: "distil-1".into(),
        model_id: "m1-student".into(),
        artifact_sha256: "ab".repeat(32),
        size_bytes: 9000,
        teacher_size_bytes: 32000,
    };
    assert_eq!(student_of(&state, "m1"), Some(&record));
    assert_eq!(teacher_of(&state, "m1-student"), Some("m1"));
    assert_eq!(student_of(&state, "m2"), None);
}

/// One job at a time: later teachers wait in arrival order; the next starts when the
/// first student is reported.
#[test]
fn one_distillation_at_a_time() {
    let p = DistillerPolicy::default();
    let d = distiller(p.clone());
    let mut state = fold::<Distiller>(&[]);
    host(&d, &mut state, &trained("m1", 1));
    assert!(host(&d, &mut state, &trained("m2", 2)).is_empty());
    assert!(host(&d, &mut state, &trained("m3", 2)).is_empty());
    assert!(host(&d, &mut state, &DistillerInput::Tick { hour: 3 }).is_empty());
    let events = host(&d, &mut state, &distilled("distil-1", "m1", 4));
    assert_eq!(events, vec![expected(&p, "distil-2", "m2", 1, 4, 1.0, 1.0)]);
}

/// A failed distillation is retried once (attempt 2), then given up; another agent's
/// failed job is ignored.
#[test]
fn failed_distillation_retried_then_given_up() {
    let p = DistillerPolicy::default();
    let d = distiller(p.clone());
    let mut state = fold::<Distiller>(&[Event::ModelTrained(ModelTrained {
        model_id: "m1".into(),
        ..Default::default()
    })]);
    host(&d, &mut state, &DistillerInput::Tick { hour: 1 });
    assert!(host(&d, &mut state, &failed("train-7", 2)).is_empty());
    let events = host(&d, &mut state, &failed("distil-1", 3));
    assert_eq!(events, vec![expected(&p, "distil-2", "m1", 2, 3, 0.0, 0.0)]);
    assert!(host(&d, &mut state, &failed("distil-2", 4)).is_empty());
    assert!(host(&d, &mut state, &DistillerInput::Tick { hour: 5 }).is_empty());
    assert_eq!(student_of(&state, "m1"), None);
    assert_eq!(state.running, None);
}

/// With `trigger = promoted`, a trained model waits and a promotion starts the job.
#[test]
fn promoted_trigger_distils_champions_only() {
    let p = DistillerPolicy {
        trigger: DistilTrigger::Promoted,
        ..DistillerPolicy::default()
    };
    let d = distiller(p.clone());
    let mut state = fold::<Distiller>(&[]);
    assert!(host(&d, &mut state, &trained("m1", 1)).is_empty());
    let promoted = ModelPromoted {
        model_id: "m1".into(),
        previous_model_id: "m0".into(),
        hour: 9,
        ..Default::default()
    };
    let events = host(&d, &mut state, &DistillerInput::ModelPromoted(promoted));
    assert_eq!(events, vec![expected(&p, "distil-1", "m1", 1, 9, 0.0, 0.0)]);
}

/// Impossible policies, unknown keys and time running backwards are refused.
#[test]
fn bad_policy_and_input_are_refused() {
    let bad = [
        DistillerPolicy {
            temperature: 0.0,
            ..DistillerPolicy::default()
        },
        DistillerPolicy {
            alpha: 1.5,
            ..DistillerPolicy::default()
        },
        DistillerPolicy {
            prune_sparsity: 0.99,
            ..DistillerPolicy::default()
        },
        DistillerPolicy {
            max_latency_us: f64::INFINITY,
            ..DistillerPolicy::default()
        },
        DistillerPolicy {
            student_config: String::new(),
            ..DistillerPolicy::default()
        },
    ];
    for p in bad {
        assert!(Distiller::new(p.clone()).is_err(), "{p:?}");
    }
    assert!(serde_json::from_str::<DistillerPolicy>(r#"{"temperatur": 2.0}"#).is_err());
    let d = distiller(DistillerPolicy::default());
    let mut state = fold::<Distiller>(&[]);
    host(&d, &mut state, &trained("m1", 10));
    assert!(d.decide(&state, &DistillerInput::Tick { hour: 9 }).is_err());
}

/// A generated input at `hour`: trained / promoted teachers, worker results naming the
/// running job, and ticks.
fn input(state: &DistillerState, kind: u8, model: u8, hour: u64) -> DistillerInput {
    let job = state
        .running
        .as_ref()
        .map_or("distil-0".to_string(), |(j, _)| j.clone());
    let teacher = format!("m{}", model % 12);
    match kind % 5 {
        0 => trained(&teacher, hour),
        1 => DistillerInput::ModelPromoted(ModelPromoted {
            model_id: teacher,
            hour,
            ..Default::default()
        }),
        2 => distilled(&job, &teacher, hour),
        3 => failed(&job, hour),
        _ => DistillerInput::Tick { hour },
    }
}

fn run(
    d: &Distiller,
    state: &mut DistillerState,
    ops: &[(u8, u8, u8)],
    mut hour: u64,
    log: &mut Vec<Event>,
) -> u64 {
    for &(kind, model, step) in ops {
        hour += u64::from(step % 5);
        let input = input(state, kind, model, hour);
        if let Some(fact) = fact(&input) {
            Distiller::evolve(state, &fact);
            log.push(fact);
        }
        log.extend(
            d.decide_and_evolve(state, &input)
                .expect("generated inputs are valid"),
        );
    }
    hour
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Same inputs give the same events, the fold of the log reproduces the state, a
    /// JSON snapshot mid-run continues identically, and no teacher is distilled more
    /// often than `max_attempts`.
    #[test]
    fn distiller_is_deterministic_and_snapshots_continue(
        ops in proptest::collection::vec((0u8..5, 0u8..24, 0u8..5), 1..60),
        cut in 0usize..60,
        promoted in any::<bool>(),
    ) {
        let trigger = if promoted { DistilTrigger::Promoted } else { DistilTrigger::Trained };
        let d = distiller(DistillerPolicy { trigger, ..DistillerPolicy::default() });
        let cut = cut.min(ops.len());
        let (mut log_a, mut state_a) = (Vec::new(), DistillerState::default());
        run(&d, &mut state_a, &ops, 0, &mut log_a);
        let (mut log_b, mut state_b) = (Vec::new(), DistillerState::default());
        let hour = run(&d, &mut state_b, &ops[..cut], 0, &mut log_b);
        let json = serde_json::to_string(&state_b).expect("serialises");
        let mut restored: DistillerState = serde_json::from_str(&json).expect("deserialises");
        prop_assert_eq!(&restored, &state_b);
        run(&d, &mut restored, &ops[cut..], hour, &mut log_b);
        prop_assert_eq!(&log_a, &log_b);
        prop_assert_eq!(&restored, &state_a);
        prop_assert_eq!(fold::<Distiller>(&log_a), state_a.clone());
        prop_assert!(state_a.trained.len() <= MAX_QUEUE && state_a.promoted.len() <= MAX_QUEUE);
        let mut per_teacher = std::collections::BTreeMap::<String, u32>::new();
        for event in &log_a {
            if let Event::DistillationStarted(s) = event {
                *per_teacher.entry(s.teacher_model_id.clone()).or_default() += 1;
            }
        }
        prop_assert!(per_teacher.values().all(|&n| n <= d.policy().max_attempts));
    }
}

/// Given the `never` trigger, when models are trained and promoted, then nothing is distilled.
#[test]
fn never_trigger_distils_nothing() {
    let distiller = Distiller::new(DistillerPolicy {
        trigger: DistilTrigger::Never,
        ..DistillerPolicy::default()
    })
    .expect("valid");
    let mut state = DistillerState::default();
    let trained = DistillerInput::ModelTrained {
        trained: ModelTrained {
            job_id: "train-1".into(),
            model_id: "m1".into(),
            ..ModelTrained::default()
        },
        hour: 3,
    };
    Distiller::evolve(
        &mut state,
        &Event::ModelTrained(ModelTrained {
            job_id: "train-1".into(),
            model_id: "m1".into(),
            ..ModelTrained::default()
        }),
    );
    let events = distiller.decide(&state, &trained).expect("decides");
    assert!(events.is_empty(), "{events:?}");
    let tick = DistillerInput::Tick { hour: 4 };
    assert!(distiller.decide(&state, &tick).expect("decides").is_empty());
}

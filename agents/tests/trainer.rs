//! Given-events / when-input / then-events tests of the Trainer.

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::trainer::{
    DatasetComposition, RowRange, Trainer, TrainerInput, TrainerPolicy, TrainerState,
};
use ledgerloop_events::catalogue::{
    BaselineTrained, LabelsReceived, ModelTrained, RetrainDeferred, RetrainRequested,
    TrainingFailed, TrainingStarted,
};
use ledgerloop_events::{Event, Evidence, Hash};

fn trainer(p: TrainerPolicy) -> Trainer {
    Trainer::new(p).expect("valid policy")
}

fn baseline(rows: u64) -> Event {
    Event::BaselineTrained(BaselineTrained {
        arm: "static".into(),
        model_id: "m0".into(),
        training_rows: rows,
        ..Default::default()
    })
}

fn request(severity: &str, strategy: &str, hour: u64) -> RetrainRequested {
    RetrainRequested {
        severity: severity.into(),
        strategy: strategy.into(),
        model_id: "m0".into(),
        hour,
        ..Default::default()
    }
}

fn labels(n: u64) -> LabelsReceived {
    LabelsReceived {
        request_id: format!("r{n}"),
        labels: n,
        cost: 0.0,
    }
}

/// What a host does: append and fold the input's fact, then decide and fold the result.
fn host(t: &Trainer, state: &mut TrainerState, input: &TrainerInput) -> Vec<Event> {
    let fact = match input {
        TrainerInput::RetrainRequested(r) => Some(Event::RetrainRequested(r.clone())),
        TrainerInput::LabelsReceived { labels, .. } => Some(Event::LabelsReceived(labels.clone())),
        TrainerInput::PseudoLabelsAccepted { pseudo, .. } => {
            Some(Event::PseudoLabelsAccepted(pseudo.clone()))
        }
        TrainerInput::ModelTrained { trained, .. } => Some(Event::ModelTrained(trained.clone())),
        TrainerInput::TrainingFailed { failed, .. } => Some(Event::TrainingFailed(failed.clone())),
        TrainerInput::Tick { .. } => None,
    };
    if let Some(fact) = fact {
        Trainer::evolve(state, &fact);
    }
    t.decide_and_evolve(state, input).expect("decides")
}

/// The evidence shared by every Trainer decision, as the test expects it.
fn base(
    hour: u64,
    severity: f64,
    request_hour: u64,
    fresh: u64,
    pseudo: u64,
    since: f64,
) -> Evidence {
    Evidence::new()
        .with("hour", hour as f64)
        .with("request.severity", severity)
        .with("request.hour", request_hour as f64)
        .with("labels.available", fresh as f64)
        .with("pseudo.available", pseudo as f64)
        .with("jobs.running", 0.0)
        .with("hours_since_last_start", since)
        .with("failed_attempts", 0.0)
}

fn deferred(
    p: &TrainerPolicy,
    reason: &str,
    hour: u64,
    not_before: u64,
    evidence: Evidence,
) -> Event {
    Event::RetrainDeferred(RetrainDeferred {
        reason: reason.into(),
        model_id: "m0".into(),
        hour,
        not_before_hour: not_before,
        weighed: None,
        evidence: evidence
            .with("threshold.min_fresh_labels", p.min_fresh_labels as f64)
            .with("threshold.cooldown_hours", p.cooldown_hours as f64)
            .with("threshold.max_attempts", f64::from(p.max_attempts))
            .with("not_before_hour", not_before as f64),
        rule: p.rule(),
    })
}

fn started(ev: &[Event]) -> &TrainingStarted {
    match ev {
        [Event::TrainingStarted(s)] => s,
        other => panic!("expected one TrainingStarted, got {other:?}"),
    }
}

/// Too few labels defer the request once (not again on the next tick); the job starts
/// with the exact composition, hash and strategy as soon as enough labels arrive.
#[test]
fn deferred_with_too_few_labels_then_started() {
    let p = TrainerPolicy::default();
    let t = trainer(p.clone());
    let mut state = fold::<Trainer>(&[baseline(1000), Event::LabelsReceived(labels(150))]);
    let events = host(
        &t,
        &mut state,
        &TrainerInput::RetrainRequested(request("medium", "fine_tune", 10)),
    );
    let why = base(10, 1.0, 10, 150, 0, -1.0);
    assert_eq!(events, vec![deferred(&p, "too_few_labels", 10, 10, why)]);
    assert!(host(&t, &mut state, &TrainerInput::Tick { hour: 11 }).is_empty());

    let input = TrainerInput::LabelsReceived {
        labels: labels(100),
        hour: 12,
    };
    let events = host(&t, &mut state, &input);
    let composition = DatasetComposition {
        fresh_labels: RowRange { from: 0, to: 250 },
        pseudo_labels: RowRange { from: 0, to: 0 },
        replay_pool_rows: 1000,
        replay_rows: 200,
    };
    let canonical = r#"{"composition":{"fresh_labels":{"from":0,"to":250},"pseudo_labels":{"from":0,"to":0},"replay_pool_rows":1000,"replay_rows":200},"schema":"ledgerloop.dataset.v1"}"#;
    let hash = Hash::of(canonical.as_bytes()).to_hex();
    assert_eq!(composition.hash(), hash);
    let evidence = base(12, 1.0, 10, 250, 0, -1.0)
        .with("attempt", 1.0)
        .with("pseudo.share", 0.0)
        .with("strategy.lora_rank", 4.0)
        .with("labels.from", 0.0)
        .with("labels.to", 250.0)
        .with("pseudo.from", 0.0)
        .with("pseudo.to", 0.0)
        .with("replay.pool_rows", 1000.0)
        .with("replay.rows", 200.0)
        .with("dataset.rows", 450.0);
    let expected = TrainingStarted {
        job_id: "train-1".into(),
        parent_model_id: Some("m0".into()),
        dataset_hash: hash,
        // Medium maps to fine_tune, but 250 fresh labels are under fine_tune_min_labels.
        strategy: "lora".into(),
        weighed: None,
        evidence,
        rule: p.rule(),
    };
    assert_eq!(events, vec![Event::TrainingStarted(expected)]);
    assert_eq!(
        (
            state.labels_used,
            state.running.len(),
            state.pending.is_none()
        ),
        (250, 1, true)
    );
}

/// Each severity maps to its strategy; too few fresh labels downgrade full -> fine_tune
/// -> lora; the LoRA rank grows with the data; a followed suggestion wins.
#[test]
fn strategy_mapping_for_each_severity() {
    let cases = [
        ("low", "", 3000, "head_only", 0.0),
        ("medium", "", 3000, "fine_tune", 0.0),
        ("high", "", 3000, "full", 0.0),
        ("high", "", 600, "fine_tune", 0.0),
        ("high", "", 300, "lora", 4.0),
        ("medium", "", 1200, "fine_tune", 0.0),
        ("low", "lora", 1200, "lora", 8.0),
        ("low", "lora", 300, "lora", 4.0),
        ("medium", "head_only", 3000, "head_only", 0.0),
    ];
    for (severity, suggestion, fresh, strategy, rank) in cases {
        let t = trainer(TrainerPolicy::default());
        let mut state = fold::<Trainer>(&[baseline(0), Event::LabelsReceived(labels(fresh))]);
        let events = host(
            &t,
            &mut state,
            &TrainerInput::RetrainRequested(request(severity, suggestion, 5)),
        );
        let s = started(&events);
        assert_eq!(
            (s.strategy.as_str(), s.evidence.get("strategy.lora_rank")),
            (strategy, Some(rank)),
            "{severity}/{suggestion} with {fresh} labels"
        );
    }
    let ignore = TrainerPolicy {
        follow_suggestion: false,
        ..TrainerPolicy::default()
    };
    let mut state = fold::<Trainer>(&[Event::LabelsReceived(labels(3000))]);
    let events = host(
        &trainer(ignore),
        &mut state,
        &TrainerInput::RetrainRequested(request("high", "head_only", 5)),
    );
    assert_eq!(started(&events).strategy, "full");
}

/// A request while a job runs is deferred as `job_running`; the next job (train-2)
/// starts once the running one reports back.
#[test]
fn only_one_job_at_a_time() {
    let p = TrainerPolicy {
        cooldown_hours: 0,
        ..TrainerPolicy::default()
    };
    let t = trainer(p.clone());
    let mut state = fold::<Trainer>(&[Event::LabelsReceived(labels(300))]);
    let first = host(
        &t,
        &mut state,
        &TrainerInput::RetrainRequested(request("low", "", 1)),
    );
    assert_eq!(started(&first).job_id, "train-1");
    let more = TrainerInput::LabelsReceived {
        labels: labels(400),
        hour: 2,
    };
    assert!(
        host(&t, &mut state, &more).is_empty(),
        "no request pending, nothing to do"
    );
    let events = host(
        &t,
        &mut state,
        &TrainerInput::RetrainRequested(request("high", "", 3)),
    );
    let why = base(3, 2.0, 3, 400, 0, 2.0).with("jobs.running", 1.0);
    assert_eq!(events, vec![deferred(&p, "job_running", 3, 3, why)]);
    assert!(host(&t, &mut state, &TrainerInput::Tick { hour: 4 }).is_empty());
    let done = ModelTrained {
        job_id: "train-1".into(),
        model_id: "m1".into(),
        ..Default::default()
    };
    let events = host(
        &t,
        &mut state,
        &TrainerInput::ModelTrained {
            trained: done,
            hour: 5,
        },
    );
    let s = started(&events);
    assert_eq!(
        (s.job_id.as_str(), s.evidence.get("labels.from")),
        ("train-2", Some(300.0))
    );
    assert_eq!(state.last_trained_model_id.as_deref(), Some("m1"));
}

/// A failed job is retried after a back-off that doubles (6 h, then 12 h) with the
/// labels it had, and the request is dropped (`gave_up`) after the third failure.
#[test]
fn retry_with_backoff_then_give_up() {
    let p = TrainerPolicy {
        cooldown_hours: 0,
        ..TrainerPolicy::default()
    };
    let t = trainer(p.clone());
    let mut state = fold::<Trainer>(&[Event::LabelsReceived(labels(300))]);
    host(
        &t,
        &mut state,
        &TrainerInput::RetrainRequested(request("low", "", 0)),
    );
    let fail = |job: &str, hour| TrainerInput::TrainingFailed {
        failed: TrainingFailed {
            job_id: job.into(),
            reason: "loss is NaN".into(),
            spent: None,
        },
        hour,
    };
    let events = host(&t, &mut state, &fail("train-1", 10));
    let why = base(10, 0.0, 0, 300, 0, 10.0).with("failed_attempts", 1.0);
    assert_eq!(events, vec![deferred(&p, "backoff", 10, 16, why)]);
    assert!(host(&t, &mut state, &TrainerInput::Tick { hour: 15 }).is_empty());
    let retry = host(&t, &mut state, &TrainerInput::Tick { hour: 16 });
    let s = started(&retry);
    assert_eq!(
        (
            s.job_id.as_str(),
            s.evidence.get("attempt"),
            s.evidence.get("labels.to")
        ),
        ("train-2", Some(2.0), Some(300.0))
    );
    let events = host(&t, &mut state, &fail("train-2", 20));
    let why = base(20, 0.0, 0, 300, 0, 4.0).with("failed_attempts", 2.0);
    assert_eq!(events, vec![deferred(&p, "backoff", 20, 32, why)]);
    let third = host(&t, &mut state, &TrainerInput::Tick { hour: 32 });
    assert_eq!(started(&third).evidence.get("attempt"), Some(3.0));
    let events = host(&t, &mut state, &fail("train-3", 40));
    let why = base(40, 0.0, 0, 300, 0, 8.0).with("failed_attempts", 3.0);
    assert_eq!(events, vec![deferred(&p, "gave_up", 40, 40, why)]);
    assert!(state.pending.is_none());
    assert!(host(&t, &mut state, &TrainerInput::Tick { hour: 100 }).is_empty());
}

/// A request within the cool-down of the last start is deferred until it ends, and
/// starts at exactly that hour.
#[test]
fn cooldown_defers_until_it_ends() {
    let p = TrainerPolicy::default();
    let t = trainer(p.clone());
    let mut state = fold::<Trainer>(&[Event::LabelsReceived(labels(300))]);
    host(
        &t,
        &mut state,
        &TrainerInput::RetrainRequested(request("low", "", 10)),
    );
    let done = ModelTrained {
        job_id: "train-1".into(),
        model_id: "m1".into(),
        ..Default::default()
    };
    host(
        &t,
        &mut state,
        &TrainerInput::ModelTrained {
            trained: done,
            hour: 15,
        },
    );
    host(
        &t,
        &mut state,
        &TrainerInput::LabelsReceived {
            labels: labels(500),
            hour: 16,
        },
    );
    let events = host(
        &t,
        &mut state,
        &TrainerInput::RetrainRequested(request("medium", "", 20)),
    );
    let why = base(20, 1.0, 20, 500, 0, 10.0);
    assert_eq!(events, vec![deferred(&p, "cooldown", 20, 34, why)]);
    assert!(host(&t, &mut state, &TrainerInput::Tick { hour: 33 }).is_empty());
    let events = host(&t, &mut state, &TrainerInput::Tick { hour: 34 });
    assert_eq!(started(&events).job_id, "train-2");
}

/// With `recent_window_labels`, a job trains on the newest labels of the window (some of
/// which an earlier job used) and replays only the history before them, while the
/// minimum still counts new labels; without it, the same inputs train on the new labels.
#[test]
fn recent_window_reaches_back_over_used_labels() {
    let run = |window: Option<u64>| {
        let p = TrainerPolicy {
            cooldown_hours: 0,
            min_fresh_labels: 400,
            recent_window_labels: window,
            ..TrainerPolicy::default()
        };
        let t = trainer(p.clone());
        let mut state = fold::<Trainer>(&[baseline(1000), Event::LabelsReceived(labels(3000))]);
        let first = host(
            &t,
            &mut state,
            &TrainerInput::RetrainRequested(request("high", "", 1)),
        );
        assert_eq!(started(&first).job_id, "train-1");
        let done = ModelTrained {
            job_id: "train-1".into(),
            model_id: "m1".into(),
            ..Default::default()
        };
        let input = TrainerInput::ModelTrained {
            trained: done,
            hour: 2,
        };
        assert!(host(&t, &mut state, &input).is_empty());
        let request = TrainerInput::RetrainRequested(request("high", "", 3));
        let few = TrainerInput::LabelsReceived {
            labels: labels(300),
            hour: 3,
        };
        host(&t, &mut state, &few);
        let events = host(&t, &mut state, &request);
        assert!(
            matches!(&events[..], [Event::RetrainDeferred(d)] if d.reason == "too_few_labels"),
            "300 new labels are under the minimum, whatever the window: {events:?}"
        );
        let more = TrainerInput::LabelsReceived {
            labels: labels(200),
            hour: 4,
        };
        let events = host(&t, &mut state, &more);
        let s = started(&events).clone();
        (p, s)
    };
    let (p, windowed) = run(Some(2000));
    let at = |s: &TrainingStarted, key: &str| s.evidence.get(key).unwrap_or(-1.0);
    assert_eq!(
        (
            at(&windowed, "labels.from"),
            at(&windowed, "labels.to"),
            at(&windowed, "replay.pool_rows"),
            at(&windowed, "replay.rows"),
            at(&windowed, "labels.available"),
        ),
        (1500.0, 3500.0, 2500.0, 500.0, 500.0)
    );
    assert_eq!(
        windowed.rule.params.get("recent_window_labels"),
        Some(&serde_json::json!(2000))
    );
    assert!(p.validate().is_ok());
    let (p, plain) = run(None);
    assert_eq!(
        (at(&plain, "labels.from"), at(&plain, "replay.pool_rows")),
        (3000.0, 4000.0)
    );
    assert!(!plain.rule.params.contains_key("recent_window_labels"));
    let zero = TrainerPolicy {
        recent_window_labels: Some(0),
        ..p
    };
    let refused = zero.validate().expect_err("an empty window is refused");
    assert!(
        refused.to_string().contains("recent_window_labels"),
        "{refused}"
    );
}

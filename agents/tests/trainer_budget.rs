//! Given-events / when-input / then-events tests of the Trainer's cost-aware decisions:
//! gain against cost, and the compute budget per day and week.

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::trainer::{
    BudgetPolicy, Trainer, TrainerInput, TrainerPolicy, TrainerState,
};
use ledgerloop_events::catalogue::{
    BaselineTrained, Cost, LabelsReceived, ModelTrained, RetrainRequested,
};
use ledgerloop_events::{Event, Evidence};

fn trainer(budget: Option<BudgetPolicy>) -> Trainer {
    Trainer::new(TrainerPolicy {
        cooldown_hours: 0,
        budget,
        ..TrainerPolicy::default()
    })
    .expect("valid policy")
}

fn budget(per_day: f64, min_gain: f64) -> BudgetPolicy {
    BudgetPolicy {
        cpu_seconds_per_day: per_day,
        cpu_seconds_per_week: 0.0,
        min_gain_points: min_gain,
        min_gain_points_per_cpu_hour: 0.0,
        prior_cpu_seconds_per_row: 0.01,
    }
}

fn given() -> TrainerState {
    fold::<Trainer>(&[
        Event::BaselineTrained(BaselineTrained {
            arm: "static".into(),
            model_id: "m0".into(),
            training_rows: 1000,
            ..Default::default()
        }),
        Event::LabelsReceived(LabelsReceived {
            request_id: "r1".into(),
            labels: 300,
            cost: 300.0,
        }),
    ])
}

fn request(hour: u64, gain: Option<f64>) -> TrainerInput {
    let evidence = match gain {
        Some(g) => Evidence::new().with("gain.points", g),
        None => Evidence::new(),
    };
    TrainerInput::RetrainRequested(RetrainRequested {
        severity: "medium".into(),
        strategy: "fine_tune".into(),
        model_id: "m0".into(),
        hour,
        evidence,
        ..Default::default()
    })
}

/// What a host does: fold the input's fact, then decide and fold the result.
fn host(t: &Trainer, state: &mut TrainerState, input: &TrainerInput) -> Vec<Event> {
    let fact = match input {
        TrainerInput::RetrainRequested(r) => Some(Event::RetrainRequested(r.clone())),
        TrainerInput::LabelsReceived { labels, .. } => Some(Event::LabelsReceived(labels.clone())),
        TrainerInput::ModelTrained { trained, .. } => Some(Event::ModelTrained(trained.clone())),
        _ => None,
    };
    if let Some(fact) = fact {
        Trainer::evolve(state, &fact);
    }
    t.decide_and_evolve(state, input).expect("decides")
}

/// A drift whose estimated gain is under the policy's minimum is noticed, not acted
/// on: a `not_worth_it` deferral showing gain, cost and budget, and the request is
/// dropped (a later tick starts nothing).
#[test]
fn small_gain_is_noticed_not_acted_on() {
    let t = trainer(Some(budget(0.0, 2.0)));
    let mut state = given();
    let events = host(&t, &mut state, &request(10, Some(0.5)));
    let [Event::RetrainDeferred(d)] = events.as_slice() else {
        panic!("expected one deferral, got {events:?}");
    };
    assert_eq!(d.reason, "not_worth_it");
    let w = d.weighed.as_ref().expect("both sides recorded");
    assert_eq!(w.estimated_gain_points, 0.5);
    // 300 fresh labels + 200 replayed rows at the prior 0.01 s per row.
    assert!((w.estimated_cpu_seconds - 5.0).abs() < 1e-9, "{w:?}");
    assert_eq!(w.cpu_budget_left_day, None, "no daily limit");
    assert_eq!(d.evidence.get("gain.estimated_points"), Some(0.5));
    assert!(state.pending.is_none());
    assert!(host(&t, &mut state, &TrainerInput::Tick { hour: 11 }).is_empty());
}

/// A job that would overrun the day's compute waits as `budget_exhausted` (once) and
/// starts when the next day's budget arrives; the first job's reported cost, not its
/// estimate, is what the budget was charged.
#[test]
fn budget_exhausted_waits_for_the_next_day() {
    let t = trainer(Some(budget(8.0, 0.0)));
    let mut state = given();
    let first = host(&t, &mut state, &request(1, Some(5.0)));
    let [Event::TrainingStarted(s)] = first.as_slice() else {
        panic!("expected a start, got {first:?}");
    };
    assert_eq!(
        s.weighed.as_ref().map(|w| w.cpu_budget_left_day),
        Some(Some(8.0))
    );
    let trained = TrainerInput::ModelTrained {
        trained: ModelTrained {
            job_id: s.job_id.clone(),
            model_id: "m1".into(),
            spent: Some(Cost {
                cpu_seconds: 6.0,
                ..Cost::default()
            }),
            ..Default::default()
        },
        hour: 2,
    };
    assert!(host(&t, &mut state, &trained).is_empty());
    assert_eq!(state.cpu_by_day.get(&0), Some(&6.0));
    let labels = TrainerInput::LabelsReceived {
        labels: LabelsReceived {
            request_id: "r2".into(),
            labels: 300,
            cost: 300.0,
        },
        hour: 3,
    };
    assert!(
        host(&t, &mut state, &labels).is_empty(),
        "no request pending"
    );
    let events = host(&t, &mut state, &request(4, Some(5.0)));
    let [Event::RetrainDeferred(d)] = events.as_slice() else {
        panic!("expected one deferral, got {events:?}");
    };
    assert_eq!(d.reason, "budget_exhausted");
    assert_eq!(d.not_before_hour, 24);
    let w = d.weighed.as_ref().expect("both sides recorded");
    assert_eq!(w.cpu_budget_left_day, Some(2.0));
    assert!(w.estimated_cpu_seconds > 2.0, "{w:?}");
    assert!(host(&t, &mut state, &TrainerInput::Tick { hour: 5 }).is_empty());
    let next_day = host(&t, &mut state, &TrainerInput::Tick { hour: 24 });
    assert!(
        matches!(next_day.as_slice(), [Event::TrainingStarted(_)]),
        "{next_day:?}"
    );
}

/// Without a budget table the Trainer decides exactly as before (no weighing recorded);
/// with an unlimited budget it takes the same decisions and only adds the weighing.
#[test]
fn no_budget_limits_take_the_same_decisions() {
    let inputs = [request(1, Some(0.1)), TrainerInput::Tick { hour: 2 }];
    let run = |t: &Trainer| {
        let mut state = given();
        inputs
            .iter()
            .flat_map(|i| host(t, &mut state, i))
            .collect::<Vec<_>>()
    };
    let plain = run(&trainer(None));
    let unlimited = run(&trainer(Some(budget(0.0, 0.0))));
    let types = |events: &[Event]| events.iter().map(Event::event_type).collect::<Vec<_>>();
    assert_eq!(types(&plain), vec!["TrainingStarted"]);
    assert_eq!(types(&plain), types(&unlimited));
    let (Event::TrainingStarted(a), Event::TrainingStarted(b)) = (&plain[0], &unlimited[0]) else {
        panic!("starts expected");
    };
    assert_eq!(a.dataset_hash, b.dataset_hash);
    assert_eq!(a.strategy, b.strategy);
    assert!(a.weighed.is_none() && b.weighed.is_some());
    assert!(!a.rule.params.contains_key("budget"));
}

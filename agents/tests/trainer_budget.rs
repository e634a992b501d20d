//! Given-events / when-input / then-events tests of the Trainer's cost-aware decisions:
//! gain against cost, the compute budget per day and week, and its two scopes (training
//! jobs only, or the whole iteration with distillation and evaluation).

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::trainer::{
    BudgetPolicy, BudgetScope, Trainer, TrainerInput, TrainerPolicy, TrainerState,
    EVALUATION_REPORT_KIND, EVALUATOR_AGENT,
};
use ledgerloop_events::catalogue::{
    BaselineTrained, Cost, DistillationStarted, InputRecorded, LabelsReceived, ModelTrained,
    RetrainDeferred, RetrainRequested, StudentDistilled,
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
        ..BudgetPolicy::default()
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

/// The one decision in `events`, a `budget_exhausted` deferral until day 1 (hour 24).
fn waits_for_day_one(events: &[Event]) -> &RetrainDeferred {
    let [Event::RetrainDeferred(d)] = events else {
        panic!("expected one deferral, got {events:?}");
    };
    assert_eq!(d.reason, "budget_exhausted");
    assert_eq!(d.not_before_hour, 24);
    d
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
    let d = waits_for_day_one(&events);
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

/// A day's budget of 8 CPU s in `scope`, any gain worth it.
fn scoped(scope: BudgetScope) -> Trainer {
    trainer(Some(BudgetPolicy {
        scope,
        ..budget(8.0, 0.0)
    }))
}

fn cost(cpu_seconds: f64) -> Option<Cost> {
    Some(Cost {
        cpu_seconds,
        ..Cost::default()
    })
}

/// The events a host hands the Trainer in iteration scope after a distillation (hour
/// 1, 2 CPU s) and an evaluation (hour 2, 1 CPU s) on day 0.
fn distil_and_eval() -> Vec<Event> {
    vec![
        Event::DistillationStarted(DistillationStarted {
            job_id: "distil-1".into(),
            teacher_model_id: "m0".into(),
            hour: 1,
            ..Default::default()
        }),
        Event::StudentDistilled(StudentDistilled {
            job_id: "distil-1".into(),
            teacher_model_id: "m0".into(),
            model_id: "s0".into(),
            spent: cost(2.0),
            ..Default::default()
        }),
        Event::InputRecorded(InputRecorded {
            agent: EVALUATOR_AGENT.into(),
            kind: EVALUATION_REPORT_KIND.into(),
            hour: 2,
            body: serde_json::json!({ "candidate_model_id": "m1", "spent": { "cpu_seconds": 1.0 } }),
            ..Default::default()
        }),
    ]
}

/// `given()` with the distillation and evaluation folded in.
fn given_with_distil_and_eval() -> TrainerState {
    let mut state = given();
    for e in distil_and_eval() {
        Trainer::evolve(&mut state, &e);
    }
    state
}

/// With the same numeric budget, a job whose training (5 CPU s) fits the day's 8 CPU s
/// starts in training scope but waits as `budget_exhausted` in iteration scope, where
/// the day already spent 3 CPU s on distillation and evaluation and the job is expected
/// to cause as much again (5 + 2 + 1 = 8 > 8 - 3); the next day it starts.
#[test]
fn iteration_scope_waits_when_the_iteration_does_not_fit() {
    let training = host(
        &scoped(BudgetScope::Training),
        &mut given_with_distil_and_eval(),
        &request(3, Some(5.0)),
    );
    assert!(
        matches!(training.as_slice(), [Event::TrainingStarted(_)]),
        "{training:?}"
    );
    let t = scoped(BudgetScope::Iteration);
    let mut state = given_with_distil_and_eval();
    let events = host(&t, &mut state, &request(3, Some(5.0)));
    let d = waits_for_day_one(&events);
    let w = d.weighed.as_ref().expect("both sides recorded");
    assert!((w.estimated_cpu_seconds - 8.0).abs() < 1e-9, "{w:?}");
    assert_eq!(w.cpu_budget_left_day, Some(5.0));
    let e = &d.evidence;
    assert_eq!(e.get("cost.training_estimated_cpu_seconds"), Some(5.0));
    assert_eq!(e.get("cost.distil_eval_estimated_cpu_seconds"), Some(3.0));
    assert_eq!(e.get("budget.cpu_spent_day"), Some(3.0));
    assert_eq!(e.get("budget.distil_eval_cpu_spent_week"), Some(3.0));
    assert_eq!(d.rule.params["budget"]["scope"], "iteration");
    assert!(host(&t, &mut state, &TrainerInput::Tick { hour: 5 }).is_empty());
    let next_day = host(&t, &mut state, &TrainerInput::Tick { hour: 24 });
    let [Event::TrainingStarted(s)] = next_day.as_slice() else {
        panic!("expected a start, got {next_day:?}");
    };
    // Only the training part is charged at the start; distillation and evaluation are
    // charged when they run.
    assert_eq!(state.cpu_by_day.get(&1), Some(&5.0));
    assert_eq!(
        s.weighed.as_ref().map(|w| w.estimated_cpu_seconds),
        Some(8.0)
    );
}

/// In the default (training) scope the distillation and evaluation facts change no
/// decision: the Trainer writes exactly what it writes without them, rule included.
#[test]
fn training_scope_decides_as_before() {
    let t = scoped(BudgetScope::Training);
    let with = host(
        &t,
        &mut given_with_distil_and_eval(),
        &request(3, Some(5.0)),
    );
    let without = host(&t, &mut given(), &request(3, Some(5.0)));
    assert_eq!(with, without);
    let [Event::TrainingStarted(s)] = with.as_slice() else {
        panic!("expected a start, got {with:?}");
    };
    assert!(s
        .evidence
        .get("cost.distil_eval_estimated_cpu_seconds")
        .is_none());
    assert!(s.rule.params["budget"].get("scope").is_none());
}

/// Before any distillation or evaluation reported, iteration scope expects the priors;
/// a student whose start the Trainer never saw is not charged.
#[test]
fn iteration_scope_uses_the_priors_before_any_report() {
    let t = trainer(Some(BudgetPolicy {
        scope: BudgetScope::Iteration,
        prior_distillation_cpu_seconds: 0.5,
        prior_evaluation_cpu_seconds: 0.25,
        ..budget(0.0, 0.0)
    }));
    let mut state = given();
    Trainer::evolve(&mut state, &distil_and_eval()[1]);
    assert!(state.distil_eval_cpu_by_day.is_empty());
    let events = host(&t, &mut state, &request(3, None));
    let [Event::TrainingStarted(s)] = events.as_slice() else {
        panic!("expected a start, got {events:?}");
    };
    assert_eq!(
        s.evidence.get("cost.distil_eval_estimated_cpu_seconds"),
        Some(0.75)
    );
    assert_eq!(state.cpu_by_day.get(&0), Some(&5.0));
}

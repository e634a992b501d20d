//! Given-events / when-input / then-events tests of the Perceiver's label selection,
//! daily budget and pseudo-labels.

use ledgerloop_agents::decider::Decider;
use ledgerloop_agents::perceiver::labels::stable_uniform;
use ledgerloop_agents::perceiver::{
    Perceiver, PerceiverPolicy, PerceiverState, Reading, SelectionStrategy,
};
use ledgerloop_events::Event;

#[path = "support/perceiver_inputs.rs"]
mod inputs;
use inputs::*;

fn requested(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::LabelsRequested(r) => Some(r.item_ids.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn uncertain_rows() -> Vec<Reading> {
    vec![
        ok_row("a", vec![0.5, 0.3, 0.2]),
        ok_row("b", vec![0.45, 0.45, 0.1]),
        ok_row("c", vec![0.6, 0.2, 0.2]),
        ok_row("d", vec![0.34, 0.33, 0.33]),
        ok_row("e", vec![0.9, 0.05, 0.05]),
    ]
}

fn chosen_by(strategy: SelectionStrategy, seed: u64) -> Vec<String> {
    let p = PerceiverPolicy {
        label_strategy: strategy,
        max_labels_per_batch: 2,
        random_seed: seed,
        ..policy()
    };
    let events = Perceiver::new(p)
        .expect("valid")
        .decide(&PerceiverState::default(), &batch("b", 0, uncertain_rows()))
        .expect("decides");
    requested(&events)
}

/// Given five predictions, when two labels may be bought, then each strategy picks its hand-computed two.
#[test]
fn each_strategy_picks_the_most_uncertain_items() {
    // 1 - p_max: a .50, b .55, c .40, d .66, e .10.
    assert_eq!(chosen_by(SelectionStrategy::LeastConfidence, 0), ["d", "b"]);
    // 1 - (p1 - p2): a .80, b 1.00, c .60, d .99, e .15.
    assert_eq!(chosen_by(SelectionStrategy::Margin, 0), ["b", "d"]);
    // Entropy (nats): a 1.030, b 0.949, c 0.950, d 1.099, e 0.394.
    assert_eq!(chosen_by(SelectionStrategy::Entropy, 0), ["d", "a"]);
}

/// Given a seed, when the random strategy chooses, then it takes the items with the two largest seeded draws.
#[test]
fn random_strategy_follows_the_seeded_draws() {
    for seed in [1, 2, 3] {
        let mut draws: Vec<(f64, &str)> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|id| (stable_uniform(seed, id), *id))
            .collect();
        draws.sort_by(|x, y| y.0.total_cmp(&x.0));
        assert_eq!(
            chosen_by(SelectionStrategy::Random, seed),
            [draws[0].1, draws[1].1],
            "seed {seed}"
        );
        assert_eq!(
            chosen_by(SelectionStrategy::Random, seed),
            chosen_by(SelectionStrategy::Random, seed)
        );
    }
}

/// Given a budget of 5 a day, when 30 hourly batches arrive, then day 0 spends exactly 5 and day 1 starts afresh.
#[test]
fn daily_budget_is_never_exceeded_and_resets() {
    let p = PerceiverPolicy {
        label_budget_per_day: 5,
        max_labels_per_batch: 2,
        ..policy()
    };
    let perceiver = Perceiver::new(p).expect("valid");
    let mut state = PerceiverState::default();
    let mut per_day = [0usize; 2];
    for hour in 0..30u64 {
        let rows = (0..10)
            .map(|i| ok_row(&format!("h{hour}-{i}"), vec![0.6, 0.4]))
            .collect();
        let events = perceiver
            .decide_and_evolve(&mut state, &batch(&format!("b{hour}"), hour, rows))
            .expect("decides");
        let n = requested(&events).len();
        assert!(n <= 2, "hour {hour}: {n}");
        per_day[(hour / 24) as usize] += n;
        assert!(per_day.iter().all(|&d| d <= 5), "hour {hour}: {per_day:?}");
    }
    assert_eq!(per_day, [5, 5]);
    assert_eq!(
        (state.label_day, state.labels_used_today, state.labels_total),
        (1, 5, 10)
    );
}

/// Given 5 a day but 12 a rolling week, when ten days of batches arrive, then the week
/// caps spending (5, 5, 2, then nothing) until its first days roll out of the window.
#[test]
fn weekly_budget_caps_the_daily_budgets() {
    let p = PerceiverPolicy {
        label_budget_per_day: 5,
        label_budget_per_week: 12,
        max_labels_per_batch: 5,
        ..policy()
    };
    let perceiver = Perceiver::new(p).expect("valid");
    let mut state = PerceiverState::default();
    let mut per_day = [0usize; 10];
    for day in 0..10u64 {
        let hour = day * 24;
        let rows = (0..10)
            .map(|i| ok_row(&format!("d{day}-{i}"), vec![0.6, 0.4]))
            .collect();
        let events = perceiver
            .decide_and_evolve(&mut state, &batch(&format!("b{day}"), hour, rows))
            .expect("decides");
        per_day[day as usize] = requested(&events).len();
    }
    assert_eq!(per_day, [5, 5, 2, 0, 0, 0, 0, 5, 5, 2]);
}

/// Given a 0.9 threshold, when predictions straddle it, then only those at or above it become pseudo-labels.
#[test]
fn pseudo_labels_only_above_threshold() {
    let perceiver = Perceiver::new(PerceiverPolicy {
        pseudo_label_threshold: 0.9,
        ..policy()
    })
    .expect("valid");
    let rows = vec![
        ok_row("hi", vec![0.95, 0.05]),
        ok_row("at", vec![0.9, 0.1]),
        ok_row("lo", vec![0.89, 0.11]),
    ];
    let events = perceiver
        .decide(&PerceiverState::default(), &batch("b", 0, rows))
        .expect("decides");
    let pseudo: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::PseudoLabelsAccepted(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(pseudo.len(), 1);
    assert_eq!(pseudo[0].item_ids, ["hi", "at"]);
    assert_eq!(pseudo[0].count, 2);
    assert_eq!(
        requested(&events),
        ["lo"],
        "the pseudo-labelled items are not bought"
    );
}

/// Given readings whose predictions are malformed, when the batch is judged, then they are neither bought nor pseudo-labelled.
#[test]
fn invalid_probabilities_are_never_candidates() {
    let perceiver = Perceiver::new(PerceiverPolicy {
        pseudo_label_threshold: 0.9,
        ..policy()
    })
    .expect("valid");
    let rows = vec![
        ok_row("sum", vec![0.99, 0.5]),
        ok_row("neg", vec![1.2, -0.2]),
        ok_row("nan", vec![f64::NAN, 1.0]),
        ok_row("one", vec![1.0]),
        ok_row("fine", vec![0.6, 0.4]),
    ];
    let events = perceiver
        .decide(&PerceiverState::default(), &batch("b", 0, rows))
        .expect("decides");
    assert_eq!(requested(&events), ["fine"]);
    assert!(
        events
            .iter()
            .all(|e| e.event_type() != "PseudoLabelsAccepted"),
        "{events:?}"
    );
    let Event::BatchIngested(ingested) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!((ingested.clean_rows, ingested.confidence_rows), (5, 1));
    assert!((ingested.confidence_sum - 0.6).abs() < 1e-12);
}

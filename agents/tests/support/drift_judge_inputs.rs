//! Inputs shared by the DriftJudge tests: seeded streams of feedback and batches.

#![allow(dead_code)]

use std::collections::BTreeMap;

use ledgerloop_agents::drift_judge::{DriftJudge, DriftJudgeState};
use ledgerloop_agents::perceiver::labels::mix64;
use ledgerloop_events::catalogue::{BaselineTrained, BatchIngested, FeedbackRecorded};
use ledgerloop_events::Event;

pub const MODEL: &str = "tabular-0001";

pub fn uniform(seed: u64, i: u64) -> f64 {
    (mix64(mix64(seed) ^ i) >> 11) as f64 / (1u64 << 53) as f64
}

pub fn normal(seed: u64, i: u64) -> f64 {
    let (u1, u2) = (uniform(seed, 2 * i).max(1e-12), uniform(seed, 2 * i + 1));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

pub fn baseline() -> Event {
    Event::from(BaselineTrained {
        arm: "static".into(),
        model_id: MODEL.into(),
        ..Default::default()
    })
}

/// One hour of `n` outcomes of `MODEL`, each an error with probability `rate`.
pub fn feedback(seed: u64, hour: u64, n: u64, rate: f64) -> Event {
    let stream: String = (0..n)
        .map(|i| {
            if uniform(seed, hour * 1000 + i) < rate {
                '1'
            } else {
                '0'
            }
        })
        .collect();
    let errors = stream.chars().filter(|&c| c == '1').count() as u64;
    Event::from(FeedbackRecorded {
        model_id: MODEL.into(),
        outcomes: n,
        errors,
        hour,
        error_stream: stream,
    })
}

/// One hour's batch: `n` rows of each feature drawn from N(mean, 1), and a confidence.
pub fn batch(seed: u64, hour: u64, n: u64, means: &[(&str, f64)], confidence: f64) -> Event {
    let samples: BTreeMap<String, Vec<f64>> = means
        .iter()
        .enumerate()
        .map(|(j, (name, mean))| {
            (
                (*name).to_owned(),
                (0..n)
                    .map(|i| mean + normal(seed + j as u64, hour * 10_000 + i))
                    .collect(),
            )
        })
        .collect();
    Event::from(BatchIngested {
        batch_id: format!("b{hour}"),
        rows: n,
        clean_rows: n,
        hour,
        confidence_sum: confidence * n as f64,
        confidence_rows: n,
        feature_samples: samples,
        ..Default::default()
    })
}

/// Runs every input through `step`; returns the final state, the whole log and the decisions.
pub fn run(judge: &DriftJudge, inputs: &[Event]) -> (DriftJudgeState, Vec<Event>, Vec<Event>) {
    let (mut state, mut log, mut decisions) = (DriftJudgeState::default(), Vec::new(), Vec::new());
    for input in inputs {
        let out = judge.step(&mut state, input).expect("decides");
        log.push(input.clone());
        log.extend(out.iter().cloned());
        decisions.extend(out);
    }
    (state, log, decisions)
}

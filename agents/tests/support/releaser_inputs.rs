//! Input builders shared by the Releaser tests.

#![allow(dead_code)]

use ledgerloop_agents::releaser::{OnlineStats, ServedCounts};
use ledgerloop_events::catalogue::{BaselineTrained, CanaryStarted, VerdictIssued};
use ledgerloop_events::{Event, Evidence, Rule};

pub fn stats(hour: u64, versions: &[(&str, u64, u64)]) -> OnlineStats {
    OnlineStats {
        hour,
        versions: versions
            .iter()
            .map(|&(v, served, errors)| (v.to_string(), ServedCounts { served, errors }))
            .collect(),
    }
}

pub fn baseline(model: &str) -> Event {
    Event::BaselineTrained(BaselineTrained {
        arm: "static".into(),
        model_id: model.into(),
        ..Default::default()
    })
}

pub fn verdict(candidate: &str, against: &str, outcome: &str) -> VerdictIssued {
    VerdictIssued {
        candidate_model_id: candidate.into(),
        champion_model_id: Some(against.into()),
        verdict: outcome.into(),
        ..Default::default()
    }
}

/// Blessed m1 canaried against m0 at 5% from hour 10, m0 at 5000 served / 500 errors then.
pub fn given_canary(rule: Rule) -> Vec<Event> {
    vec![
        baseline("m0"),
        Event::VerdictIssued(verdict("m1", "m0", "blessed")),
        Event::CanaryStarted(CanaryStarted {
            model_id: "m1".into(),
            champion_model_id: "m0".into(),
            fraction: 0.05,
            hour: 10,
            baseline_champion_served: 5000,
            baseline_champion_errors: 500,
            evidence: Evidence::new(),
            rule,
            ..Default::default()
        }),
    ]
}

//! Input builders shared by the Releaser tests.

#![allow(dead_code)]

use ledgerloop_agents::releaser::{OnlineStats, ServedCounts};
use ledgerloop_events::catalogue::{BaselineTrained, VerdictIssued};
use ledgerloop_events::Event;

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

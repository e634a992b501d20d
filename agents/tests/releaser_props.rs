//! Property test: over random sequences of verdicts, requests, ticks, approvals and
//! rollbacks, the Releaser keeps its invariants and replays exactly.

use std::collections::{BTreeMap, BTreeSet};

use ledgerloop_agents::decider::{fold, Decider};
use ledgerloop_agents::releaser::{
    route, OnlineStats, Releaser, ReleaserInput, ReleaserPolicy, ReleaserState, RollbackCommand,
    ServedCounts, ShortStep,
};
use ledgerloop_agents::Error;
use ledgerloop_events::catalogue::{ApprovalGranted, BaselineTrained, VerdictIssued};
use ledgerloop_events::Event;
use proptest::prelude::*;

/// Candidate ids the generator draws from.
const CANDIDATES: [&str; 4] = ["c0", "c1", "c2", "c3"];
/// Per-hour error rates a version may show, from good to clearly bad.
const ERROR_RATES: [f64; 4] = [0.05, 0.1, 0.12, 0.4];

#[derive(Debug, Clone)]
enum Op {
    Verdict {
        candidate: usize,
        blessed: bool,
        stale: bool,
    },
    Request {
        candidate: usize,
    },
    Tick {
        hours: u64,
        served: u64,
        canary_rate: usize,
        champion_rate: usize,
    },
    Approve {
        candidate: usize,
    },
    Rollback,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..4usize, any::<bool>(), any::<bool>())
            .prop_map(|(candidate, blessed, stale)| Op::Verdict { candidate, blessed, stale }),
        1 => (0..4usize).prop_map(|candidate| Op::Request { candidate }),
        8 => (0..12u64, 0..400u64, 0..4usize, 0..4usize).prop_map(|(hours, served, canary_rate, champion_rate)| Op::Tick { hours, served, canary_rate, champion_rate }),
        1 => (0..4usize).prop_map(|candidate| Op::Approve { candidate }),
        1 => Just(Op::Rollback),
    ]
}

fn policy() -> impl Strategy<Value = ReleaserPolicy> {
    let short = prop_oneof![Just(ShortStep::RollBack), Just(ShortStep::Advance)];
    (any::<bool>(), 0.3..=1.0f64, 0..3usize, short, any::<bool>()).prop_map(
        |(require_approval, max, n, short_step, queue_blessed)| {
            let steps: Vec<f64> = [0.05, 0.25, 0.5][..=n]
                .iter()
                .map(|s| (s * 2.0 * max).min(max))
                .collect();
            ReleaserPolicy {
                require_approval,
                max_canary_fraction: max,
                steps,
                min_step_hours: 2,
                min_step_samples: 50,
                max_step_hours: 24,
                guard_min_samples: 30,
                short_step,
                queue_blessed,
                ..ReleaserPolicy::default()
            }
        },
    )
}

/// The simulated host: the log, cumulative counts per version, and the clock.
struct Host {
    log: Vec<Event>,
    counts: BTreeMap<String, ServedCounts>,
    hour: u64,
}

impl Host {
    fn online(&self) -> OnlineStats {
        OnlineStats {
            hour: self.hour,
            versions: self.counts.clone(),
        }
    }

    fn serve(&mut self, version: &str, served: u64, rate: f64) {
        let c = self.counts.entry(version.to_string()).or_default();
        c.served += served;
        c.errors += (served as f64 * rate).round() as u64;
    }

    /// Turns an op into the foreign event the host appends first (if any) and the input.
    fn input(&mut self, op: &Op, state: &ReleaserState) -> (Option<Event>, ReleaserInput) {
        match *op {
            Op::Verdict {
                candidate,
                blessed,
                stale,
            } => {
                let v = VerdictIssued {
                    candidate_model_id: CANDIDATES[candidate].into(),
                    champion_model_id: Some(if stale {
                        "stale".into()
                    } else {
                        state.champion.clone()
                    }),
                    verdict: if blessed { "blessed" } else { "rejected" }.into(),
                    ..Default::default()
                };
                (
                    Some(Event::VerdictIssued(v.clone())),
                    ReleaserInput::Verdict {
                        verdict: v,
                        online: self.online(),
                    },
                )
            }
            Op::Request { candidate } => (
                None,
                ReleaserInput::CanaryRequest {
                    model_id: CANDIDATES[candidate].into(),
                    online: self.online(),
                },
            ),
            Op::Tick {
                hours,
                served,
                canary_rate,
                champion_rate,
            } => {
                self.hour += hours;
                let (champion, canary) = route(state);
                let share = canary.as_ref().map_or(0.0, |(_, f)| *f);
                let canary_served = (served as f64 * share).round() as u64;
                self.serve(
                    &champion,
                    served - canary_served,
                    ERROR_RATES[champion_rate],
                );
                if let Some((id, _)) = canary {
                    self.serve(&id, canary_served, ERROR_RATES[canary_rate]);
                }
                (None, ReleaserInput::Tick(self.online()))
            }
            Op::Approve { candidate } => {
                let a = ApprovalGranted {
                    subject_id: CANDIDATES[candidate].into(),
                    operator: "op".into(),
                    note: String::new(),
                };
                (
                    Some(Event::ApprovalGranted(a)),
                    ReleaserInput::Tick(self.online()),
                )
            }
            Op::Rollback => (
                None,
                ReleaserInput::Rollback {
                    command: RollbackCommand {
                        operator: "op".into(),
                    },
                    online: self.online(),
                },
            ),
        }
    }
}

proptest! {
    /// Every produced decision respects: one champion that is never the canary, canary
    /// fraction in (0, max], canaries and promotions only of blessed candidates, no
    /// canary started while one runs (a rollback may start the candidate in line),
    /// promotions approved when policy demands; and the whole run replays to the same
    /// state and the same events.
    #[test]
    fn releaser_invariants_hold(policy in policy(), ops in proptest::collection::vec(op(), 1..120)) {
        let r = Releaser::new(policy.clone()).expect("generated policies are valid");
        let mut host = Host { log: vec![Event::BaselineTrained(BaselineTrained { model_id: "m0".into(), ..Default::default() })], counts: BTreeMap::new(), hour: 0 };
        let mut state = fold::<Releaser>(&host.log);
        let mut blessed = BTreeSet::new();
        let mut approved = BTreeSet::new();
        let mut recorded = Vec::new();
        for op in &ops {
            let (foreign, input) = host.input(op, &state);
            if let Some(event) = &foreign {
                match event {
                    Event::VerdictIssued(v) if v.verdict == "blessed" => { blessed.insert(v.candidate_model_id.clone()); }
                    Event::ApprovalGranted(a) => { approved.insert(a.subject_id.clone()); }
                    _ => {}
                }
                Releaser::evolve(&mut state, event);
                host.log.push(event.clone());
            }
            // A rollback may free the slot and start the candidate in line in one decision.
            let mut running = state.canary.as_ref().map(|c| c.model_id.clone());
            let events = match r.decide_and_evolve(&mut state, &input) {
                Ok(events) => events,
                Err(Error::Refused { .. }) => Vec::new(),
                Err(e) => return Err(TestCaseError::fail(format!("unexpected error {e}"))),
            };
            for event in &events {
                match event {
                    Event::CanaryStarted(c) => {
                        prop_assert!(running.is_none(), "second canary {}", c.model_id);
                        prop_assert!(blessed.contains(&c.model_id));
                        running = Some(c.model_id.clone());
                    }
                    Event::ModelPromoted(p) => {
                        prop_assert!(blessed.contains(&p.model_id));
                        prop_assert!(!policy.require_approval || approved.contains(&p.model_id));
                        running = None;
                    }
                    Event::RolledBack(r) if running.as_ref() == Some(&r.model_id) => running = None,
                    _ => {}
                }
                event.to_payload_json().map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            let (champion, canary) = route(&state);
            prop_assert!(!champion.is_empty());
            if let Some((id, fraction)) = canary {
                prop_assert!(id != champion);
                prop_assert!(fraction > 0.0 && fraction <= policy.max_canary_fraction);
            }
            host.log.extend(events.iter().cloned());
            recorded.push((foreign, input, events));
        }
        prop_assert_eq!(&fold::<Releaser>(&host.log), &state);
        let mut replay = fold::<Releaser>(&host.log[..1]);
        for (foreign, input, events) in &recorded {
            if let Some(event) = foreign {
                Releaser::evolve(&mut replay, event);
            }
            let again = r.decide_and_evolve(&mut replay, input).unwrap_or_default();
            prop_assert_eq!(&again, events);
        }
    }
}

//! The invariants checked after every simulated hour of a run with faults.
//!
//! The checker reads the events appended since its last look (through the host's own
//! log handle, so it sees what a restarted process would) and keeps just enough to
//! judge each new event: ids, stream heads, blessed models, the champion, the keys of
//! handled inputs, labels requested per day. After a crash it also verifies the whole
//! log from disk.

use std::collections::{BTreeMap, BTreeSet};

use ledgerloop_agents::evaluator::BLESSED;
use ledgerloop_events::verify::{verify, VerifyOptions};
use ledgerloop_events::{Event, Hash, RecordedEvent};
use ledgerloop_sim::policy::{Policy, ServingRoute};
use uuid::Uuid;

use super::{Invariant, Violation};
use crate::host::{GovernedPolicy, BASELINE_ARM};
use crate::journal::WORKER_STREAM;
use crate::restore::{input_key, InputKey};
use crate::step::Role;

/// Two canary fractions closer than this are the same step.
const FRACTION_EPSILON: f64 = 1e-9;

/// What the checker remembers between hours.
#[derive(Debug, Default)]
pub struct Checker {
    next_position: u64,
    ids: BTreeSet<Uuid>,
    heads: BTreeMap<String, (u64, Hash)>,
    acknowledged_checked: usize,
    baseline: Option<String>,
    blessed: BTreeSet<String>,
    champion: Option<String>,
    handled: BTreeSet<(String, InputKey)>,
    answered_jobs: BTreeSet<Uuid>,
    labels_per_day: BTreeMap<u32, u64>,
    labels_requested: u64,
    labels_received: u64,
    host_violations_seen: usize,
    crashes_seen: u64,
}

/// The result of one look: the first broken invariant, if any.
type Check = std::result::Result<(), Violation>;

impl Checker {
    /// Checks everything that happened up to the end of `hour`.
    pub fn step(&mut self, host: &GovernedPolicy, hour: u64) -> Check {
        let broken = |invariant, detail: String| Violation {
            invariant,
            hour,
            detail,
        };
        if let Some(log) = host.fault_log() {
            if let Some(v) = log.violations.get(self.host_violations_seen) {
                return Err(broken(Invariant::Restart, v.clone()));
            }
            let crashes: u64 = log
                .injected
                .iter()
                .filter(|(k, _)| k.starts_with("crash_"))
                .map(|(_, n)| n)
                .sum();
            if crashes > self.crashes_seen {
                self.crashes_seen = crashes;
                // After a crash the whole log must verify from disk, checksums and all.
                let dir = host
                    .log()
                    .map_err(|e| broken(Invariant::ChainsVerify, e.to_string()))?
                    .dir();
                if let Err(e) = verify(dir, VerifyOptions::default()) {
                    return Err(broken(Invariant::ChainsVerify, e.to_string()));
                }
            }
        }
        self.scan(host).map_err(|(i, d)| broken(i, d))?;
        self.acknowledged(host)
            .map_err(|d| broken(Invariant::AcknowledgedOnce, d))?;
        self.route(host.route(), host)
            .map_err(|(i, d)| broken(i, d))
    }

    /// Reads and judges the events appended since the last look.
    fn scan(&mut self, host: &GovernedPolicy) -> std::result::Result<(), (Invariant, String)> {
        let log = host
            .log()
            .map_err(|e| (Invariant::ChainsVerify, e.to_string()))?;
        let iter = log
            .read_all(self.next_position)
            .map_err(|e| (Invariant::ChainsVerify, e.to_string()))?;
        for recorded in iter {
            let recorded = recorded.map_err(|e| (Invariant::ChainsVerify, e.to_string()))?;
            let event = recorded
                .decode()
                .map_err(|e| (Invariant::ChainsVerify, e.to_string()))?;
            self.next_position = recorded.position + 1;
            self.link(&recorded)
                .map_err(|d| (Invariant::ChainsVerify, d))?;
            self.judge(host, &recorded, &event)?;
        }
        Ok(())
    }

    /// Every id once; every stream's sequence and hash chain continue.
    fn link(&mut self, r: &RecordedEvent) -> std::result::Result<(), String> {
        if !self.ids.insert(r.id) {
            return Err(format!("event {} is stored twice", r.id));
        }
        let (sequence, prev) = self
            .heads
            .get(r.stream.as_str())
            .copied()
            .unwrap_or((0, Hash([0u8; 32])));
        if r.sequence != sequence + 1 || r.prev_hash != prev {
            return Err(format!(
                "{} #{} does not continue its stream's chain (head #{sequence})",
                r.stream.as_str(),
                r.sequence
            ));
        }
        self.heads
            .insert(r.stream.as_str().to_string(), (r.sequence, r.hash));
        Ok(())
    }

    /// The invariants one new event can break.
    fn judge(
        &mut self,
        host: &GovernedPolicy,
        r: &RecordedEvent,
        event: &Event,
    ) -> std::result::Result<(), (Invariant, String)> {
        let stream = r.stream.as_str();
        match event {
            Event::InputRecorded(record) if Role::parse(stream).is_some() => {
                let key = input_key(record).map_err(|e| (Invariant::InputOnce, e.to_string()))?;
                if !self.handled.insert((stream.to_string(), key)) {
                    return Err((
                        Invariant::InputOnce,
                        format!(
                            "the {stream} recorded the same {} input twice (#{}, source {:?})",
                            record.kind, r.sequence, record.source_event_id
                        ),
                    ));
                }
            }
            Event::ModelTrained(_) | Event::TrainingFailed(_) | Event::StudentDistilled(_)
                if stream == WORKER_STREAM =>
            {
                let job = r.causation_id.unwrap_or_default();
                if !self.answered_jobs.insert(job) {
                    return Err((
                        Invariant::InputOnce,
                        format!("job {job} was answered twice by its worker"),
                    ));
                }
            }
            Event::BaselineTrained(b) if b.arm == BASELINE_ARM => {
                self.baseline = Some(b.model_id.clone());
                self.champion = Some(b.model_id.clone());
            }
            Event::VerdictIssued(v) if v.verdict == BLESSED => {
                self.blessed.insert(v.candidate_model_id.clone());
            }
            Event::ModelPromoted(p) => self.promoted(&p.model_id, &p.previous_model_id)?,
            Event::RolledBack(b) if self.champion.as_deref() == Some(b.model_id.as_str()) => {
                self.champion = Some(b.restored_model_id.clone());
            }
            Event::LabelsReceived(l) => {
                self.labels_received += l.labels;
                if self.labels_received > self.labels_requested {
                    return Err((
                        Invariant::LabelBudget,
                        format!(
                            "{} labels received but only {} requested",
                            self.labels_received, self.labels_requested
                        ),
                    ));
                }
            }
            Event::LabelsRequested(l) => {
                self.labels_requested += l.item_ids.len() as u64;
                let used = self.labels_per_day.entry(l.day).or_default();
                *used += l.item_ids.len() as u64;
                let budget = host.config().perceiver.label_budget_per_day;
                if *used > budget {
                    return Err((
                        Invariant::LabelBudget,
                        format!("{used} labels requested on day {} (budget {budget})", l.day),
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A promotion must replace the one champion there is.
    fn promoted(
        &mut self,
        model: &str,
        previous: &str,
    ) -> std::result::Result<(), (Invariant, String)> {
        if self.champion.as_deref() != Some(previous) {
            return Err((
                Invariant::OneChampion,
                format!(
                    "{model} was promoted over {previous} while {:?} was champion",
                    self.champion
                ),
            ));
        }
        if !self.is_blessed(model) {
            return Err((
                Invariant::ServedBlessed,
                format!("{model} was promoted without a blessed verdict"),
            ));
        }
        self.champion = Some(model.to_string());
        Ok(())
    }

    fn is_blessed(&self, model: &str) -> bool {
        self.baseline.as_deref() == Some(model) || self.blessed.contains(model)
    }

    /// Every event the host was told was stored is in the log.
    fn acknowledged(&mut self, host: &GovernedPolicy) -> std::result::Result<(), String> {
        let acked = host.acknowledged();
        // A torn append takes back its own (newest) acknowledgements only.
        let from = self.acknowledged_checked.min(acked.len());
        for id in &acked[from..] {
            if !self.ids.contains(id) {
                return Err(format!("acknowledged event {id} is not in the log"));
            }
        }
        self.acknowledged_checked = acked.len();
        Ok(())
    }

    /// What serves: one champion (the log's), blessed models only, a canary fraction
    /// that is one of the Releaser's steps and never above its maximum.
    fn route(
        &self,
        route: &ServingRoute,
        host: &GovernedPolicy,
    ) -> std::result::Result<(), (Invariant, String)> {
        let releaser = &host.config().releaser;
        if self.champion.as_deref() != Some(route.champion.as_str()) {
            return Err((
                Invariant::OneChampion,
                format!(
                    "{} serves as champion but the log's champion is {:?}",
                    route.champion, self.champion
                ),
            ));
        }
        let Some(canary) = &route.canary else {
            return Ok(());
        };
        if !self.is_blessed(&canary.version) {
            return Err((
                Invariant::ServedBlessed,
                format!("canary {} serves without a blessed verdict", canary.version),
            ));
        }
        let on_step = releaser
            .steps
            .iter()
            .any(|s| (s - canary.fraction).abs() < FRACTION_EPSILON);
        if canary.fraction > releaser.max_canary_fraction + FRACTION_EPSILON || !on_step {
            return Err((
                Invariant::CanaryFraction,
                format!(
                    "canary {} at fraction {} (steps {:?}, max {})",
                    canary.version, canary.fraction, releaser.steps, releaser.max_canary_fraction
                ),
            ));
        }
        Ok(())
    }
}

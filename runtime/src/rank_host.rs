//! The sim host for ranking worlds: the six agents governing the served recommender.
//!
//! [`RankGovernedPolicy`] implements the simulator's `RankPolicy` with the same deciders
//! (via [`crate::step::apply`]) and the same journal as [`crate::host::GovernedPolicy`],
//! so every call is logged with its input and `ledgerloop audit` re-derives it. How the
//! ranking world maps onto the agents' inputs:
//!
//! * Perceiver: one outcome per served slate whose consumption is known, predicted 1 (a
//!   hit) and actual 1 when the consumed item was in the slate, so its error stream is
//!   the miss stream (1 - online HR@k) per serving version.
//! * DriftJudge: concept drift on the champion's miss stream (its configured detector).
//! * Trainer: the consumed items are the labels; each hour's consumption arrives as one
//!   `LabelsReceived` with its rows (user, item, category), no label oracle involved.
//! * Distiller: a popularity ranker has no edge student; the policy's trigger is `never`.
//! * Evaluator: HR@k of candidate vs champion on consumption training never saw.
//! * Releaser: canaries by stable hash of the user; its online statistics are the
//!   clicks per impression of each version (served = impressions, errors = not clicked).
//!
//! The simulator calls the policy only when outcomes are due and at the end of a day,
//! so the hour's routine (label delivery, ticks, evaluations, canary analysis) of every
//! hour runs once, in order, before the first call of a later hour (see `outcomes.rs`).
//!
//! * `rank_host/deliver.rs`: agent calls, reactions to decisions, training jobs.
//! * `rank_host/outcomes.rs`: slate outcomes in, the hourly routine, evaluations.

mod deliver;
mod outcomes;

use std::collections::BTreeMap;
use std::sync::Arc;

use ledgerloop_agents::releaser::ServedCounts;
use ledgerloop_events::catalogue::{BaselineTrained, PoliciesLoaded};
use ledgerloop_events::{Event, SharedLog};
use ledgerloop_sim::clock::Clock;
use ledgerloop_sim::policy::rank::{RankPolicy, RankStart, Ranker, SlateOutcome};
use ledgerloop_sim::policy::{PolicyNote, ServingRoute};
use ledgerloop_sim::rng::{stable_hash, unit_interval};
use ledgerloop_sim::world::recommend::model::PopAffinityParams;
use uuid::Uuid;

use crate::blobs::BlobStore;
use crate::config::GovernedConfig;
use crate::data::{RowStore, RowsRecord, WorldFacts};
use crate::error::{Error, Result};
use crate::host::{Candidate, ARTIFACTS_DIR, BASELINE_ARM, INPUTS_DIR, POLICY_NAME};
use crate::journal::{Journal, HOST_STREAM, WORKER_STREAM};
use crate::step::{Agents, Input, Role, States};
use crate::workers::rank::{self, RankModel, CATEGORY_PREFIX};

/// Salt of the hash that splits the warm-up consumption into training rows and the
/// old-distribution holdout.
const HOLDOUT_SALT: u64 = 0x686f_6c64_6f75_7421;

/// The agents, their states and the host's interaction stores.
#[derive(Debug)]
pub struct RankGovernedPolicy {
    config: GovernedConfig,
    source: String,
    agents: Agents,
    states: States,
    journal: Journal,
    artifacts: BlobStore,
    seed: u64,
    clock: Clock,
    params: PopAffinityParams,
    /// Warm-up consumption the first model fitted on (the head of the replay pool).
    warmup: RowStore,
    /// Warm-up consumption kept out of every fit (the forgetting gate's set).
    old_holdout: RowStore,
    /// Consumption delivered since day 0, in delivery order (the Trainer's labels).
    labels: RowStore,
    /// Consumption delivered in the current hour, handed on by its routine.
    arrived: RowStore,
    /// Category of every live item, as the simulator last told it.
    item_categories: Vec<u16>,
    models: BTreeMap<String, Arc<RankModel>>,
    route: ServingRoute,
    candidates: Vec<Candidate>,
    /// Candidates already evaluated, by model id: one in the Releaser's line is judged
    /// again from here after a promotion (`queue_blessed`).
    judged: BTreeMap<String, Candidate>,
    last_decision: BTreeMap<Role, Uuid>,
    last_retrain_request: Option<Uuid>,
    /// Cumulative impressions and unclicked impressions per serving version.
    clicks: BTreeMap<String, ServedCounts>,
    /// First hour whose routine has not run yet.
    next_routine_hour: u64,
    hour: u64,
    notes: Vec<PolicyNote>,
}

impl RankGovernedPolicy {
    /// A host writing to `log`, with inputs and artifacts under `out`; `source` names
    /// where the policies came from (recorded in `PoliciesLoaded`). The policy must have
    /// a `[ranker]` table.
    pub fn new(
        config: GovernedConfig,
        source: &str,
        log: SharedLog,
        out: &std::path::Path,
    ) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidPolicy {
            path: source.into(),
            reason,
        };
        let agents = config.agents().map_err(|e| invalid(e.to_string()))?;
        if config.ranker.is_none() {
            return Err(invalid(
                "a ranking world needs a [ranker] table (see scenarios/agents/recommend.toml)"
                    .into(),
            ));
        }
        // The clock and seed are replaced in `start`; nothing is written before it.
        let clock = Clock::new(chrono::DateTime::UNIX_EPOCH, 0);
        Ok(Self {
            config,
            source: source.to_string(),
            agents,
            states: States::default(),
            journal: Journal::new(log, BlobStore::new(out.join(INPUTS_DIR)), clock, 0),
            artifacts: BlobStore::new(out.join(ARTIFACTS_DIR)),
            seed: 0,
            clock,
            params: PopAffinityParams {
                users: 0,
                categories: 0,
                k: 0,
                affinity_weight: 0.0,
            },
            warmup: RowStore::new(1),
            old_holdout: RowStore::new(1),
            labels: RowStore::new(1),
            arrived: RowStore::new(1),
            item_categories: Vec::new(),
            models: BTreeMap::new(),
            route: ServingRoute::champion("unstarted"),
            candidates: Vec::new(),
            judged: BTreeMap::new(),
            last_decision: BTreeMap::new(),
            last_retrain_request: None,
            clicks: BTreeMap::new(),
            next_routine_hour: 0,
            hour: 0,
            notes: Vec::new(),
        })
    }

    /// The agents' states (for tests and reports).
    pub fn states(&self) -> &States {
        &self.states
    }

    /// Every model version the host holds.
    pub fn model_versions(&self) -> Vec<String> {
        self.models.keys().cloned().collect()
    }

    /// Splits the warm-up consumption into training rows and the old holdout.
    fn split_warmup(&mut self, start: &RankStart<'_>) {
        let share = self.config.host.warmup_holdout_share;
        for (i, c) in start.warmup.iter().enumerate() {
            let u = unit_interval(stable_hash(
                self.seed ^ stable_hash(i as u64) ^ HOLDOUT_SALT,
            ));
            let category = self.category_of(c.item);
            let store = if u < share {
                &mut self.old_holdout
            } else {
                &mut self.warmup
            };
            rank::push_interaction(store, c.user, c.item, category);
        }
    }

    fn category_of(&self, item: u32) -> u16 {
        self.item_categories
            .get(item as usize)
            .copied()
            .unwrap_or(0)
    }

    fn start_host(&mut self, start: &RankStart<'_>) -> Result<()> {
        self.seed = start.seed;
        self.clock = start.clock;
        self.item_categories = start.item_categories.to_vec();
        let categories = self
            .item_categories
            .iter()
            .map(|c| usize::from(*c) + 1)
            .max();
        self.params = PopAffinityParams {
            users: start.users as usize,
            categories: categories.unwrap_or(1),
            k: start.slate_size,
            affinity_weight: self.ranker_weight(),
        };
        self.journal = Journal::new(
            self.journal.log().clone(),
            self.journal.blobs().clone(),
            start.clock,
            start.seed,
        );
        self.next_routine_hour = start.clock.first_hour_of_day(0);
        self.split_warmup(start);
        let policies = serde_json::to_value(&self.config)?;
        let loaded = Event::PoliciesLoaded(PoliciesLoaded {
            source: self.source.clone(),
            policies_sha256: crate::blobs::sha256_hex(&serde_json::to_vec(&policies)?),
            policies,
        });
        self.journal
            .facts(HOST_STREAM, "host", 0, &[loaded], None)?;
        let first = rank::fit(&self.warmup, self.params)?;
        self.artifacts.put(&first.artifact)?;
        let baseline = Event::BaselineTrained(BaselineTrained {
            arm: BASELINE_ARM.to_string(),
            model_id: first.model_id.clone(),
            day: 0,
            training_rows: self.warmup.len() as u64,
            metrics: BTreeMap::from([
                (
                    "old_holdout_rows".to_string(),
                    self.old_holdout.len() as f64,
                ),
                ("users".to_string(), self.params.users as f64),
                ("categories".to_string(), self.params.categories as f64),
                ("slate_size".to_string(), self.params.k as f64),
            ]),
            // Rankers are not warm-started from another run (transfer is tabular only).
            warm_start: None,
        });
        let id = self
            .journal
            .fact(WORKER_STREAM, "worker", 0, &baseline, None)?;
        self.journal.correlate_with(id);
        self.route = ServingRoute::champion(first.model_id.clone());
        self.models.insert(first.model_id.clone(), Arc::new(first));
        let input = Input::Rows {
            event: baseline.clone(),
            fold_only: true,
            rows: Box::new(self.warmup_record()),
        };
        self.give(Role::Trainer, 0, input, Some(id), None)?;
        let fold = Input::Fold(baseline.clone());
        self.give(Role::Releaser, 0, fold, Some(id), None)?;
        self.give(Role::DriftJudge, 0, Input::Event(baseline), Some(id), None)?;
        Ok(())
    }

    fn ranker_weight(&self) -> f64 {
        self.config
            .ranker
            .as_ref()
            .map_or(1.0, |r| r.affinity_weight)
    }

    /// The warm-up consumption (training rows, then the old holdout) with what an
    /// auditor needs to redo the first fit.
    fn warmup_record(&self) -> RowsRecord {
        let mut warmup = RowsRecord::of(&self.warmup);
        let old = &self.old_holdout;
        warmup.features.extend_from_slice(&old.features);
        warmup.labels.extend_from_slice(&old.labels);
        warmup.slices.extend_from_slice(&old.slices);
        warmup.train_rows = Some(self.warmup.len());
        warmup.world = Some(WorldFacts {
            log_scale: Vec::new(),
            n_classes: 0,
            slice_names: (0..self.params.categories)
                .map(|c| format!("{CATEGORY_PREFIX}{c}"))
                .collect(),
            seed: self.seed,
        });
        warmup
    }

    /// Rebuilds the simulator's route from the Releaser's state.
    fn refresh_route(&mut self) {
        let (champion, canary) = ledgerloop_agents::releaser::route(&self.states.releaser);
        if champion.is_empty() {
            return;
        }
        self.route = ServingRoute {
            champion,
            canary: canary
                .map(|(version, fraction)| ledgerloop_sim::policy::Canary { version, fraction }),
        };
    }

    fn policy_error(&self, e: Error) -> ledgerloop_sim::Error {
        ledgerloop_sim::Error::Policy {
            policy: POLICY_NAME.to_string(),
            reason: e.to_string(),
        }
    }
}

impl RankPolicy for RankGovernedPolicy {
    fn name(&self) -> &str {
        POLICY_NAME
    }

    fn start(&mut self, start: &RankStart<'_>) -> ledgerloop_sim::Result<()> {
        self.start_host(start).map_err(|e| self.policy_error(e))
    }

    fn on_outcomes(
        &mut self,
        hour: u64,
        version: &str,
        outcomes: &[SlateOutcome],
    ) -> ledgerloop_sim::Result<()> {
        self.run_routines_before(hour)
            .and_then(|()| self.deliver_outcomes(hour, version, outcomes))
            .map_err(|e| self.policy_error(e))
    }

    fn route(&self) -> &ServingRoute {
        &self.route
    }

    fn model(&self, version: &str) -> Option<Arc<dyn Ranker>> {
        self.models
            .get(version)
            .map(|m| m.clone() as Arc<dyn Ranker>)
    }

    fn end_of_day(
        &mut self,
        day: u32,
        item_categories: &[u16],
    ) -> ledgerloop_sim::Result<Vec<PolicyNote>> {
        self.item_categories = item_categories.to_vec();
        let next_day = self.clock.first_hour_of_day(day + 1);
        self.run_routines_before(next_day)
            .map_err(|e| self.policy_error(e))?;
        Ok(std::mem::take(&mut self.notes))
    }
}

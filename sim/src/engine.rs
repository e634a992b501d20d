//! The discrete-event loop for classification worlds (ONT, intent, replay). One step is
//! one simulated hour; the order of calls inside a step is fixed (see [`crate::policy`]),
//! and all randomness comes from per-component streams of the scenario seed, so the same
//! scenario and seed give the same [`RunOutput`] byte for byte once serialised.

mod day;

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::config::Scenario;
use crate::data::{Dataset, StratifiedReservoir, TaskShape};
use crate::error::Result;
use crate::learner::{Classifier, Learner};
use crate::metrics::ArmDay;
use crate::oracle::{FeedbackQueue, LabelOracle, LabelStats};
use crate::policy::{Policy, PolicyNote, PolicyStart, ServingRoute};
use crate::rng::{component_rng, component_u64, SimRng};
use crate::sink::{RunSink, SimRecord};
use crate::world::recommend::RecommendDay;
use crate::world::{QuarantinedRow, World};

use day::DayRunner;

/// Version name of the static baseline (also the static policy's champion).
pub const STATIC_VERSION: &str = "static-v1";

/// One training of a baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Training {
    /// `static` or `oracle`.
    pub arm: String,
    /// Version name.
    pub version: String,
    /// Run day whose end it was trained at (-1: before day 0).
    pub day: i64,
    /// Training rows per class.
    pub class_counts: Vec<u64>,
}

/// Everything measured on one run day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayReport {
    /// Run day.
    pub day: u32,
    /// Calendar date (UTC) of the day.
    pub date: String,
    /// Static baseline.
    pub static_arm: ArmDay,
    /// What the policy served.
    pub served: ArmDay,
    /// Oracle baseline.
    pub oracle: ArmDay,
    /// Served rows per version: (version, accuracy on all its rows, rows).
    pub served_versions: Vec<VersionDay>,
    /// Accuracy of each arm on all rows of each slice (device model, language ...).
    pub slices: Vec<SliceDay>,
    /// Route at the end of the day.
    pub route: ServingRoute,
    /// Label oracle counts.
    pub labels: LabelStats,
    /// Outcomes delivered to the policy.
    pub feedback_delivered: u64,
    /// Policy notes of the day.
    pub notes: Vec<PolicyNote>,
}

/// One serving version's figures for a day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionDay {
    /// Version name.
    pub version: String,
    /// Accuracy on all rows it served.
    pub accuracy: f64,
    /// Balanced accuracy on all rows it served.
    pub balanced_accuracy: f64,
    /// Rows served.
    pub rows: u64,
}

/// One slice's figures for a day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceDay {
    /// Slice name.
    pub slice: String,
    /// Rows of the slice.
    pub rows: u64,
    /// Accuracy of static, served and oracle on them, in that order.
    pub accuracy: [f64; crate::metrics::ARMS],
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutput {
    /// The world's task.
    pub shape: TaskShape,
    /// Policy name.
    pub policy: String,
    /// Learner name.
    pub learner: String,
    /// Baseline trainings in order.
    pub trainings: Vec<Training>,
    /// Per-day reports (classification worlds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<DayReport>,
    /// Per-day reports (recommend world).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recommend_days: Vec<RecommendDay>,
    /// Rows the world set aside.
    pub quarantined: Vec<QuarantinedRow>,
}

/// Shared state of a run across days.
pub(crate) struct RunState {
    pub clock: Clock,
    pub shape: TaskShape,
    pub learner: Arc<dyn Learner>,
    pub static_model: Arc<dyn Classifier>,
    pub oracle_model: Arc<dyn Classifier>,
    pub oracle: LabelOracle,
    pub feedback: FeedbackQueue,
    pub pools: VecDeque<StratifiedReservoir>,
    pub pool_rng: SimRng,
    pub review_rng: SimRng,
    pub seed: u64,
}

/// Runs a classification scenario: warm-up, static baseline, then `days` days. Every
/// training and every closed day is handed to `sink` as it happens.
pub fn run(
    scenario: &Scenario,
    world: &mut dyn World,
    policy: &mut dyn Policy,
    learner: Arc<dyn Learner>,
    sink: &mut dyn RunSink,
) -> Result<RunOutput> {
    let seed = scenario.scenario.seed;
    let base = &scenario.baselines;
    let clock = Clock::new(scenario.scenario.start, base.train_days);
    let shape = world.shape().clone();
    let mut pool_rng = component_rng(seed, "baselines/pool");
    let mut batch = world.empty_batch();
    let pools = warm_up(scenario, clock, world, &mut batch, &mut pool_rng)?;
    let warmup = pooled(&pools, pools.len(), &batch, shape.n_classes());
    let static_model = learner.fit(&shape, &warmup, component_u64(seed, "learner/static"))?;
    let mut trainings = vec![Training {
        arm: "static".into(),
        version: STATIC_VERSION.into(),
        day: -1,
        class_counts: warmup.class_counts(),
    }];
    sink.record(clock.start(), SimRecord::BaselineTrained(&trainings[0]))?;
    policy.start(&PolicyStart {
        shape: &shape,
        warmup: &warmup,
        baseline: static_model.clone(),
        baseline_version: STATIC_VERSION,
        learner: learner.clone(),
        seed: component_u64(seed, "policy"),
        clock,
        label_budget_per_day: scenario.oracle.daily_budget.max(0) as u64,
        max_canary_fraction: scenario.route.max_canary_fraction,
    })?;
    let mut state = RunState {
        clock,
        shape: shape.clone(),
        learner: learner.clone(),
        oracle_model: static_model.clone(),
        static_model,
        oracle: LabelOracle::new(&scenario.oracle, component_rng(seed, "oracle/labels")),
        feedback: FeedbackQueue::new(&scenario.feedback, component_rng(seed, "oracle/feedback")),
        pools,
        pool_rng,
        review_rng: component_rng(seed, "evaluation/review"),
        seed,
    };
    let mut days = Vec::with_capacity(scenario.scenario.days as usize);
    for day in 0..scenario.scenario.days {
        let mut runner = DayRunner::new(scenario, &state, &batch);
        let report = runner.run(&mut state, world, policy, &mut batch, day)?;
        tracing::debug!(
            day,
            date = %report.date,
            rows = report.served.rows,
            served = report.served.accuracy,
            static_arm = report.static_arm.accuracy,
            oracle = report.oracle.accuracy,
            champion = %report.route.champion,
            "day closed"
        );
        let day_end = clock.time_of(clock.first_hour_of_day(day + 1));
        sink.record(day_end, SimRecord::DayClosed(&report))?;
        days.push(report);
        let training = retrain_oracle(scenario, &mut state, &batch, day)?;
        sink.record(day_end, SimRecord::BaselineTrained(&training))?;
        trainings.push(training);
    }
    Ok(RunOutput {
        shape,
        policy: policy.name().to_string(),
        learner: learner.name().to_string(),
        trainings,
        days,
        recommend_days: Vec::new(),
        quarantined: world.quarantined().to_vec(),
    })
}

/// Generates the warm-up history and keeps one class-stratified pool per day of it.
fn warm_up(
    scenario: &Scenario,
    clock: Clock,
    world: &mut dyn World,
    batch: &mut crate::data::Batch,
    pool_rng: &mut SimRng,
) -> Result<VecDeque<StratifiedReservoir>> {
    let n_classes = world.shape().n_classes();
    let per_class = scenario.baselines.rows_per_class_per_day as usize;
    let mut pools = VecDeque::new();
    for hour in 0..clock.warmup_hours() {
        if hour % 24 == 0 {
            pools.push_back(StratifiedReservoir::new(
                &batch.inputs,
                n_classes,
                per_class,
            ));
        }
        batch.clear(hour);
        world.generate(hour, batch)?;
        if let Some(pool) = pools.back_mut() {
            for r in 0..batch.len() {
                pool.offer(pool_rng, &batch.inputs, r, batch.truth[r]);
            }
        }
    }
    Ok(pools)
}

/// Retrains the oracle baseline at the end of `day` on the last window of daily pools.
fn retrain_oracle(
    scenario: &Scenario,
    state: &mut RunState,
    like: &crate::data::Batch,
    day: u32,
) -> Result<Training> {
    let window = scenario.baselines.oracle_window_days as usize;
    let keep = window.max(scenario.baselines.train_days as usize);
    while state.pools.len() > keep {
        state.pools.pop_front();
    }
    let data = pooled(&state.pools, window, like, state.shape.n_classes());
    let seed = component_u64(state.seed, &format!("learner/oracle/{day}"));
    state.oracle_model = state.learner.fit(&state.shape, &data, seed)?;
    Ok(Training {
        arm: "oracle".into(),
        version: format!("oracle-d{day}"),
        day: i64::from(day),
        class_counts: data.class_counts(),
    })
}

/// The union of the last `days` pools.
fn pooled(
    pools: &VecDeque<StratifiedReservoir>,
    days: usize,
    like: &crate::data::Batch,
    n_classes: usize,
) -> Dataset {
    let mut data = Dataset {
        inputs: like.inputs.empty_like(),
        labels: Vec::new(),
        n_classes,
    };
    for pool in pools.iter().skip(pools.len().saturating_sub(days)) {
        pool.append_to(&mut data);
    }
    data
}

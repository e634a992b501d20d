//! The hour-by-hour loop of the recommend world: the served recommender (chosen by a
//! [`RankPolicy`]'s route), the static and oracle baselines, clicks and delayed outcomes.

use std::collections::VecDeque;
use std::sync::Arc;

use rand::Rng;

use super::model::{PopAffinity, PopAffinityParams};
use super::outcomes::OutcomeQueue;
use super::truth::Truth;
use super::{RecommendArm, RecommendDay, RecommendVersionDay, LEARNER_NAME};
use crate::clock::Clock;
use crate::config::recommend::RecommendConfig;
use crate::config::Scenario;
use crate::data::TaskShape;
use crate::engine::{RunOutput, Training, STATIC_VERSION};
use crate::error::Result;
use crate::policy::rank::{Consumption, RankPolicy, RankStart, Ranker, SlateOutcome};
use crate::policy::{policy_error, ServingRoute};
use crate::rng::{component_rng, component_u64, SimRng};
use crate::sink::{RunSink, SimRecord};

/// Hard cap on sessions in one hour, so a mistyped rate cannot exhaust memory.
pub const MAX_SESSIONS_PER_HOUR: usize = 1_000_000;

/// Arms in report order.
const STATIC: usize = 0;
const SERVED: usize = 1;
const ORACLE: usize = 2;

/// Running sums of one arm over a day.
#[derive(Debug, Default, Clone)]
struct ArmSums {
    ctr: f64,
    hits: f64,
    ndcg: f64,
}

/// State shared by the warm-up and the run days.
struct Sim<'a> {
    cfg: &'a RecommendConfig,
    clock: Clock,
    truth: Truth,
    sessions: SimRng,
    clicks: SimRng,
    outcomes: OutcomeQueue,
    max_canary_fraction: f64,
    /// Consumption per day, most recent last (bounded by the longest training window).
    days: VecDeque<Vec<Consumption>>,
    keep_days: usize,
    utilities: Vec<f64>,
    weights: Vec<f64>,
}

impl Sim<'_> {
    /// Sessions in `hour`: a diurnal curve around the mean, fractional part drawn.
    fn volume(&mut self, hour: u64) -> usize {
        let phase = 2.0 * std::f64::consts::PI * f64::from(self.clock.hour_of_day(hour)) / 24.0;
        let expected = self.cfg.sessions_per_hour * (1.0 + 0.6 * (phase - 2.8).sin());
        let whole = expected.floor();
        let extra = u8::from(self.sessions.gen::<f64>() < expected - whole);
        (whole as usize + usize::from(extra)).min(MAX_SESSIONS_PER_HOUR)
    }

    /// Draws one session: the user and the item they consume (softmax over utilities,
    /// left in `self.utilities`).
    fn session(&mut self, hour: u64) -> (u32, usize) {
        let user = self.sessions.gen_range(0..self.cfg.users as u32);
        self.truth
            .utilities(user as usize, hour, &mut self.utilities);
        let max = self
            .utilities
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        self.weights.clear();
        self.weights
            .extend(self.utilities.iter().map(|u| (u - max).exp()));
        let item = crate::rng::weighted_index(&mut self.sessions, &self.weights);
        if let Some(day) = self.days.back_mut() {
            day.push(Consumption {
                hour,
                user,
                item: item as u32,
            });
        }
        (user, item)
    }

    fn start_day(&mut self) {
        self.days.push_back(Vec::new());
        while self.days.len() > self.keep_days {
            self.days.pop_front();
        }
    }

    fn params(&self) -> PopAffinityParams {
        PopAffinityParams {
            users: self.cfg.users as usize,
            categories: self.cfg.categories as usize,
            k: self.cfg.slate_size as usize,
            affinity_weight: self.cfg.affinity_weight,
        }
    }

    /// The consumption of the last `window` days.
    fn window(&self, window: usize) -> Vec<Consumption> {
        let skip = self.days.len().saturating_sub(window);
        self.days.iter().skip(skip).flatten().copied().collect()
    }

    /// Generates the warm-up's sessions (consumption only: nothing is served yet).
    fn warm_up(&mut self) {
        for hour in 0..self.clock.warmup_hours() {
            if hour % 24 == 0 {
                self.start_day();
            }
            self.truth.launch_due(hour);
            for _ in 0..self.volume(hour) {
                self.session(hour);
            }
        }
    }

    fn sigmoid_click(&self, utility: f64) -> f64 {
        1.0 / (1.0 + (-(self.cfg.click_bias + utility)).exp())
    }
}

/// Runs the recommend world for `scenario` with `policy` serving.
pub fn run(
    scenario: &Scenario,
    cfg: &RecommendConfig,
    policy: &mut dyn RankPolicy,
    sink: &mut dyn RunSink,
) -> Result<RunOutput> {
    let seed = scenario.scenario.seed;
    let base = &scenario.baselines;
    let clock = Clock::new(scenario.scenario.start, base.train_days);
    let mut sim = Sim {
        cfg,
        clock,
        truth: Truth::new(cfg, clock, seed),
        sessions: component_rng(seed, "world/recommend/sessions"),
        clicks: component_rng(seed, "world/recommend/clicks"),
        outcomes: OutcomeQueue::new(&scenario.feedback, component_rng(seed, "oracle/feedback")),
        max_canary_fraction: scenario.route.max_canary_fraction,
        days: VecDeque::new(),
        keep_days: (base.train_days.max(base.oracle_window_days)) as usize,
        utilities: Vec::new(),
        weights: Vec::new(),
    };
    sim.warm_up();
    let warmup = sim.window(base.train_days as usize);
    let static_model: Arc<dyn Ranker> =
        Arc::new(PopAffinity::fit(&warmup, &sim.truth.item_cat, sim.params()));
    let mut trainings = vec![training("static", STATIC_VERSION.into(), -1, warmup.len())];
    sink.record(clock.start(), SimRecord::BaselineTrained(&trainings[0]))?;
    policy.start(&RankStart {
        users: cfg.users as u32,
        slate_size: cfg.slate_size as usize,
        item_categories: &sim.truth.item_cat,
        warmup: &warmup,
        baseline: static_model.clone(),
        baseline_version: STATIC_VERSION,
        seed: component_u64(seed, "policy"),
        clock,
        max_canary_fraction: scenario.route.max_canary_fraction,
    })?;
    let mut oracle_model = static_model.clone();
    let mut reports = Vec::with_capacity(scenario.scenario.days as usize);
    for day in 0..scenario.scenario.days {
        sim.start_day();
        let mut report = run_day(&mut sim, [&static_model, &oracle_model], policy, day)?;
        report.notes = policy.end_of_day(day, &sim.truth.item_cat)?;
        report.route = policy.route().clone();
        let day_end = clock.time_of(clock.first_hour_of_day(day + 1));
        tracing::debug!(
            day,
            date = %report.date,
            sessions = report.sessions,
            served_hit_rate = report.served.hit_rate,
            static_hit_rate = report.static_arm.hit_rate,
            oracle_hit_rate = report.oracle.hit_rate,
            "day closed"
        );
        sink.record(day_end, SimRecord::RecommendDayClosed(&report))?;
        reports.push(report);
        let events = sim.window(base.oracle_window_days as usize);
        oracle_model = Arc::new(PopAffinity::fit(&events, &sim.truth.item_cat, sim.params()));
        let t = training(
            "oracle",
            format!("oracle-d{day}"),
            i64::from(day),
            events.len(),
        );
        sink.record(day_end, SimRecord::BaselineTrained(&t))?;
        trainings.push(t);
    }
    Ok(rank_output(
        ["skip", "click"],
        policy.name(),
        trainings,
        reports,
        Vec::new(),
    ))
}

/// The run's output for a ranking world: no per-class days, the recommend days instead.
pub(super) fn rank_output(
    class_names: [&str; 2],
    policy: &str,
    trainings: Vec<Training>,
    reports: Vec<RecommendDay>,
    quarantined: Vec<crate::world::QuarantinedRow>,
) -> RunOutput {
    RunOutput {
        shape: TaskShape {
            class_names: class_names.iter().map(|c| (*c).to_string()).collect(),
            features: Vec::new(),
            slice_names: Vec::new(),
        },
        policy: policy.to_string(),
        learner: LEARNER_NAME.into(),
        trainings,
        days: Vec::new(),
        recommend_days: reports,
        quarantined,
    }
}

pub(super) fn training(arm: &str, version: String, day: i64, events: usize) -> Training {
    Training {
        arm: arm.into(),
        version,
        day,
        class_counts: vec![events as u64],
    }
}

/// The champion's model and the canary's, if any.
pub(super) type ServedModels = (Arc<dyn Ranker>, Option<Arc<dyn Ranker>>);

/// The models the route names, checked against the canary limit.
pub(super) fn served_models(
    max_canary_fraction: f64,
    policy: &dyn RankPolicy,
    route: &ServingRoute,
) -> Result<ServedModels> {
    let model = |v: &str| {
        policy.model(v).ok_or_else(|| {
            policy_error(policy.name(), format!("route names unknown version `{v}`"))
        })
    };
    let canary = match &route.canary {
        Some(c) if !(0.0..=max_canary_fraction).contains(&c.fraction) => {
            return Err(policy_error(
                policy.name(),
                format!(
                    "canary fraction {} of `{}` is outside [0, route.max_canary_fraction = {}]",
                    c.fraction, c.version, max_canary_fraction
                ),
            ))
        }
        Some(c) => Some(model(&c.version)?),
        None => None,
    };
    Ok((model(&route.champion)?, canary))
}

/// Per-day accumulators.
#[derive(Default)]
struct DayTally {
    sums: [ArmSums; 3],
    sessions: u64,
    new_consumed: u64,
    /// (version, impressions, clicks) in first-served order.
    versions: Vec<(String, u64, u64)>,
}

/// One run day: every session is scored by the baselines and the served version; the
/// served slate is shown and its clicks drawn.
fn run_day(
    sim: &mut Sim<'_>,
    baselines: [&Arc<dyn Ranker>; 2],
    policy: &mut dyn RankPolicy,
    day: u32,
) -> Result<RecommendDay> {
    let k = sim.cfg.slate_size as usize;
    let mut tally = DayTally::default();
    let (mut slate, mut served) = (Vec::with_capacity(k), Vec::with_capacity(k));
    for h in 0..24 {
        let hour = sim.clock.first_hour_of_day(day) + h;
        while let Some(due) = sim.outcomes.pop_due(hour) {
            for (version, outcomes) in &due {
                policy.on_outcomes(hour, version, outcomes)?;
            }
        }
        let route = policy.route().clone();
        let (champion, canary) = served_models(sim.max_canary_fraction, policy, &route)?;
        sim.truth.launch_due(hour);
        for _ in 0..sim.volume(hour) {
            let (user, item) = sim.session(hour);
            tally.sessions += 1;
            tally.new_consumed += u64::from(sim.truth.is_new(item));
            for (arm, model) in [(STATIC, baselines[0]), (ORACLE, baselines[1])] {
                model.top_k(user, k, &mut slate);
                score_slate(sim, &slate, item, k, &mut tally.sums[arm]);
            }
            let in_canary = canary.is_some() && route.in_canary(u64::from(user));
            let (version, model) = match (&canary, &route.canary) {
                (Some(m), Some(c)) if in_canary => (c.version.as_str(), m),
                _ => (route.champion.as_str(), &champion),
            };
            model.top_k(user, k, &mut served);
            score_slate(sim, &served, item, k, &mut tally.sums[SERVED]);
            let clicked = draw_clicks(sim, &served);
            count(&mut tally.versions, version, served.len() as u64, &clicked);
            let outcome = SlateOutcome {
                hour,
                user,
                items: served.clone(),
                clicked,
                consumed: Some(item as u32),
            };
            sim.outcomes.record(version, outcome);
        }
        sim.outcomes.close_hour(hour)?;
    }
    Ok(report(sim, tally, day))
}

pub(super) fn count(
    versions: &mut Vec<(String, u64, u64)>,
    version: &str,
    shown: u64,
    clicked: &[bool],
) {
    let clicks = clicked.iter().filter(|c| **c).count() as u64;
    match versions.iter_mut().find(|(v, _, _)| v == version) {
        Some((_, i, c)) => {
            *i += shown;
            *c += clicks;
        }
        None => versions.push((version.to_string(), shown, clicks)),
    }
}

fn report(sim: &mut Sim<'_>, tally: DayTally, day: u32) -> RecommendDay {
    let n = tally.sessions.max(1) as f64;
    let arm = |s: &ArmSums| RecommendArm {
        ctr: s.ctr / n,
        hit_rate: s.hits / n,
        ndcg: s.ndcg / n,
    };
    let date = sim
        .clock
        .time_of(sim.clock.first_hour_of_day(day))
        .format("%Y-%m-%d")
        .to_string();
    RecommendDay {
        day,
        date,
        k: sim.cfg.slate_size as u32,
        sessions: tally.sessions,
        live_items: sim.truth.live() as u64,
        new_item_share: tally.new_consumed as f64 / n,
        static_arm: arm(&tally.sums[STATIC]),
        served: arm(&tally.sums[SERVED]),
        oracle: arm(&tally.sums[ORACLE]),
        served_versions: tally
            .versions
            .into_iter()
            .map(|(version, impressions, clicks)| RecommendVersionDay {
                version,
                impressions,
                clicks,
                ctr: if impressions == 0 {
                    0.0
                } else {
                    clicks as f64 / impressions as f64
                },
            })
            .collect(),
        route: ServingRoute::champion(STATIC_VERSION),
        feedback_delivered: sim.outcomes.take_delivered(),
        notes: Vec::new(),
    }
}

/// Adds a slate's expected CTR, hit and NDCG against the consumed `item`.
fn score_slate(sim: &Sim<'_>, slate: &[u32], item: usize, k: usize, sums: &mut ArmSums) {
    let mut examine = 1.0;
    let mut expected = 0.0;
    for (rank, i) in slate.iter().enumerate() {
        let u = sim
            .utilities
            .get(*i as usize)
            .copied()
            .unwrap_or(f64::NEG_INFINITY);
        expected += examine * sim.sigmoid_click(u);
        examine *= sim.cfg.position_decay;
        if *i as usize == item {
            sums.hits += 1.0;
            sums.ndcg += 1.0 / ((rank + 2) as f64).log2();
        }
    }
    sums.ctr += expected / k as f64;
}

/// Shows `slate`: each position examined with probability `decay^p`, clicked with the
/// click model's probability. Returns whether each item was clicked.
fn draw_clicks(sim: &mut Sim<'_>, slate: &[u32]) -> Vec<bool> {
    let mut examine = 1.0;
    let mut clicked = Vec::with_capacity(slate.len());
    for i in slate {
        let u = sim
            .utilities
            .get(*i as usize)
            .copied()
            .unwrap_or(f64::NEG_INFINITY);
        let p = examine * sim.sigmoid_click(u);
        clicked.push(sim.clicks.gen::<f64>() < p);
        examine *= sim.cfg.position_decay;
    }
    clicked
}

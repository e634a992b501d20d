//! The hour-by-hour loop of the recommend world, with the static and oracle baselines.

use std::collections::VecDeque;

use rand::Rng;

use super::model::PopAffinity;
use super::truth::Truth;
use super::{RecommendArm, RecommendDay, RecommendVersionDay, LEARNER_NAME};
use crate::clock::Clock;
use crate::config::recommend::RecommendConfig;
use crate::config::Scenario;
use crate::data::TaskShape;
use crate::engine::{RunOutput, Training, STATIC_VERSION};
use crate::error::Result;
use crate::rng::{component_rng, SimRng};
use crate::sink::{RunSink, SimRecord};

/// Hard cap on sessions in one hour, so a mistyped rate cannot exhaust memory.
pub const MAX_SESSIONS_PER_HOUR: usize = 1_000_000;

/// Arms in report order.
const STATIC: usize = 0;
const ORACLE: usize = 1;

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
    /// Consumption events per day, most recent last (bounded by the training window).
    days: VecDeque<Vec<(u32, u32)>>,
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
    fn session(&mut self, hour: u64) -> (usize, usize) {
        let user = self.sessions.gen_range(0..self.cfg.users as usize);
        self.truth.utilities(user, hour, &mut self.utilities);
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
            day.push((user as u32, item as u32));
        }
        (user, item)
    }

    fn start_day(&mut self) {
        self.days.push_back(Vec::new());
        while self.days.len() > self.keep_days {
            self.days.pop_front();
        }
    }

    fn fit(&self, window: usize) -> (PopAffinity, usize) {
        let events: Vec<(u32, u32)> = self
            .days
            .iter()
            .skip(self.days.len().saturating_sub(window))
            .flatten()
            .copied()
            .collect();
        let model = PopAffinity::fit(
            &events,
            self.cfg.users as usize,
            &self.truth.item_cat,
            self.cfg.categories as usize,
            self.cfg.slate_size as usize,
            self.cfg.affinity_weight,
        );
        (model, events.len())
    }

    fn sigmoid_click(&self, utility: f64) -> f64 {
        1.0 / (1.0 + (-(self.cfg.click_bias + utility)).exp())
    }
}

/// Runs the recommend world for `scenario`.
pub fn run(
    scenario: &Scenario,
    cfg: &RecommendConfig,
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
        days: VecDeque::new(),
        keep_days: (base.train_days.max(base.oracle_window_days)) as usize,
        utilities: Vec::new(),
        weights: Vec::new(),
    };
    for hour in 0..clock.warmup_hours() {
        if hour % 24 == 0 {
            sim.start_day();
        }
        sim.truth.launch_due(hour);
        for _ in 0..sim.volume(hour) {
            sim.session(hour);
        }
    }
    let (static_model, n) = sim.fit(base.train_days as usize);
    let mut trainings = vec![training("static", STATIC_VERSION.into(), -1, n)];
    sink.record(clock.start(), SimRecord::BaselineTrained(&trainings[0]))?;
    let mut oracle_model = static_model.clone();
    let mut reports = Vec::with_capacity(scenario.scenario.days as usize);
    for day in 0..scenario.scenario.days {
        sim.start_day();
        let report = run_day(&mut sim, [&static_model, &oracle_model], day);
        let day_end = clock.time_of(clock.first_hour_of_day(day + 1));
        sink.record(day_end, SimRecord::RecommendDayClosed(&report))?;
        reports.push(report);
        let (model, n) = sim.fit(base.oracle_window_days as usize);
        oracle_model = model;
        let t = training("oracle", format!("oracle-d{day}"), i64::from(day), n);
        sink.record(day_end, SimRecord::BaselineTrained(&t))?;
        trainings.push(t);
    }
    Ok(RunOutput {
        shape: TaskShape {
            class_names: vec!["skip".into(), "click".into()],
            features: Vec::new(),
            slice_names: Vec::new(),
        },
        policy: "static".into(),
        learner: LEARNER_NAME.into(),
        trainings,
        days: Vec::new(),
        recommend_days: reports,
        quarantined: Vec::new(),
    })
}

fn training(arm: &str, version: String, day: i64, events: usize) -> Training {
    Training {
        arm: arm.into(),
        version,
        day,
        class_counts: vec![events as u64],
    }
}

/// One run day: every session is scored by both baselines; the served slate (the static
/// model's) is shown and its clicks drawn.
fn run_day(sim: &mut Sim<'_>, models: [&PopAffinity; 2], day: u32) -> RecommendDay {
    let k = sim.cfg.slate_size as usize;
    let mut sums = [ArmSums::default(), ArmSums::default()];
    let (mut sessions, mut new_consumed, mut impressions, mut clicks) = (0u64, 0u64, 0u64, 0u64);
    let mut scratch = Vec::new();
    let mut slate = Vec::with_capacity(k);
    for h in 0..24 {
        let hour = sim.clock.first_hour_of_day(day) + h;
        sim.truth.launch_due(hour);
        for _ in 0..sim.volume(hour) {
            let (user, item) = sim.session(hour);
            sessions += 1;
            new_consumed += u64::from(sim.truth.is_new(item));
            for (arm, model) in models.iter().enumerate() {
                model.top_k(user, k, &mut scratch, &mut slate);
                score_slate(sim, &slate, item, k, &mut sums[arm]);
                if arm == STATIC {
                    // The served version is the static model: show its slate.
                    let (shown, clicked) = draw_clicks(sim, &slate);
                    impressions += shown;
                    clicks += clicked;
                }
            }
        }
    }
    let n = sessions.max(1) as f64;
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
        k: k as u32,
        sessions,
        live_items: sim.truth.live() as u64,
        new_item_share: new_consumed as f64 / n,
        static_arm: arm(&sums[STATIC]),
        served: arm(&sums[STATIC]),
        oracle: arm(&sums[ORACLE]),
        served_versions: vec![RecommendVersionDay {
            version: STATIC_VERSION.into(),
            impressions,
            clicks,
            ctr: if impressions == 0 {
                0.0
            } else {
                clicks as f64 / impressions as f64
            },
        }],
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
/// click model's probability. Returns (items shown, clicks).
fn draw_clicks(sim: &mut Sim<'_>, slate: &[u32]) -> (u64, u64) {
    let mut examine = 1.0;
    let mut clicks = 0;
    for i in slate {
        let u = sim
            .utilities
            .get(*i as usize)
            .copied()
            .unwrap_or(f64::NEG_INFINITY);
        let p = examine * sim.sigmoid_click(u);
        clicks += u64::from(sim.clicks.gen::<f64>() < p);
        examine *= sim.cfg.position_decay;
    }
    (slate.len() as u64, clicks)
}

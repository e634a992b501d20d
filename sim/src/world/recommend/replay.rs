//! The recommend loop driven by replayed interactions (`world = "replay"`,
//! `kind = "interaction"`) instead of the generated truth.
//!
//! Rows are replayed hour by hour in replay order (time, file, line). Warm-up rows (before
//! `scenario.start`) only build history. Every run-day row is a request by its user: the
//! static baseline, the served version (champion, or canary for users whose stable hash
//! falls under the fraction) and the oracle baseline each rank items for the user, and
//! the ranking is cut to a slate of `slate_size` items after removing the items the user
//! interacted with in earlier rows (the row's own item is never removed, so a repeat
//! positive can still be a hit). Then, per arm:
//! - a positive row counts for HR@k (its item is in the slate) and NDCG@k
//!   (`1 / log2(rank + 2)`, rank 0-based), averaged over the day's positives;
//! - any row whose item is in the slate is an impression, and a click when positive:
//!   CTR is clicks / impressions (the replay estimator: only rows where the arm would have
//!   shown the logged item say anything about it). A version or arm with no impression
//!   has CTR 0 and `impressions = 0`, meaning undefined.
//!
//! Models are fixed within an hour; the served slate's outcome (only the logged item can
//! be clicked; other shown items are reported as not clicked) reaches the policy after
//! `feedback.delay_hours`. Static fits on the warm-up's positives; the oracle refits at
//! every day's end on all positives seen so far. Both use the built-in recommender with
//! one category (the files carry none), i.e. item popularity.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::model::{PopAffinity, PopAffinityParams};
use super::outcomes::OutcomeQueue;
use super::runner::{count, served_models, training};
use super::{RecommendArm, RecommendDay, RecommendVersionDay};
use crate::clock::Clock;
use crate::config::replay::ReplayConfig;
use crate::config::Scenario;
use crate::engine::{RunOutput, STATIC_VERSION};
use crate::error::{Error, Result};
use crate::policy::rank::{Consumption, RankPolicy, RankStart, Ranker, SlateOutcome};
use crate::policy::ServingRoute;
use crate::rng::{component_rng, component_u64};
use crate::sink::{RunSink, SimRecord};
use crate::world::replay::interaction::{self, Interaction, InteractionLog};

/// Arms in report order.
const STATIC: usize = 0;
const SERVED: usize = 1;
const ORACLE: usize = 2;

/// Running sums of one arm over a day.
#[derive(Debug, Default, Clone)]
struct ArmSums {
    hits: f64,
    ndcg: f64,
    impressions: u64,
    clicks: u64,
}

/// What one arm's slate made of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scored {
    /// 0-based position of the row's item in the slate, if shown.
    rank: Option<usize>,
}

impl ArmSums {
    fn add(&mut self, scored: Scored, positive: bool) {
        if let Some(rank) = scored.rank {
            self.impressions += 1;
            self.clicks += u64::from(positive);
            if positive {
                self.hits += 1.0;
                self.ndcg += 1.0 / ((rank + 2) as f64).log2();
            }
        }
    }
}

/// History and scratch space of the replay.
struct State {
    k: usize,
    items: usize,
    /// Items each user interacted with in earlier rows (bounded by the rows loaded).
    seen: Vec<BTreeSet<u32>>,
    /// Every positive so far, in replay order.
    positives: Vec<Consumption>,
    /// Items first seen so far (ids are dense in first-seen order).
    live_items: usize,
    cursor: usize,
    ranked: Vec<u32>,
    slate: Vec<u32>,
}

impl State {
    fn params(&self, users: usize) -> PopAffinityParams {
        // Every known item is kept, so a slate can still be filled after the user's
        // earlier items are removed.
        PopAffinityParams {
            users,
            categories: 1,
            k: self.items.max(1),
            affinity_weight: 0.0,
        }
    }

    /// Adds a replayed row to the history.
    fn remember(&mut self, e: &Interaction) {
        if let Some(seen) = self.seen.get_mut(e.user as usize) {
            seen.insert(e.item);
        }
        if e.positive {
            self.positives.push(Consumption {
                hour: e.hour,
                user: e.user,
                item: e.item,
            });
        }
        self.live_items = self.live_items.max(e.item as usize + 1);
    }

    /// Ranks for the row's user with `model`, removes the user's earlier items (except
    /// the row's own) and cuts to `k`; leaves the slate in `self.slate`.
    fn score(&mut self, model: &dyn Ranker, e: &Interaction) -> Scored {
        let seen = &self.seen[e.user as usize];
        let want = (self.k + seen.len()).min(self.items);
        model.top_k(e.user, want, &mut self.ranked);
        self.slate.clear();
        self.slate.extend(
            self.ranked
                .iter()
                .filter(|i| **i == e.item || !seen.contains(i))
                .take(self.k),
        );
        Scored {
            rank: self.slate.iter().position(|i| *i == e.item),
        }
    }
}

/// Runs an interaction replay with `policy` serving rankings.
pub fn run(
    scenario: &Scenario,
    cfg: &ReplayConfig,
    policy: &mut dyn RankPolicy,
    sink: &mut dyn RunSink,
) -> Result<RunOutput> {
    let (seed, base) = (scenario.scenario.seed, &scenario.baselines);
    let clock = Clock::new(scenario.scenario.start, base.train_days);
    let log = interaction::load(cfg, &scenario.source_dir, clock, scenario.scenario.days)?;
    let k = cfg
        .interaction
        .as_ref()
        .map_or(1, |i| i.slate_size.max(1) as usize);
    let mut st = State {
        k,
        items: log.items.len(),
        seen: vec![BTreeSet::new(); log.users.len()],
        positives: Vec::new(),
        live_items: 0,
        cursor: 0,
        ranked: Vec::new(),
        slate: Vec::with_capacity(k),
    };
    let item_cat = vec![0u16; log.items.len()];
    let params = st.params(log.users.len());
    while let Some(e) = log
        .events
        .get(st.cursor)
        .filter(|e| e.hour < clock.warmup_hours())
    {
        st.remember(e);
        st.cursor += 1;
    }
    let static_model: Arc<dyn Ranker> =
        Arc::new(PopAffinity::fit(&st.positives, &item_cat, params));
    let mut trainings = vec![training(
        "static",
        STATIC_VERSION.into(),
        -1,
        st.positives.len(),
    )];
    sink.record(clock.start(), SimRecord::BaselineTrained(&trainings[0]))?;
    policy.start(&RankStart {
        users: log.users.len() as u32,
        slate_size: k,
        item_categories: &item_cat,
        warmup: &st.positives,
        baseline: static_model.clone(),
        baseline_version: STATIC_VERSION,
        seed: component_u64(seed, "policy"),
        clock,
        max_canary_fraction: scenario.route.max_canary_fraction,
    })?;
    let mut queue = OutcomeQueue::new(&scenario.feedback, component_rng(seed, "oracle/feedback"));
    let mut oracle_model = static_model.clone();
    let mut reports = Vec::with_capacity(scenario.scenario.days as usize);
    for day in 0..scenario.scenario.days {
        let ctx = DayContext {
            clock,
            log: &log,
            max_canary_fraction: scenario.route.max_canary_fraction,
            baselines: [&static_model, &oracle_model],
        };
        let mut report = run_day(&ctx, &mut st, &mut queue, policy, day)?;
        report.notes = policy.end_of_day(day, &item_cat)?;
        report.route = policy.route().clone();
        report.feedback_delivered = queue.take_delivered();
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
        oracle_model = Arc::new(PopAffinity::fit(&st.positives, &item_cat, params));
        let t = training(
            "oracle",
            format!("oracle-d{day}"),
            i64::from(day),
            st.positives.len(),
        );
        sink.record(day_end, SimRecord::BaselineTrained(&t))?;
        trainings.push(t);
    }
    Ok(super::runner::rank_output(
        ["negative", "positive"],
        policy.name(),
        trainings,
        reports,
        log.quarantined,
    ))
}

/// What a day needs besides the mutable state.
struct DayContext<'a> {
    clock: Clock,
    log: &'a InteractionLog,
    max_canary_fraction: f64,
    baselines: [&'a Arc<dyn Ranker>; 2],
}

/// Per-day accumulators.
#[derive(Default)]
struct DayTally {
    sums: [ArmSums; 3],
    positives: u64,
    new_positives: u64,
    /// (version, impressions, clicks) in first-served order.
    versions: Vec<(String, u64, u64)>,
}

/// One run day: every row of every hour is ranked by the three arms and scored.
fn run_day(
    ctx: &DayContext<'_>,
    st: &mut State,
    queue: &mut OutcomeQueue,
    policy: &mut dyn RankPolicy,
    day: u32,
) -> Result<RecommendDay> {
    let mut tally = DayTally::default();
    for h in 0..24 {
        let hour = ctx.clock.first_hour_of_day(day) + h;
        while let Some(due) = queue.pop_due(hour) {
            for (version, outcomes) in &due {
                policy.on_outcomes(hour, version, outcomes)?;
            }
        }
        let route = policy.route().clone();
        let (champion, canary) = served_models(ctx.max_canary_fraction, policy, &route)?;
        while let Some(e) = ctx.log.events.get(st.cursor).filter(|e| e.hour <= hour) {
            let e = *e;
            if e.hour < hour {
                return Err(order_error(&e));
            }
            tally.positives += u64::from(e.positive);
            tally.new_positives += u64::from(e.positive && e.item as usize >= ctx.log.warmup_items);
            for (arm, model) in [(STATIC, ctx.baselines[0]), (ORACLE, ctx.baselines[1])] {
                let scored = st.score(model.as_ref(), &e);
                tally.sums[arm].add(scored, e.positive);
            }
            let (version, model) = match (&canary, &route.canary) {
                (Some(m), Some(c)) if route.in_canary(u64::from(e.user)) => (c.version.as_str(), m),
                _ => (route.champion.as_str(), &champion),
            };
            let scored = st.score(model.as_ref(), &e);
            tally.sums[SERVED].add(scored, e.positive);
            let clicked: Vec<bool> = st
                .slate
                .iter()
                .map(|i| *i == e.item && e.positive)
                .collect();
            let shown = u64::from(scored.rank.is_some());
            count(
                &mut tally.versions,
                version,
                shown,
                &[shown == 1 && e.positive],
            );
            let outcome = SlateOutcome {
                hour,
                user: e.user,
                items: st.slate.clone(),
                clicked,
                consumed: e.positive.then_some(e.item),
            };
            queue.record(version, outcome);
            st.remember(&e);
            st.cursor += 1;
        }
        queue.close_hour(hour)?;
    }
    Ok(report(ctx, st, tally, day))
}

/// A row met after its hour had passed: the log was not in replay order.
fn order_error(e: &Interaction) -> Error {
    Error::Scenario {
        name: "replay".into(),
        reason: format!(
            "row at line {} of file #{} is out of time order",
            e.line, e.file
        ),
    }
}

fn report(ctx: &DayContext<'_>, st: &State, tally: DayTally, day: u32) -> RecommendDay {
    let n = tally.positives.max(1) as f64;
    let arm = |s: &ArmSums| RecommendArm {
        ctr: ratio(s.clicks, s.impressions),
        hit_rate: s.hits / n,
        ndcg: s.ndcg / n,
    };
    let date = ctx
        .clock
        .time_of(ctx.clock.first_hour_of_day(day))
        .format("%Y-%m-%d")
        .to_string();
    RecommendDay {
        day,
        date,
        k: st.k as u32,
        sessions: tally.positives,
        live_items: st.live_items as u64,
        new_item_share: tally.new_positives as f64 / n,
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
                ctr: ratio(clicks, impressions),
            })
            .collect(),
        route: ServingRoute::champion(STATIC_VERSION),
        feedback_delivered: 0,
        notes: Vec::new(),
    }
}

/// `num / den`, or 0 when `den` is 0 (an undefined rate, flagged by a zero count).
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

//! Recommender negative sampling on the recommend world's consumption (the synthetic
//! fixture of `models/tests/negative_sampling.rs` draws its held-out positives with a
//! popularity term; this world draws consumption from a softmax over taste, item appeal
//! and season, so it is a second, independently written world). Each seed's warm-up
//! consumption is split per user into the last distinct item consumed (held out) and the
//! earlier ones (training), and each strategy's matrix factorisation is measured on the
//! held-out items, overall and on the long tail. A measurement, not a claim: run with
//! `cargo test --workspace --test negative_sampling_world -- --ignored --nocapture`.

use std::path::Path;
use std::sync::Arc;

use ledgerloop_models::recommend::{
    evaluate_ranking, long_tail_items, rank_held_out, tail_ranking_metrics, Interactions,
    MatrixFactorization, MfConfig, MfTrainConfig, NegativeSampling, DEFAULT_HEAD_SHARE,
};
use ledgerloop_sim::config::Scenario;
use ledgerloop_sim::policy::rank::{Consumption, RankPolicy, RankStart, Ranker, SlateOutcome};
use ledgerloop_sim::policy::{PolicyNote, ServingRoute};
use ledgerloop_sim::run::run_recommend_with;
use ledgerloop_sim::sink::NullSink;

const RECOMMEND_TOML: &str = include_str!("../../scenarios/recommend.toml");
/// Seeds of the world and of the training, as for the fixture.
const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];
/// HR@K / NDCG@K cut-off, epochs and factor dimension, as for the fixture.
const K: usize = 10;
const EPOCHS: usize = 15;
const DIM: usize = 16;

/// The world without drift (no launches, no taste shift, no seasons), so the held-out
/// item comes from the same world as the training ones: 1,000 users, the scenario's 400
/// items, 10 warm-up days at the scenario's 90 sessions an hour (about 22 sessions per
/// user) and one run day, which is not used.
const OVERRIDES: [&str; 6] = [
    "recommend.users=1000",
    "baselines.train_days=10",
    "scenario.days=1",
    "recommend.drift.new_items.enabled=false",
    "recommend.drift.preference_shift.enabled=false",
    "recommend.drift.seasonality.enabled=false",
];

/// Keeps the warm-up consumption it is started with and serves the static baseline.
#[derive(Debug, Default)]
struct Capture {
    route: Option<ServingRoute>,
    baseline: Option<Arc<dyn Ranker>>,
    warmup: Vec<Consumption>,
    items: usize,
    users: usize,
}

impl RankPolicy for Capture {
    fn name(&self) -> &str {
        "capture"
    }
    fn start(&mut self, start: &RankStart<'_>) -> ledgerloop_sim::Result<()> {
        self.route = Some(ServingRoute::champion(start.baseline_version));
        self.baseline = Some(start.baseline.clone());
        self.warmup = start.warmup.to_vec();
        self.items = start.item_categories.len();
        self.users = start.users as usize;
        Ok(())
    }
    fn on_outcomes(&mut self, _: u64, _: &str, _: &[SlateOutcome]) -> ledgerloop_sim::Result<()> {
        Ok(())
    }
    fn route(&self) -> &ServingRoute {
        self.route.as_ref().expect("started")
    }
    fn model(&self, _version: &str) -> Option<Arc<dyn Ranker>> {
        self.baseline.clone()
    }
    fn end_of_day(&mut self, _: u32, _: &[u16]) -> ledgerloop_sim::Result<Vec<PolicyNote>> {
        Ok(vec![])
    }
}

/// Seed `seed`'s world as (training, held-out) interactions: per user, the distinct items
/// in order of first consumption; the last one is held out when there are at least two.
fn world(seed: u64) -> (Interactions, Interactions) {
    let mut overrides: Vec<String> = OVERRIDES.iter().map(|s| s.to_string()).collect();
    overrides.push(format!("scenario.seed={seed}"));
    let path = Path::new("scenarios/recommend.toml");
    let scenario = Scenario::from_toml_str(RECOMMEND_TOML, path, &overrides).expect("scenario");
    let mut capture = Capture::default();
    run_recommend_with(&scenario, &mut capture, &mut NullSink).expect("run");
    let mut per_user: Vec<Vec<u32>> = vec![Vec::new(); capture.users];
    for c in &capture.warmup {
        let items = &mut per_user[c.user as usize];
        if !items.contains(&c.item) {
            items.push(c.item);
        }
    }
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (u, items) in per_user.iter_mut().enumerate() {
        if items.len() >= 2 {
            held.push((u as u32, items.pop().expect("two items")));
        }
        train.extend(items.iter().map(|&i| (u as u32, i)));
    }
    let mk = |pairs| Interactions {
        n_users: capture.users,
        n_items: capture.items,
        pairs,
    };
    (mk(train), mk(held))
}

/// Sorted training items per user.
fn seen(train: &Interactions) -> Vec<Vec<u32>> {
    let mut seen = vec![Vec::new(); train.n_users];
    for &(u, i) in &train.pairs {
        seen[u as usize].push(i);
    }
    seen.iter_mut().for_each(|s| s.sort_unstable());
    seen
}

/// Five-seed means of one strategy: overall and long-tail HR@10 / NDCG@10.
#[derive(Debug, Clone, Copy)]
struct Measured {
    hr: f64,
    ndcg: f64,
    tail_hr: f64,
    tail_ndcg: f64,
}

/// Five-seed means of overall and long-tail HR@10 / NDCG@10 of one strategy, printed as a
/// table row with the per-seed overall / tail HR@10.
fn measure(
    worlds: &[(Interactions, Interactions)],
    name: &str,
    strategy: NegativeSampling,
    logq: f32,
) -> Measured {
    measure_on(&SEEDS, worlds, name, strategy, logq)
}

/// [`measure`] over the worlds of `seeds` (also the training seeds).
fn measure_on(
    seeds: &[u64],
    worlds: &[(Interactions, Interactions)],
    name: &str,
    strategy: NegativeSampling,
    logq: f32,
) -> Measured {
    let mut sum = [0.0f64; 4];
    let mut cells = Vec::new();
    for (&s, (train, held)) in seeds.iter().zip(worlds) {
        let opts = MfTrainConfig {
            seed: s,
            epochs: EPOCHS,
            negative_sampling: strategy,
            logq_correction: logq,
            ..MfTrainConfig::default()
        };
        let (m, _) =
            MatrixFactorization::fit(&MfConfig { dim: DIM }, train, None, &opts).expect("fit");
        let seen = seen(train);
        let (hr, ndcg) = evaluate_ranking(&m, &seen, &held.pairs, K);
        let is_tail = long_tail_items(train, DEFAULT_HEAD_SHARE).expect("valid share");
        let tail = tail_ranking_metrics(&rank_held_out(&m, &seen, &held.pairs, K), &is_tail, K);
        for (a, v) in sum.iter_mut().zip([hr, ndcg, tail.hit_rate, tail.ndcg]) {
            *a += v;
        }
        cells.push(format!("{hr:.3}/{:.3}", tail.hit_rate));
    }
    let n = seeds.len() as f64;
    let m = Measured {
        hr: sum[0] / n,
        ndcg: sum[1] / n,
        tail_hr: sum[2] / n,
        tail_ndcg: sum[3] / n,
    };
    eprintln!(
        "| {name} | {:.4} | {:.4} | {:.4} | {:.4} |  per seed HR/tail HR {cells:?}",
        m.hr, m.ndcg, m.tail_hr, m.tail_ndcg
    );
    m
}

/// Prints `m` against uniform and returns whether it meets issue 8's bar: tail HR@10 up by
/// at least 2 points while overall HR@10 drops by at most 1.
fn meets_bar(name: &str, m: Measured, uniform: Measured) -> bool {
    let (overall, tail) = (m.hr - uniform.hr, m.tail_hr - uniform.tail_hr);
    let meets = tail >= 0.02 && overall >= -0.01;
    eprintln!(
        "    {name} vs uniform: HR {overall:+.4}, tail HR {tail:+.4}; meets the bar: {meets}"
    );
    meets
}

/// The fixture's candidates, each without and with the full correction, and popularity
/// 0.75 with half of it; fixed before measuring. Five-seed means, overall / tail HR@10:
/// uniform 0.169 / 0.088; popularity 0.5, 0.75, 1.0 and mixed uncorrected 0.154 / 0.108,
/// 0.129 / 0.107, 0.119 / 0.112, 0.159 / 0.107, corrected 0.165 / 0.097, 0.164 / 0.099,
/// 0.158 / 0.109, 0.171 / 0.098; popularity 0.75 with half the correction 0.146 / 0.103.
/// Here popularity negatives do lift the tail (by about 2 points), and the correction wins
/// back overall hits (1.1-3.9 points) while giving back part of the tail gain; no
/// candidate meets the bar, two within a fraction of a point of it (popularity 1.0
/// corrected: tail +2.1, overall -1.1; mixed uncorrected: tail +1.9, overall -1.0).
#[test]
#[ignore = "measurement: about half a minute"]
fn strategies_on_the_recommend_world() {
    let worlds: Vec<_> = SEEDS.iter().map(|&s| world(s)).collect();
    for (s, (train, held)) in SEEDS.iter().zip(&worlds) {
        let is_tail = long_tail_items(train, DEFAULT_HEAD_SHARE).expect("valid share");
        let head = train
            .pairs
            .iter()
            .filter(|p| !is_tail[p.1 as usize])
            .count();
        let tail_held = held.pairs.iter().filter(|p| is_tail[p.1 as usize]).count();
        eprintln!(
            "seed {s}: {} training pairs, {} held out ({tail_held} tail), head {:.0}% of training pairs",
            train.pairs.len(),
            held.pairs.len(),
            100.0 * head as f64 / train.pairs.len() as f64
        );
    }
    eprintln!("| strategy | HR@10 | NDCG@10 | tail HR@10 | tail NDCG@10 |");
    let uniform = measure(&worlds, "uniform", NegativeSampling::Uniform, 0.0);
    let popularity = |exponent| NegativeSampling::Popularity { exponent };
    let mixed = NegativeSampling::Mixed {
        uniform_share: 0.5,
        exponent: 0.75,
    };
    let candidates = [
        ("popularity 0.5", popularity(0.5)),
        ("popularity 0.75", popularity(0.75)),
        ("popularity 1.0", popularity(1.0)),
        ("mixed 0.5 uniform + popularity 0.75", mixed),
    ];
    for (name, strategy) in candidates {
        let plain = measure(&worlds, name, strategy, 0.0);
        let corrected_name = format!("{name} + logQ 1");
        let corrected = measure(&worlds, &corrected_name, strategy, 1.0);
        assert!(!meets_bar(name, plain, uniform), "{name} meets the bar");
        assert!(
            !meets_bar(&corrected_name, corrected, uniform),
            "{corrected_name} meets the bar"
        );
        assert!(
            corrected.hr >= plain.hr + 0.01,
            "{name}: the correction won back less than 1 point: {corrected:?} vs {plain:?}"
        );
    }
    let half = measure(&worlds, "popularity 0.75 + logQ 0.5", popularity(0.75), 0.5);
    assert!(!meets_bar("popularity 0.75 + logQ 0.5", half, uniform));
}

/// Seeds the selection below never sees, for confirming the one candidate it picks.
const FRESH_SEEDS: [u64; 10] = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// A grid around the frontier the fixed candidates above reached (stronger popularity,
/// partial corrections), fixed before measuring; on seeds 1-5 the rule picks the
/// candidate with the largest tail gain among those that lose at most 1 point overall,
/// and that one candidate is then measured against uniform on ten fresh seeds. Session 11:
/// the rule picked popularity 1.25 + logQ 1 (seeds 1-5: tail +2.1, overall -0.7, the only
/// grid point meeting the bar); on seeds 6-15 it lifted tail HR@10 from 0.092 to 0.112
/// (+2.0, higher on 9 of 10 seeds) and cost 1.1 points of overall HR@10 (0.180 -> 0.169),
/// so it misses the bar on fresh seeds, narrowly, on both counts.
#[test]
#[ignore = "measurement: about half a minute"]
fn selected_strategy_on_fresh_seeds() {
    let worlds: Vec<_> = SEEDS.iter().map(|&s| world(s)).collect();
    let uniform = measure(&worlds, "uniform", NegativeSampling::Uniform, 0.0);
    let mut grid = Vec::new();
    for exponent in [1.0, 1.25, 1.5] {
        for logq in [0.0, 0.5, 0.75, 1.0] {
            grid.push((NegativeSampling::Popularity { exponent }, logq));
        }
    }
    for uniform_share in [0.25, 0.5] {
        for logq in [0.0, 0.5] {
            let mixed = NegativeSampling::Mixed {
                uniform_share,
                exponent: 1.0,
            };
            grid.push((mixed, logq));
        }
    }
    let mut best: Option<(NegativeSampling, f32, f64)> = None;
    for (strategy, logq) in grid {
        let name = format!("{strategy:?} + logQ {logq}");
        let m = measure(&worlds, &name, strategy, logq);
        let (overall, tail) = (m.hr - uniform.hr, m.tail_hr - uniform.tail_hr);
        meets_bar(&name, m, uniform);
        if overall >= -0.01 && best.is_none_or(|b| tail > b.2) {
            best = Some((strategy, logq, tail));
        }
    }
    let (strategy, logq, _) = best.expect("some candidate loses at most 1 point");
    eprintln!("selected on seeds 1-5: {strategy:?} + logQ {logq}; fresh seeds 6-15:");
    let fresh: Vec<_> = FRESH_SEEDS.iter().map(|&s| world(s)).collect();
    let uniform = measure_on(
        &FRESH_SEEDS,
        &fresh,
        "uniform",
        NegativeSampling::Uniform,
        0.0,
    );
    let name = format!("{strategy:?} + logQ {logq}");
    let m = measure_on(&FRESH_SEEDS, &fresh, &name, strategy, logq);
    assert_eq!(
        (strategy, logq),
        (NegativeSampling::Popularity { exponent: 1.25 }, 1.0)
    );
    assert!(m.tail_hr >= uniform.tail_hr + 0.015, "{m:?} vs {uniform:?}");
    assert!(
        !meets_bar(&name, m, uniform),
        "the selected candidate now meets the bar"
    );
}

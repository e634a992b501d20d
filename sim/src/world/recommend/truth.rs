//! The hidden truth of the recommend world: latent vectors, appeal, seasons, launches.

use rand::Rng;

use crate::clock::Clock;
use crate::config::recommend::{RecommendConfig, MAX_ITEMS};
use crate::rng::{component_rng, Normal, SimRng};

/// Users, items and their true utilities.
#[derive(Debug)]
pub(super) struct Truth {
    cfg: RecommendConfig,
    clock: Clock,
    dim: usize,
    /// Row-major item vectors, in launch order (so the live items are a prefix).
    item_vecs: Vec<f32>,
    /// Category of each item.
    pub item_cat: Vec<u16>,
    item_appeal: Vec<f32>,
    /// Hour each item launched (0 for the initial catalogue).
    item_launch: Vec<u64>,
    /// Row-major category centres.
    cat_vecs: Vec<f32>,
    /// Initial and shifted taste per user; the shifted one is used only by movers.
    user_old: Vec<f32>,
    user_new: Vec<f32>,
    user_moves: Vec<bool>,
    rng: SimRng,
    normal: Normal,
}

impl Truth {
    pub(super) fn new(cfg: &RecommendConfig, clock: Clock, seed: u64) -> Self {
        let mut rng = component_rng(seed, "world/recommend/truth");
        let mut normal = Normal::default();
        let dim = cfg.latent_dim as usize;
        let mut draw = |n: usize, rng: &mut SimRng| -> Vec<f32> {
            (0..n).map(|_| normal.sample(rng) as f32).collect()
        };
        let cat_vecs = draw(cfg.categories as usize * dim, &mut rng);
        let users = cfg.users as usize;
        let user_old = draw(users * dim, &mut rng);
        let user_new = draw(users * dim, &mut rng);
        let share = cfg.drift.preference_shift.share;
        let user_moves = (0..users).map(|_| rng.gen::<f64>() < share).collect();
        let mut truth = Self {
            cfg: cfg.clone(),
            clock,
            dim,
            item_vecs: Vec::new(),
            item_cat: Vec::new(),
            item_appeal: Vec::new(),
            item_launch: Vec::new(),
            cat_vecs,
            user_old,
            user_new,
            user_moves,
            rng: component_rng(seed, "world/recommend/items"),
            normal: Normal::default(),
        };
        for _ in 0..cfg.items {
            truth.launch(0);
        }
        truth
    }

    /// Adds one item launched at `hour`.
    fn launch(&mut self, hour: u64) {
        let cat = self.rng.gen_range(0..self.cfg.categories as usize);
        for j in 0..self.dim {
            let v = self.cat_vecs[cat * self.dim + j]
                + (self.cfg.item_spread * self.normal.sample(&mut self.rng)) as f32;
            self.item_vecs.push(v);
        }
        self.item_cat.push(cat as u16);
        self.item_appeal
            .push((self.cfg.appeal_spread * self.normal.sample(&mut self.rng)) as f32);
        self.item_launch.push(hour);
    }

    /// Launches the items due at the start of `hour` (the first hour of a launch day).
    pub(super) fn launch_due(&mut self, hour: u64) {
        let n = &self.cfg.drift.new_items;
        let day = self.clock.day_of(hour);
        let first_hour = self.clock.hour_of_day(hour) == 0;
        if n.enabled && first_hour && day >= i64::from(n.start_day) {
            let room = (MAX_ITEMS as usize).saturating_sub(self.live());
            for _ in 0..(n.items_per_day as usize).min(room) {
                self.launch(hour);
            }
        }
    }

    /// Items live now.
    pub(super) fn live(&self) -> usize {
        self.item_cat.len()
    }

    /// True when item `i` launched during the run (after the initial catalogue).
    pub(super) fn is_new(&self, i: usize) -> bool {
        self.item_launch[i] > 0
    }

    /// Writes the true utility of every live item for `user` at `hour` into `out`.
    pub(super) fn utilities(&self, user: usize, hour: u64, out: &mut Vec<f64>) {
        let day = (hour as f64 - self.clock.warmup_hours() as f64) / 24.0;
        let taste = self.taste(user, day);
        let season = self.seasons(day);
        let scale = self.cfg.taste_weight / (self.dim as f64).sqrt();
        let n = &self.cfg.drift.new_items;
        out.clear();
        for i in 0..self.live() {
            let v = &self.item_vecs[i * self.dim..(i + 1) * self.dim];
            let dot: f64 = v.iter().zip(&taste).map(|(a, b)| f64::from(*a) * b).sum();
            let mut u = scale * dot
                + f64::from(self.item_appeal[i])
                + season[usize::from(self.item_cat[i])];
            if self.item_launch[i] > 0 {
                let age_days = (hour.saturating_sub(self.item_launch[i])) as f64 / 24.0;
                u += n.novelty_boost * 0.5f64.powf(age_days / n.novelty_half_life_days);
            }
            out.push(u);
        }
    }

    fn taste(&self, user: usize, day: f64) -> Vec<f64> {
        let p = &self.cfg.drift.preference_shift;
        let t = if p.enabled && self.user_moves[user] {
            let (s, e) = (f64::from(p.start_day), f64::from(p.end_day));
            if day < s {
                0.0
            } else if e <= s {
                1.0
            } else {
                ((day - s) / (e - s)).min(1.0)
            }
        } else {
            0.0
        };
        let old = &self.user_old[user * self.dim..(user + 1) * self.dim];
        let new = &self.user_new[user * self.dim..(user + 1) * self.dim];
        old.iter()
            .zip(new)
            .map(|(a, b)| f64::from(*a) * (1.0 - t) + f64::from(*b) * t)
            .collect()
    }

    /// Seasonal utility of every category at fractional run day `day`; categories are
    /// spread evenly over the cycle.
    fn seasons(&self, day: f64) -> Vec<f64> {
        let s = &self.cfg.drift.seasonality;
        let k = self.cfg.categories as usize;
        (0..k)
            .map(|c| {
                if s.enabled {
                    let phase = day / s.period_days + c as f64 / k as f64;
                    s.amplitude * (2.0 * std::f64::consts::PI * phase).sin()
                } else {
                    0.0
                }
            })
            .collect()
    }
}

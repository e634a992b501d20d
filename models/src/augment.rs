//! Rare-class augmentation of tabular data sets: SMOTE-like interpolation between a row
//! and one of its nearest same-class neighbours, Gaussian noise jitter, or both.
//!
//! Everything here is a pure function of the data set, the options and a seed: the same
//! inputs give the same synthetic rows bit for bit, so a training job that augments can be
//! re-run by an auditor and reproduce its artifact. Synthetic rows are appended after the
//! real rows (which are returned unchanged and in order); class `c` gets its own ChaCha
//! stream (`set_stream(c)`), so the rows drawn for one class do not depend on another's.
//!
//! Why SMOTE and not only class weights: a class with a dozen training rows in a region
//! of feature space gets a large loss weight, and a flexible model then fits a small
//! island around each of those rows; interpolating between neighbours fills the region
//! between them, so held-out rare rows that fall *between* the training rows are covered.
//! The loss weights must then be computed on the augmented counts (or switched off),
//! otherwise the rare class is counted twice (see `TrainConfig::class_weighting`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::TabularDataset;
use crate::fixtures::normal;
use crate::{Error, Result};

pub mod text;

/// Largest share of the real rows a class may be raised to: above one half, the "rare"
/// class would outnumber the rest and the augmentation would invent the majority.
pub const MAX_TARGET_SHARE: f64 = 0.5;
/// Most nearest neighbours SMOTE interpolates towards.
pub const MAX_NEIGHBOURS: usize = 50;
/// Largest jitter standard deviation, in units of each feature's standard deviation:
/// noise wider than the feature's own spread no longer describes the class.
pub const MAX_JITTER_STD: f32 = 1.0;
/// Most synthetic rows per real row of a class, so that a class of two rows cannot be
/// blown up into thousands of near-copies.
pub const MAX_SYNTHETIC_PER_REAL: f64 = 20.0;
/// Rows of one class among which a row's neighbours are searched at most; a larger class
/// is searched on an evenly strided subset, which bounds the quadratic search.
pub const MAX_NEIGHBOUR_POOL: usize = 2000;

/// How synthetic rows are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AugmentMethod {
    /// A point on the segment from a real row to one of its nearest same-class neighbours.
    Smote,
    /// A real row plus Gaussian noise (random oversampling with jitter).
    Jitter,
    /// A SMOTE point plus Gaussian noise.
    SmoteJitter,
}

impl AugmentMethod {
    /// The name recorded in the training fact.
    pub fn name(self) -> &'static str {
        match self {
            AugmentMethod::Smote => "smote",
            AugmentMethod::Jitter => "jitter",
            AugmentMethod::SmoteJitter => "smote_jitter",
        }
    }

    /// Whether the method interpolates (and so needs two rows of a class).
    pub fn interpolates(self) -> bool {
        !matches!(self, AugmentMethod::Jitter)
    }

    /// Whether the method adds noise.
    pub fn jitters(self) -> bool {
        !matches!(self, AugmentMethod::Smote)
    }
}

/// What to augment and how much.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    /// How synthetic rows are made.
    pub method: AugmentMethod,
    /// Every class with fewer than `target_share` of the real rows is raised to that
    /// share (of the real row count) with synthetic rows; in (0, 0.5].
    pub target_share: f64,
    /// Nearest same-class neighbours a SMOTE point may be drawn towards, in [1, 50].
    pub neighbours: usize,
    /// Jitter standard deviation in units of each feature's standard deviation over the
    /// data set, in [0, 1]; must be > 0 when the method jitters.
    pub jitter_std: f32,
    /// Cap on synthetic rows per real row of a class, in (0, 20].
    pub max_synthetic_per_real: f64,
}

impl AugmentConfig {
    /// Rejects options outside their documented ranges.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: &str| {
            Err(Error::InvalidConfig {
                field,
                reason: reason.into(),
            })
        };
        let t = self.target_share;
        if !(t.is_finite() && t > 0.0 && t <= MAX_TARGET_SHARE) {
            return bad("target_share", "must lie in (0, 0.5]");
        }
        if !(1..=MAX_NEIGHBOURS).contains(&self.neighbours) {
            return bad("neighbours", "must lie in [1, 50]");
        }
        let s = self.jitter_std;
        if !(s.is_finite() && (0.0..=MAX_JITTER_STD).contains(&s)) {
            return bad("jitter_std", "must lie in [0, 1]");
        }
        if self.method.jitters() && s == 0.0 {
            return bad("jitter_std", "must be > 0 when the method jitters");
        }
        let m = self.max_synthetic_per_real;
        if !(m.is_finite() && m > 0.0 && m <= MAX_SYNTHETIC_PER_REAL) {
            return bad("max_synthetic_per_real", "must lie in (0, 20]");
        }
        Ok(())
    }
}

/// Synthetic rows each class gets for the real `class_counts`: a class below
/// `target_share` of the real rows is raised to `ceil(target_share * rows)`, capped at
/// `max_synthetic_per_real` per real row; an absent class gets none, and so does a class
/// of one row when the method interpolates (it has no neighbour).
pub fn synthetic_counts(class_counts: &[usize], cfg: &AugmentConfig) -> Vec<usize> {
    let total: usize = class_counts.iter().sum();
    // Counts are far below 2^53, so the float products are exact enough and the casts
    // saturate rather than wrap.
    let target = (cfg.target_share * total as f64).ceil() as usize;
    let min_rows = if cfg.method.interpolates() { 2 } else { 1 };
    class_counts
        .iter()
        .map(|&n| {
            if n < min_rows || n >= target {
                return 0;
            }
            let cap = (cfg.max_synthetic_per_real * n as f64).floor() as usize;
            (target - n).min(cap)
        })
        .collect()
}

/// Per-feature standard deviation over the data set (0 for a constant feature).
pub fn feature_std(data: &TabularDataset) -> Vec<f32> {
    let nf = data.n_features;
    let n = data.len().max(1) as f64;
    let mut mean = vec![0.0f64; nf];
    let mut sq = vec![0.0f64; nf];
    for i in 0..data.len() {
        for (f, &v) in data.row(i).iter().enumerate() {
            mean[f] += f64::from(v) / n;
        }
    }
    for i in 0..data.len() {
        for (f, &v) in data.row(i).iter().enumerate() {
            sq[f] += (f64::from(v) - mean[f]).powi(2) / n;
        }
    }
    sq.iter().map(|v| v.sqrt() as f32).collect()
}

/// The data set with synthetic rows appended, and the synthetic rows per class.
pub fn oversample(
    data: &TabularDataset,
    cfg: &AugmentConfig,
    seed: u64,
) -> Result<(TabularDataset, Vec<usize>)> {
    cfg.validate()?;
    data.validate()?;
    let counts = synthetic_counts(&data.class_counts(), cfg);
    let std = feature_std(data);
    let mut out = data.clone();
    for (class, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let rows: Vec<usize> = (0..data.len())
            .filter(|&i| data.labels[i] as usize == class)
            .collect();
        let points = data.subset(&rows).features;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(class as u64);
        let mut made = if cfg.method.interpolates() {
            smote(
                &points,
                data.n_features,
                count,
                cfg.neighbours,
                &std,
                &mut rng,
            )
        } else {
            repeat_rows(&points, data.n_features, count)
        };
        if cfg.method.jitters() {
            jitter(&mut made, data.n_features, cfg.jitter_std, &std, &mut rng);
        }
        out.features.extend_from_slice(&made);
        out.labels.extend(std::iter::repeat_n(class as u32, count));
    }
    Ok((out, counts))
}

/// `count` copies of the rows of `points`, taken in turn.
fn repeat_rows(points: &[f32], nf: usize, count: usize) -> Vec<f32> {
    let n = points.len() / nf.max(1);
    let mut out = Vec::with_capacity(count * nf);
    for s in 0..count {
        let i = s % n.max(1);
        out.extend_from_slice(&points[i * nf..(i + 1) * nf]);
    }
    out
}

/// `count` SMOTE points among the rows of `points` (row-major, `nf` features): base rows
/// are taken in turn (so every row is used as evenly as the count allows), each towards
/// one of its `k` nearest other rows (distance on features scaled by `std`; a constant
/// feature is ignored), at a uniform position along the segment.
pub fn smote(
    points: &[f32],
    nf: usize,
    count: usize,
    k: usize,
    std: &[f32],
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let n = points.len() / nf.max(1);
    if n < 2 || count == 0 {
        return Vec::new();
    }
    let row = |i: usize| &points[i * nf..(i + 1) * nf];
    let pool: Vec<usize> = strided(n, MAX_NEIGHBOUR_POOL);
    let bases = count.min(n);
    let neighbours: Vec<Vec<usize>> = (0..bases)
        .map(|i| nearest(row(i), i, &pool, &row, k, std))
        .collect();
    let mut out = Vec::with_capacity(count * nf);
    for s in 0..count {
        let i = s % bases;
        let candidates = &neighbours[i];
        if candidates.is_empty() {
            out.extend_from_slice(row(i));
            continue;
        }
        let j = candidates[rng.gen_range(0..candidates.len())];
        let gap: f32 = rng.gen();
        let (a, b) = (row(i), row(j));
        out.extend(a.iter().zip(b).map(|(&x, &y)| x + gap * (y - x)));
    }
    out
}

/// At most `max` indices of `0..n`, evenly strided (all of them when `n <= max`).
fn strided(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|s| s * n / max).collect()
}

/// The `k` rows of `pool` nearest to `x` (row `me` excluded), ties broken by index so
/// the choice never depends on float ordering quirks.
fn nearest<'a>(
    x: &[f32],
    me: usize,
    pool: &[usize],
    row: &impl Fn(usize) -> &'a [f32],
    k: usize,
    std: &[f32],
) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = pool
        .iter()
        .filter(|&&j| j != me)
        .map(|&j| (scaled_distance(x, row(j), std), j))
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, j)| j).collect()
}

/// Squared Euclidean distance with each feature divided by its standard deviation.
fn scaled_distance(a: &[f32], b: &[f32], std: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .zip(std)
        .filter(|(_, &s)| s > 0.0)
        .map(|((&x, &y), &s)| ((x - y) / s).powi(2))
        .sum()
}

/// Adds Gaussian noise of `sigma` times each feature's standard deviation to every value
/// of `rows` (a constant feature stays constant).
pub fn jitter(rows: &mut [f32], nf: usize, sigma: f32, std: &[f32], rng: &mut ChaCha8Rng) {
    for chunk in rows.chunks_mut(nf.max(1)) {
        for (v, &s) in chunk.iter_mut().zip(std) {
            *v += sigma * s * normal(rng);
        }
    }
}

/// XOR-ed into the seed of the validation split, so the split is not the same stream as
/// the synthetic rows.
const VALID_STREAM: u64 = 0x5911;

/// A training set prepared with augmentation: the real training rows plus synthetic
/// rows, and the real validation rows (none are synthetic).
#[derive(Debug, Clone)]
pub struct Augmented {
    /// Real training rows, then the synthetic rows.
    pub train: TabularDataset,
    /// Real rows held out for early stopping (`None` when none are held out).
    pub valid: Option<TabularDataset>,
    /// Synthetic rows per class.
    pub synthetic_per_class: Vec<usize>,
}

impl Augmented {
    /// Balanced loss weights `n / (n_classes * count)` of the *real* training rows (the
    /// synthetic ones left out), zero for an absent class: the weighting of a job that
    /// did not augment, kept on top of the synthetic rows.
    pub fn real_count_weights(&self) -> Vec<f32> {
        let counts: Vec<usize> = self
            .train
            .class_counts()
            .iter()
            .zip(self.synthetic_per_class.iter().chain(std::iter::repeat(&0)))
            .map(|(&all, &synthetic)| all.saturating_sub(synthetic))
            .collect();
        let n: usize = counts.iter().sum();
        let k = counts.len() as f32;
        counts
            .iter()
            .map(|&c| {
                if c == 0 {
                    0.0
                } else {
                    n as f32 / (k * c as f32)
                }
            })
            .collect()
    }
}

/// Holds out `valid_fraction` of the real rows (seeded, as `TabularModel::fit` would
/// when given no validation set) *before* augmenting, and augments only the rest: a
/// synthetic row in the validation set would let early stopping reward the model for
/// fitting interpolations of its own training rows.
pub fn augment_for_training(
    data: &TabularDataset,
    valid_fraction: f32,
    cfg: &AugmentConfig,
    seed: u64,
) -> Result<Augmented> {
    let split = valid_fraction > 0.0 && data.len() >= MIN_ROWS_TO_SPLIT;
    let (train, valid) = if split {
        let (train, valid) = data.split(valid_fraction, seed ^ VALID_STREAM);
        (train, Some(valid))
    } else {
        (data.clone(), None)
    };
    let (train, synthetic_per_class) = oversample(&train, cfg, seed)?;
    Ok(Augmented {
        train,
        valid,
        synthetic_per_class,
    })
}

/// Fewest rows from which a validation set is split off (as `TabularModel::fit` does).
const MIN_ROWS_TO_SPLIT: usize = 10;

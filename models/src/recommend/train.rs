//! Matrix-factorisation training: mini-batches of positives, each scored with the logistic
//! loss against `negatives_per_positive` sampled non-positive items (strategies and their
//! optional sampling-bias correction in `negatives.rs`); lazy AdamW on the user and item
//! rows the batch touched (an epoch touches each row a few times, so a dense step over
//! every row would waste most of its work); early stopping on validation HR@K with the
//! best epoch's weights kept.

use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::negatives::{validate_logq_correction, Sampler};
use super::{Interactions, MatrixFactorization, MfConfig, MfTrainConfig};
use crate::fixtures::normal;
use crate::metrics::{hit_rate_at_k, ndcg_at_k};
use crate::optim::{AdamStep, Moments};
use crate::report::{EpochRecord, TrainReport};
use crate::{Error, Result};

/// Gradients of one user's loss over `(item, target)` pairs (no L2).
#[derive(Debug)]
pub(crate) struct ExampleGrads {
    pub(crate) loss: f64,
    pub(crate) user: Vec<f32>,
    pub(crate) user_bias: f32,
    pub(crate) global_bias: f32,
    /// `(item, d_factors, d_bias)` in the order given.
    pub(crate) items: Vec<(u32, Vec<f32>, f32)>,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Loss `sum -[y ln s(x) + (1-y) ln(1-s(x))]` and its gradients for user `u`; with
/// `offsets`, item `i`'s logit `x` is its score minus `offsets[i]` (the sampling-bias
/// correction), which leaves the gradients' form unchanged.
pub(crate) fn example_grads(
    m: &MatrixFactorization,
    u: u32,
    targets: &[(u32, f32)],
    offsets: Option<&[f32]>,
) -> ExampleGrads {
    let d = m.dim;
    let pu = &m.user_factors[u as usize * d..(u as usize + 1) * d];
    let mut g = ExampleGrads {
        loss: 0.0,
        user: vec![0.0; d],
        user_bias: 0.0,
        global_bias: 0.0,
        items: Vec::with_capacity(targets.len()),
    };
    for &(i, y) in targets {
        let mut s = m.score(u, i);
        if let Some(o) = offsets {
            s -= o[i as usize];
        }
        let p = sigmoid(s);
        g.loss -= f64::from(y) * f64::from(p.max(1e-12)).ln()
            + f64::from(1.0 - y) * f64::from((1.0 - p).max(1e-12)).ln();
        let ds = p - y;
        let qi = &m.item_factors[i as usize * d..(i as usize + 1) * d];
        g.user.iter_mut().zip(qi).for_each(|(a, q)| *a += ds * q);
        g.user_bias += ds;
        g.global_bias += ds;
        g.items.push((i, pu.iter().map(|p| ds * p).collect(), ds));
    }
    g
}

/// Mean gradients of one mini-batch. The buffers are table-sized but only the touched rows
/// are ever non-zero, and only those are read and cleared, so a step costs O(touched x dim).
struct BatchGrads {
    user: Vec<f32>,
    item: Vec<f32>,
    user_bias: Vec<f32>,
    item_bias: Vec<f32>,
    global: f32,
    users: Vec<u32>,
    items: Vec<u32>,
}

/// Adam moments of every parameter table.
struct MfAdam {
    user: Moments,
    item: Moments,
    user_bias: Moments,
    item_bias: Moments,
    global: Moments,
    step: i32,
}

impl BatchGrads {
    fn new(m: &MatrixFactorization) -> Self {
        Self {
            user: vec![0.0; m.user_factors.len()],
            item: vec![0.0; m.item_factors.len()],
            user_bias: vec![0.0; m.n_users],
            item_bias: vec![0.0; m.n_items],
            global: 0.0,
            users: Vec::new(),
            items: Vec::new(),
        }
    }

    /// Adds `scale * g` for user `u`.
    fn add(&mut self, d: usize, u: u32, g: &ExampleGrads, scale: f32) {
        let ur = u as usize * d..(u as usize + 1) * d;
        for (a, b) in self.user[ur].iter_mut().zip(&g.user) {
            *a += scale * b;
        }
        self.user_bias[u as usize] += scale * g.user_bias;
        self.global += scale * g.global_bias;
        self.users.push(u);
        for (i, gq, gb) in &g.items {
            let ir = *i as usize * d..(*i as usize + 1) * d;
            for (a, b) in self.item[ir].iter_mut().zip(gq) {
                *a += scale * b;
            }
            self.item_bias[*i as usize] += scale * gb;
            self.items.push(*i);
        }
    }

    /// One lazy AdamW step on the touched rows, then clears what it used.
    fn apply(&mut self, m: &mut MatrixFactorization, adam: &mut MfAdam, opts: &MfTrainConfig) {
        adam.step += 1;
        let step = AdamStep::new(adam.step, opts.learning_rate, opts.l2);
        let bias_step = step.without_decay();
        let d = m.dim;
        self.users.sort_unstable();
        self.users.dedup();
        for &u in &self.users {
            let (u, r) = (u as usize, u as usize * d..(u as usize + 1) * d);
            adam.user
                .step_row(&step, &mut m.user_factors, u, d, &self.user[r.clone()]);
            adam.user_bias
                .step_row(&bias_step, &mut m.user_bias, u, 1, &self.user_bias[u..=u]);
            self.user[r].iter_mut().for_each(|g| *g = 0.0);
            self.user_bias[u] = 0.0;
        }
        self.items.sort_unstable();
        self.items.dedup();
        for &i in &self.items {
            let (i, r) = (i as usize, i as usize * d..(i as usize + 1) * d);
            adam.item
                .step_row(&step, &mut m.item_factors, i, d, &self.item[r.clone()]);
            adam.item_bias
                .step_row(&bias_step, &mut m.item_bias, i, 1, &self.item_bias[i..=i]);
            self.item[r].iter_mut().for_each(|g| *g = 0.0);
            self.item_bias[i] = 0.0;
        }
        let mut global = [m.global_bias];
        adam.global
            .step_all(&bias_step, &mut global, &[self.global]);
        m.global_bias = global[0];
        self.global = 0.0;
        self.users.clear();
        self.items.clear();
    }
}

impl MfAdam {
    fn new(m: &MatrixFactorization) -> Self {
        Self {
            user: Moments::zeros(m.user_factors.len()),
            item: Moments::zeros(m.item_factors.len()),
            user_bias: Moments::zeros(m.n_users),
            item_bias: Moments::zeros(m.n_items),
            global: Moments::zeros(1),
            step: 0,
        }
    }
}

/// The positive `i` followed by `k` items drawn by `sampler` that the user has not interacted with
/// (up to [`NEGATIVE_REDRAWS`] redraws each; a user who has seen almost everything may get
/// a seen item).
fn sample_targets(
    i: u32,
    seen: &[u32],
    sampler: &Sampler,
    k: usize,
    rng: &mut ChaCha8Rng,
    out: &mut Vec<(u32, f32)>,
) {
    out.clear();
    out.push((i, 1.0));
    for _ in 0..k {
        let mut j = sampler.draw(rng);
        for _ in 0..NEGATIVE_REDRAWS {
            if seen.binary_search(&j).is_err() {
                break;
            }
            j = sampler.draw(rng);
        }
        out.push((j, 0.0));
    }
}

/// Redraws allowed when a sampled negative turns out to be a positive of the user.
const NEGATIVE_REDRAWS: usize = 8;

/// Gradient buffers, optimiser state and the shuffle/negative-sampling stream of one run.
type TrainState = (BatchGrads, MfAdam, ChaCha8Rng);

/// One epoch over `order` in mini-batches; returns the mean loss per positive.
fn train_epoch(
    m: &mut MatrixFactorization,
    state: &mut TrainState,
    order: &[(u32, u32)],
    seen: &[Vec<u32>],
    sampler: &Sampler,
    opts: &MfTrainConfig,
) -> f64 {
    let (grads, adam, rng) = state;
    let mut targets = Vec::with_capacity(opts.negatives_per_positive + 1);
    let mut loss = 0f64;
    for batch in order.chunks(opts.batch_size) {
        let scale = 1.0 / batch.len() as f32;
        for &(u, i) in batch {
            let k = opts.negatives_per_positive;
            sample_targets(i, &seen[u as usize], sampler, k, rng, &mut targets);
            let g = example_grads(m, u, &targets, sampler.logit_offsets());
            loss += g.loss;
            grads.add(m.dim, u, &g, scale);
        }
        grads.apply(m, adam, opts);
    }
    loss / order.len().max(1) as f64
}

/// Mean HR@K and NDCG@K of held-out positives, ranking all items the user has not seen.
pub fn evaluate_ranking(
    m: &MatrixFactorization,
    seen: &[Vec<u32>],
    held_out: &[(u32, u32)],
    k: usize,
) -> (f64, f64) {
    let (mut hr, mut ndcg) = (0.0, 0.0);
    for (ranked, i) in rank_held_out(m, seen, held_out, k) {
        hr += hit_rate_at_k(&ranked, i, k);
        ndcg += ndcg_at_k(&ranked, i, k);
    }
    let n = held_out.len().max(1) as f64;
    (hr / n, ndcg / n)
}

/// The top-`k` ranking of each held-out `(user, item)` over the items the user has not
/// seen (the held-out item itself stays rankable), paired with the held-out item; the
/// input of [`evaluate_ranking`] and of the tail metric.
pub fn rank_held_out(
    m: &MatrixFactorization,
    seen: &[Vec<u32>],
    held_out: &[(u32, u32)],
    k: usize,
) -> Vec<(Vec<u32>, u32)> {
    held_out
        .iter()
        .map(|&(u, i)| {
            let exclude: Vec<u32> = seen
                .get(u as usize)
                .map(|s| s.iter().copied().filter(|&x| x != i).collect())
                .unwrap_or_default();
            let ranked = m.top_k(u, k, &exclude).into_iter().map(|x| x.0).collect();
            (ranked, i)
        })
        .collect()
}

/// Sorted positives per user.
pub(crate) fn positives(data: &Interactions) -> Vec<Vec<u32>> {
    let mut seen = vec![Vec::new(); data.n_users];
    for &(u, i) in &data.pairs {
        seen[u as usize].push(i);
    }
    for s in &mut seen {
        s.sort_unstable();
        s.dedup();
    }
    seen
}

pub(crate) fn init(
    cfg: &MfConfig,
    n_users: usize,
    n_items: usize,
    seed: u64,
) -> MatrixFactorization {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x3f);
    let mut draw = |n: usize| (0..n).map(|_| 0.1 * normal(&mut rng)).collect::<Vec<f32>>();
    MatrixFactorization {
        n_users,
        n_items,
        dim: cfg.dim,
        user_factors: draw(n_users * cfg.dim),
        item_factors: draw(n_items * cfg.dim),
        user_bias: vec![0.0; n_users],
        item_bias: vec![0.0; n_items],
        global_bias: 0.0,
        seed,
        dataset_hash: String::new(),
        report: None,
    }
}

/// Rejects bad data and options before any allocation: ids out of range, a validation set
/// over a different id space, zero sizes, a non-finite or non-positive learning rate.
fn check(
    cfg: &MfConfig,
    train: &Interactions,
    valid: Option<&Interactions>,
    opts: &MfTrainConfig,
) -> Result<()> {
    train.validate()?;
    opts.negative_sampling.validate()?;
    validate_logq_correction(opts.negative_sampling, opts.logq_correction)?;
    if let Some(v) = valid {
        v.validate()?;
        if (v.n_users, v.n_items) != (train.n_users, train.n_items) {
            return Err(Error::ShapeMismatch {
                what: "validation interactions vs training".into(),
                expected: format!("{} users x {} items", train.n_users, train.n_items),
                got: format!("{} users x {} items", v.n_users, v.n_items),
            });
        }
    }
    let rates_ok = opts.learning_rate.is_finite()
        && opts.learning_rate > 0.0
        && opts.l2.is_finite()
        && opts.l2 >= 0.0;
    let sizes_ok = cfg.dim > 0 && opts.epochs > 0 && opts.batch_size > 0 && opts.eval_k > 0;
    if !sizes_ok || train.n_items < 2 || !rates_ok {
        return Err(Error::InvalidConfig {
            field: "MfConfig/MfTrainConfig",
            reason: "dim, epochs, batch_size and eval_k must be >= 1, there must be at least 2 \
                     items, the learning rate finite and > 0, l2 finite and >= 0"
                .into(),
        });
    }
    Ok(())
}

/// Trains with early stopping on validation HR@K (when `valid` is given); the report's
/// `valid_accuracy` per epoch is HR@K and the returned weights are the best epoch's.
pub(super) fn fit(
    cfg: &MfConfig,
    train: &Interactions,
    valid: Option<&Interactions>,
    opts: &MfTrainConfig,
) -> Result<(MatrixFactorization, TrainReport)> {
    check(cfg, train, valid, opts)?;
    let start = Instant::now();
    let mut m = init(cfg, train.n_users, train.n_items, opts.seed);
    m.dataset_hash = train.content_hash();
    let seen = positives(train);
    let sampler =
        Sampler::new(opts.negative_sampling, train).with_logq_correction(opts.logq_correction);
    let rng = ChaCha8Rng::seed_from_u64(opts.seed ^ SHUFFLE_STREAM);
    let mut state: TrainState = (BatchGrads::new(&m), MfAdam::new(&m), rng);
    let mut report = TrainReport::new("recommender", "fit", opts.seed, serde_json::to_value(opts)?);
    report.n_train = train.pairs.len();
    report.n_valid = valid.map_or(0, |v| v.pairs.len());
    let mut order = train.pairs.clone();
    let mut best: Option<(f64, MatrixFactorization)> = None;
    for epoch in 1..=opts.epochs {
        order.shuffle(&mut state.2);
        let train_loss = train_epoch(&mut m, &mut state, &order, &seen, &sampler, opts);
        if !train_loss.is_finite() {
            return Err(Error::Diverged {
                epoch,
                loss: train_loss,
            });
        }
        let hr = valid.map(|v| evaluate_ranking(&m, &seen, &v.pairs, opts.eval_k).0);
        report.epochs.push(EpochRecord {
            epoch,
            train_loss,
            valid_loss: None,
            valid_accuracy: hr,
            learning_rate: f64::from(opts.learning_rate),
            batch_size: opts.batch_size,
            batch_loss_cv: 0.0,
        });
        if let Some(hr) = hr {
            if best.as_ref().is_none_or(|(b, _)| hr > *b) {
                best = Some((hr, m.clone()));
                report.best_epoch = epoch;
            } else if patience_ran_out(epoch, &mut report, opts) {
                break;
            }
        }
    }
    let mut m = best.map_or(m, |(_, b)| b);
    record_negatives_drawn(&mut report, opts, order.len());
    if report.best_epoch == 0 {
        report.best_epoch = report.epochs.len();
    }
    let secs = start.elapsed().as_secs_f64();
    report.wall_time_ms = secs * 1e3;
    report.train_samples_per_s = (order.len() * report.epochs.len()) as f64 / secs.max(1e-9);
    m.report = Some(report.clone());
    Ok((m, report))
}

/// Adds `negatives_drawn` (every positive of every epoch run gets
/// `negatives_per_positive` negatives) to the report's options beside the strategy and
/// the seed, so the augmentation is recorded as (method, count, seed). Left out for the
/// uniform default so that reports written before strategies existed are unchanged.
fn record_negatives_drawn(report: &mut TrainReport, opts: &MfTrainConfig, positives: usize) {
    if opts.negative_sampling.is_uniform() {
        return;
    }
    let drawn = positives * opts.negatives_per_positive * report.epochs.len();
    if let Some(options) = report.options.as_object_mut() {
        options.insert(NEGATIVES_DRAWN_KEY.into(), drawn.into());
    }
}

/// Key of the negatives count in a recommender report's options.
pub const NEGATIVES_DRAWN_KEY: &str = "negatives_drawn";

/// True (and recorded as an adjustment) when validation HR@K has not improved on the best
/// epoch for `early_stopping_patience` epochs.
fn patience_ran_out(epoch: usize, report: &mut TrainReport, opts: &MfTrainConfig) -> bool {
    let since = epoch - report.best_epoch;
    if opts.early_stopping_patience == 0 || since < opts.early_stopping_patience {
        return false;
    }
    report.stopped_early = true;
    let why = format!(
        "validation HR@{} has not improved for {since} epochs; keeping epoch {}",
        opts.eval_k, report.best_epoch
    );
    report.adjust(epoch, "epochs", opts.epochs as f64, epoch as f64, why);
    true
}

/// Mixed into the seed so the shuffle/negative stream differs from the initialisation one.
const SHUFFLE_STREAM: u64 = 0x5eed;

#[cfg(test)]
mod tests {
    use super::*;

    /// Analytic MF gradients match central finite differences of the logistic loss, with
    /// and without the sampling-bias correction's logit offsets.
    #[test]
    fn mf_gradient_matches_finite_differences() {
        let corrected = [0.5f32, -1.0, 1.5, -0.3];
        for offsets in [None, Some(&corrected[..])] {
            let mut m = init(&MfConfig { dim: 3 }, 2, 4, 9);
            m.item_bias = vec![0.1, -0.2, 0.3, 0.0];
            m.global_bias = 0.05;
            let targets = [(1u32, 1.0f32), (2, 0.0), (3, 0.0)];
            let g = example_grads(&m, 1, &targets, offsets);
            let eps = 1e-3f32;
            let loss = |m: &MatrixFactorization| example_grads(m, 1, &targets, offsets).loss;
            let fd = |m: &mut MatrixFactorization,
                      get: &dyn Fn(&mut MatrixFactorization) -> &mut f32| {
                let orig = *get(m);
                *get(m) = orig + eps;
                let plus = loss(m);
                *get(m) = orig - eps;
                let minus = loss(m);
                *get(m) = orig;
                (plus - minus) / (2.0 * f64::from(eps))
            };
            for j in 0..3 {
                let num = fd(&mut m, &|m| &mut m.user_factors[3 + j]);
                assert!(
                    (num - f64::from(g.user[j])).abs() < 1e-3,
                    "user {j}: {num} vs {}",
                    g.user[j]
                );
                let num = fd(&mut m, &|m| &mut m.item_factors[2 * 3 + j]);
                assert!((num - f64::from(g.items[1].1[j])).abs() < 1e-3, "item {j}");
            }
            let num = fd(&mut m, &|m| &mut m.item_bias[1]);
            assert!((num - f64::from(g.items[0].2)).abs() < 1e-3);
            let num = fd(&mut m, &|m| &mut m.user_bias[1]);
            assert!((num - f64::from(g.user_bias)).abs() < 1e-3);
        }
    }
}

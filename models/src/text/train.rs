//! Text classifier training: mini-batch cross-entropy with a hand-written backward pass
//! and lazy (sparse) AdamW: only the embedding rows a batch touched get their moments and
//! weights updated, so a step costs O(touched rows x dim), not O(buckets x dim).

use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::tokenize::feature_ids;
use super::{TextClassifier, TextConfig, TextDataset, TextTrainConfig};
use crate::optim::{AdamStep, Moments};
use crate::report::{EpochRecord, TrainReport};
use crate::{Error, Result};

/// Flattened feature ids of many texts with offsets (one allocation for the dataset).
pub(crate) struct Bags {
    ids: Vec<u32>,
    offsets: Vec<usize>,
}

impl Bags {
    pub(crate) fn new(texts: &[String], cfg: &TextConfig) -> Self {
        let mut ids = Vec::new();
        let mut offsets = vec![0];
        for t in texts {
            ids.extend(feature_ids(t, &cfg.ngrams));
            offsets.push(ids.len());
        }
        Self { ids, offsets }
    }

    pub(crate) fn get(&self, i: usize) -> &[u32] {
        &self.ids[self.offsets[i]..self.offsets[i + 1]]
    }
}

/// AdamW moments for every parameter (embedding moments are only touched lazily).
pub(crate) struct AdamState {
    emb: Moments,
    w: Moments,
    b: Moments,
    step: i32,
}

/// Gradients of the mean cross-entropy over a batch.
pub(crate) struct Grads {
    /// `(row, d_row)` pairs sorted by row, duplicates merged.
    pub(crate) emb: Vec<(u32, Vec<f32>)>,
    pub(crate) w: Vec<f32>,
    pub(crate) b: Vec<f32>,
    pub(crate) loss: f64,
}

/// Forward + backward for the rows `batch` of `bags`.
pub(crate) fn batch_grads(
    model: &TextClassifier,
    bags: &Bags,
    labels: &[u32],
    batch: &[usize],
) -> Grads {
    let (d, c) = (model.config.dim, model.config.n_classes);
    let inv_b = 1.0 / batch.len().max(1) as f32;
    let mut gw = vec![0f32; c * d];
    let mut gb = vec![0f32; c];
    let mut h = vec![0f32; d];
    let mut logits = vec![0f32; c];
    let mut touched: Vec<(u32, usize)> = Vec::new();
    let mut dh_all = vec![0f32; batch.len() * d];
    let mut loss = 0f64;
    for (s, &i) in batch.iter().enumerate() {
        let ids = bags.get(i);
        model.logits_ids(ids, &mut h, &mut logits);
        crate::dense::softmax_rows(&mut logits, c);
        let y = labels[i] as usize;
        loss -= f64::from(logits[y].max(1e-30)).ln();
        let dh = &mut dh_all[s * d..(s + 1) * d];
        let inv_n = 1.0 / ids.len().max(1) as f32;
        for k in 0..c {
            let g = (logits[k] - f32::from(u8::from(k == y))) * inv_b;
            gb[k] += g;
            let wrow = &model.fc_weight[k * d..(k + 1) * d];
            for j in 0..d {
                gw[k * d + j] += g * h[j];
                dh[j] += g * wrow[j] * inv_n;
            }
        }
        touched.extend(ids.iter().map(|&id| (id, s)));
    }
    touched.sort_unstable();
    let mut emb: Vec<(u32, Vec<f32>)> = Vec::new();
    for (row, s) in touched {
        if emb.last().map(|e| e.0) != Some(row) {
            emb.push((row, vec![0f32; d]));
        }
        if let Some((_, g)) = emb.last_mut() {
            g.iter_mut()
                .zip(&dh_all[s * d..(s + 1) * d])
                .for_each(|(a, b)| *a += b);
        }
    }
    Grads {
        emb,
        w: gw,
        b: gb,
        loss: loss / batch.len().max(1) as f64,
    }
}

impl AdamState {
    pub(crate) fn new(model: &TextClassifier) -> Self {
        Self {
            emb: Moments::zeros(model.embedding.len()),
            w: Moments::zeros(model.fc_weight.len()),
            b: Moments::zeros(model.fc_bias.len()),
            step: 0,
        }
    }

    /// Applies `g`: dense for the head, lazily for the touched embedding rows only.
    fn apply(&mut self, model: &mut TextClassifier, g: &Grads, lr: f32, wd: f32) {
        self.step += 1;
        let step = AdamStep::new(self.step, lr, wd);
        let d = model.config.dim;
        for (row, grad) in &g.emb {
            self.emb
                .step_row(&step, &mut model.embedding, *row as usize, d, grad);
        }
        self.w.step_all(&step, &mut model.fc_weight, &g.w);
        self.b.step_all(&step, &mut model.fc_bias, &g.b);
    }
}

/// A model with seeded small-uniform embeddings and a zero head.
pub(crate) fn init(cfg: &TextConfig, seed: u64) -> TextClassifier {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7e47);
    let bound = 1.0 / cfg.dim as f32;
    let n = cfg.ngrams.buckets * cfg.dim;
    TextClassifier {
        config: cfg.clone(),
        embedding: (0..n).map(|_| rng.gen_range(-bound..bound)).collect(),
        fc_weight: vec![0.0; cfg.n_classes * cfg.dim],
        fc_bias: vec![0.0; cfg.n_classes],
        seed,
        dataset_hash: String::new(),
        parent_model_id: None,
        report: None,
    }
}

/// Mean cross-entropy and accuracy on pre-tokenised rows.
fn evaluate(model: &TextClassifier, bags: &Bags, labels: &[u32]) -> (f64, f64) {
    let c = model.config.n_classes;
    let (mut h, mut p) = (vec![0f32; model.config.dim], vec![0f32; c]);
    let (mut loss, mut ok) = (0f64, 0usize);
    for (i, &y) in labels.iter().enumerate() {
        model.logits_ids(bags.get(i), &mut h, &mut p);
        crate::dense::softmax_rows(&mut p, c);
        loss -= f64::from(p[y as usize].max(1e-30)).ln();
        ok += usize::from(crate::metrics::argmax(&p) == y as usize);
    }
    let n = labels.len().max(1) as f64;
    (loss / n, ok as f64 / n)
}

fn check(cfg: &TextConfig, train: &TextDataset, opts: &TextTrainConfig) -> Result<()> {
    cfg.validate()?;
    cfg.check_dataset(train)?;
    if opts.batch_size == 0 || opts.max_epochs == 0 {
        return Err(Error::InvalidConfig {
            field: "TextTrainConfig",
            reason: "batch_size and max_epochs must be >= 1".into(),
        });
    }
    let lr_ok = opts.learning_rate.is_finite() && opts.learning_rate > 0.0;
    let wd_ok = opts.weight_decay.is_finite() && opts.weight_decay >= 0.0;
    if !(lr_ok && wd_ok) {
        return Err(Error::InvalidConfig {
            field: "learning_rate/weight_decay",
            reason: "learning rate must be finite and > 0, weight decay finite and >= 0".into(),
        });
    }
    if !(0.0..1.0).contains(&opts.valid_fraction) {
        return Err(Error::InvalidConfig {
            field: "valid_fraction",
            reason: "must be in [0, 1)".into(),
        });
    }
    Ok(())
}

/// Tokenised rows with their labels.
type LabelledBags = (Bags, Vec<u32>);

/// Shuffled training indices and the validation bags: the given set, or a seeded
/// `valid_fraction` of `train` held out.
fn split(
    cfg: &TextConfig,
    train: &TextDataset,
    valid: Option<&TextDataset>,
    opts: &TextTrainConfig,
    rng: &mut ChaCha8Rng,
) -> Result<(Vec<usize>, Option<LabelledBags>)> {
    let mut order: Vec<usize> = (0..train.texts.len()).collect();
    order.shuffle(rng);
    if let Some(v) = valid {
        cfg.check_dataset(v)?;
        return Ok((order, Some((Bags::new(&v.texts, cfg), v.labels.clone()))));
    }
    if opts.valid_fraction <= 0.0 || order.len() < 10 {
        return Ok((order, None));
    }
    let n_valid = ((order.len() as f32) * opts.valid_fraction).round() as usize;
    let rest = order.split_off(n_valid);
    let texts: Vec<String> = order.iter().map(|&i| train.texts[i].clone()).collect();
    let labels = order.iter().map(|&i| train.labels[i]).collect();
    Ok((rest, Some((Bags::new(&texts, cfg), labels))))
}

/// One pass over `idx`; returns the summed (row-weighted) loss.
pub(crate) fn train_epoch(
    model: &mut TextClassifier,
    adam: &mut AdamState,
    bags: &Bags,
    labels: &[u32],
    idx: &[usize],
    opts: &TextTrainConfig,
) -> f64 {
    let mut loss_sum = 0f64;
    for batch in idx.chunks(opts.batch_size) {
        let g = batch_grads(model, bags, labels, batch);
        loss_sum += g.loss * batch.len() as f64;
        adam.apply(model, &g, opts.learning_rate, opts.weight_decay);
    }
    loss_sum
}

/// Best-so-far bookkeeping for early stopping on validation loss.
struct EarlyStop {
    best: Option<(f64, TextClassifier)>,
    since_best: usize,
}

impl EarlyStop {
    /// Keeps `model` if `valid_loss` is the best so far; returns true when patience ran out
    /// (and records that in the report).
    fn observe(
        &mut self,
        epoch: usize,
        valid_loss: f64,
        model: &TextClassifier,
        opts: &TextTrainConfig,
        report: &mut TrainReport,
    ) -> bool {
        if self.best.as_ref().is_none_or(|(b, _)| valid_loss < *b) {
            self.best = Some((valid_loss, model.clone()));
            report.best_epoch = epoch;
            self.since_best = 0;
            return false;
        }
        self.since_best += 1;
        if opts.early_stopping_patience == 0 || self.since_best < opts.early_stopping_patience {
            return false;
        }
        report.stopped_early = true;
        let why = format!(
            "validation loss has not improved for {} epochs; keeping epoch {}",
            self.since_best, report.best_epoch
        );
        report.adjust(epoch, "epochs", opts.max_epochs as f64, epoch as f64, why);
        true
    }
}

/// Trains `model` (fresh or warm-started from `parent`) with early stopping on validation
/// loss.
pub(super) fn run(
    mut model: TextClassifier,
    parent: Option<String>,
    train: &TextDataset,
    valid: Option<&TextDataset>,
    opts: &TextTrainConfig,
) -> Result<(TextClassifier, TrainReport)> {
    let cfg = model.config.clone();
    check(&cfg, train, opts)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ SHUFFLE_STREAM);
    let (mut idx, valid_set) = split(&cfg, train, valid, opts, &mut rng)?;
    let bags = Bags::new(&train.texts, &cfg);
    model.dataset_hash = train.content_hash();
    model.parent_model_id.clone_from(&parent);
    let mode = if parent.is_some() {
        "fine_tune:full"
    } else {
        "fit"
    };
    let mut report = TrainReport::new("text", mode, opts.seed, serde_json::to_value(opts)?);
    report.parent_model_id = parent;
    report.n_train = idx.len();
    report.n_valid = valid_set.as_ref().map_or(0, |v| v.1.len());
    let mut adam = AdamState::new(&model);
    // Timed from here: tokenising and allocating the tables are set-up, not training.
    let start = Instant::now();
    let mut stop = EarlyStop {
        best: None,
        since_best: 0,
    };
    for epoch in 1..=opts.max_epochs {
        idx.shuffle(&mut rng);
        let loss_sum = train_epoch(&mut model, &mut adam, &bags, &train.labels, &idx, opts);
        let train_loss = loss_sum / idx.len().max(1) as f64;
        if !train_loss.is_finite() {
            return Err(Error::Diverged {
                epoch,
                loss: train_loss,
            });
        }
        let eval = valid_set.as_ref().map(|(vb, vy)| evaluate(&model, vb, vy));
        report.epochs.push(EpochRecord {
            epoch,
            train_loss,
            valid_loss: eval.map(|e| e.0),
            valid_accuracy: eval.map(|e| e.1),
            learning_rate: f64::from(opts.learning_rate),
            batch_size: opts.batch_size,
            batch_loss_cv: 0.0,
        });
        if eval.is_some_and(|(vl, _)| stop.observe(epoch, vl, &model, opts, &mut report)) {
            break;
        }
    }
    let mut model = stop.best.map_or(model, |(_, m)| m);
    if report.best_epoch == 0 {
        report.best_epoch = report.epochs.len();
    }
    let secs = start.elapsed().as_secs_f64();
    report.wall_time_ms = secs * 1e3;
    report.train_samples_per_s = (idx.len() * report.epochs.len()) as f64 / secs.max(1e-9);
    if let Some((vb, vy)) = &valid_set {
        report.valid_metrics = Some(valid_metrics(&model, vb, vy)?);
    }
    model.report = Some(report.clone());
    Ok((model, report))
}

/// Full classification metrics of the kept model on the validation rows.
fn valid_metrics(
    model: &TextClassifier,
    bags: &Bags,
    labels: &[u32],
) -> Result<crate::metrics::ClassificationMetrics> {
    let c = model.config.n_classes;
    let mut proba = vec![0f32; labels.len() * c];
    let mut h = vec![0f32; model.config.dim];
    for (i, p) in proba.chunks_exact_mut(c).enumerate() {
        model.logits_ids(bags.get(i), &mut h, p);
    }
    crate::dense::softmax_rows(&mut proba, c);
    crate::metrics::classification(&proba, labels, c)
}

/// Mixed into the seed so the shuffle stream differs from the initialisation stream.
const SHUFFLE_STREAM: u64 = 0x5eed;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::NgramConfig;

    /// Mean batch cross-entropy computed independently in f64 (the finite-difference oracle).
    fn loss_f64(m: &TextClassifier, bags: &Bags, labels: &[u32], batch: &[usize]) -> f64 {
        let (d, c) = (m.config.dim, m.config.n_classes);
        let mut total = 0f64;
        for &i in batch {
            let ids = bags.get(i);
            let mut h = vec![0f64; d];
            for &id in ids {
                let row = &m.embedding[id as usize * d..(id as usize + 1) * d];
                for (hj, e) in h.iter_mut().zip(row) {
                    *hj += f64::from(*e) / ids.len() as f64;
                }
            }
            let z: Vec<f64> = (0..c)
                .map(|k| {
                    f64::from(m.fc_bias[k])
                        + (0..d)
                            .map(|j| f64::from(m.fc_weight[k * d + j]) * h[j])
                            .sum::<f64>()
                })
                .collect();
            let mx = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = mx + z.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
            total += lse - z[labels[i] as usize];
        }
        total / batch.len() as f64
    }

    /// The hand-written sparse backward pass matches central finite differences.
    #[test]
    fn text_gradient_matches_finite_differences() {
        let cfg = TextConfig {
            n_classes: 3,
            dim: 4,
            ngrams: NgramConfig {
                buckets: 32,
                ..Default::default()
            },
        };
        let mut m = init(&cfg, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        m.fc_weight
            .iter_mut()
            .for_each(|w| *w = rng.gen_range(-0.5..0.5));
        let texts: Vec<String> = ["hello world", "你好世界 hi", "hello hello 世界"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let labels = vec![0, 1, 2];
        let bags = Bags::new(&texts, &cfg);
        let batch = [0, 1, 2];
        let g = batch_grads(&m, &bags, &labels, &batch);
        assert!((g.loss - loss_f64(&m, &bags, &labels, &batch)).abs() < 1e-5);
        let eps = 1e-3f32;
        let check = |analytic: f32, plus: f64, minus: f64| {
            let fd = (plus - minus) / (2.0 * f64::from(eps));
            assert!(
                (fd - f64::from(analytic)).abs() < 1e-3 + 1e-2 * fd.abs(),
                "fd {fd} vs {analytic}"
            );
        };
        for (row, grad) in g.emb.iter().take(4) {
            for (j, &gj) in grad.iter().enumerate() {
                let k = *row as usize * cfg.dim + j;
                let orig = m.embedding[k];
                m.embedding[k] = orig + eps;
                let plus = loss_f64(&m, &bags, &labels, &batch);
                m.embedding[k] = orig - eps;
                let minus = loss_f64(&m, &bags, &labels, &batch);
                m.embedding[k] = orig;
                check(gj, plus, minus);
            }
        }
        for k in 0..m.fc_weight.len() {
            let orig = m.fc_weight[k];
            m.fc_weight[k] = orig + eps;
            let plus = loss_f64(&m, &bags, &labels, &batch);
            m.fc_weight[k] = orig - eps;
            let minus = loss_f64(&m, &bags, &labels, &batch);
            m.fc_weight[k] = orig;
            check(g.w[k], plus, minus);
        }
    }
}

//! The tabular training loop: seeded shuffles, mini-batch AdamW, weighted cross-entropy
//! (optionally blended with a distillation term and a FedProx term), early stopping,
//! reduce-on-plateau and batch growth, each adjustment written into the report.

use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::options::{check_options, class_weights};
use super::schedule::LoopState;
use super::{check_dataset_matches, FineTuneMode, MlpConfig, Provenance};
use super::{TabularModel, TrainConfig, TrainNet};
use crate::data::{Standardizer, TabularDataset};
use crate::dense::DenseLayer;
use crate::report::{EpochRecord, TrainReport};
use crate::{Error, Result};

/// Extra loss terms beyond weighted cross-entropy.
#[derive(Debug, Default)]
pub(crate) struct Objective<'a> {
    /// Teacher, temperature, alpha: `alpha*T^2*KL(teacher_T || student_T) + (1-alpha)*CE`.
    pub(crate) teacher: Option<(&'a TabularModel, f64, f64)>,
    /// Report mode name override (`distill`, `fedavg_client`, ...).
    pub(crate) mode: Option<&'static str>,
    /// Per-layer 0/1 weight masks re-applied after every step (pruned fine-tuning).
    pub(crate) masks: Option<Vec<Vec<f32>>>,
}

/// Validates options, splits off a validation set if asked, trains, and wraps the result.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    cfg: &MlpConfig,
    standardizer: Standardizer,
    net: TrainNet,
    parent_model_id: Option<String>,
    train: &TabularDataset,
    valid: Option<&TabularDataset>,
    opts: &TrainConfig,
    obj: &Objective<'_>,
) -> Result<(TabularModel, TrainReport)> {
    check_options(opts)?;
    let split;
    let (train_part, valid) = match valid {
        Some(v) => {
            check_dataset_matches(cfg, v)?;
            (train, Some(v))
        }
        None if opts.valid_fraction > 0.0 && train.len() >= 10 => {
            split = train.split(opts.valid_fraction, opts.seed ^ 0x5911);
            (&split.0, Some(&split.1))
        }
        None => (train, None),
    };
    let mode = obj
        .mode
        .unwrap_or(match (&parent_model_id, &opts.fine_tune) {
            (None, _) => "fit",
            (Some(_), FineTuneMode::Full) => "fine_tune:full",
            (Some(_), FineTuneMode::HeadOnly) => "fine_tune:head_only",
            (Some(_), FineTuneMode::Lora { .. }) => "fine_tune:lora",
        });
    let mut report = TrainReport::new("tabular", mode, opts.seed, serde_json::to_value(opts)?);
    report.n_train = train_part.len();
    report.n_valid = valid.map_or(0, TabularDataset::len);
    report.parent_model_id.clone_from(&parent_model_id);
    let layers = train_loop(
        &net,
        &standardizer,
        train_part,
        valid,
        opts,
        obj,
        &mut report,
    )?;
    let provenance = Provenance {
        seed: opts.seed,
        dataset_hash: train.content_hash(),
        parent_model_id,
        report: None,
    };
    let mut model = TabularModel::from_parts(cfg.clone(), standardizer, layers, provenance)?;
    if let Some(v) = valid {
        let p = model.predict_proba(&v.features)?;
        report.valid_metrics = Some(crate::metrics::classification(&p, &v.labels, v.n_classes)?);
    }
    model.provenance.report = Some(report.clone());
    Ok((model, report))
}

/// Soft teacher targets at temperature `t`, clamped away from 0 so `p log p` stays finite.
fn teacher_targets(teacher: &TabularModel, raw: &[f32], t: f64) -> Result<(Vec<f32>, Vec<f32>)> {
    let mut p = teacher.predict_logits(raw)?;
    for v in p.iter_mut() {
        *v /= t as f32;
    }
    crate::dense::softmax_rows(&mut p, teacher.config.n_classes);
    let p: Vec<f32> = p.iter().map(|v| v.max(1e-12)).collect();
    let logp = p.iter().map(|v| v.ln()).collect();
    Ok((p, logp))
}

/// Everything one batch needs besides the network.
struct BatchCtx<'a> {
    x: &'a [f32],
    labels: &'a [u32],
    class_w: &'a [f32],
    soft: Option<(&'a [f32], &'a [f32], f64, f64)>,
    anchor: Option<(&'a [Tensor], f64)>,
    n_features: usize,
    n_classes: usize,
}

/// Loss tensor for the rows `idx`.
fn batch_loss(net: &TrainNet, ctx: &BatchCtx<'_>, idx: &[usize]) -> Result<Tensor> {
    let (nf, nc, b) = (ctx.n_features, ctx.n_classes, idx.len());
    let mut xb = Vec::with_capacity(b * nf);
    let mut target = vec![0f32; b * nc];
    let mut wsum = 0f32;
    for (r, &i) in idx.iter().enumerate() {
        xb.extend_from_slice(&ctx.x[i * nf..(i + 1) * nf]);
        let y = ctx.labels[i] as usize;
        target[r * nc + y] = ctx.class_w[y];
        wsum += ctx.class_w[y];
    }
    let wsum = if wsum > 0.0 { wsum } else { 1.0 };
    target.iter_mut().for_each(|v| *v /= wsum);
    let dev = Device::Cpu;
    let logits = net.forward(&Tensor::from_vec(xb, (b, nf), &dev)?)?;
    let logp = candle_nn::ops::log_softmax(&logits, 1)?;
    let ce = (logp * Tensor::from_vec(target, (b, nc), &dev)?)?
        .sum_all()?
        .neg()?;
    let mut loss = match ctx.soft {
        None => ce,
        Some((p, logp_t, t, alpha)) => {
            let gather = |src: &[f32]| -> Vec<f32> {
                idx.iter()
                    .flat_map(|&i| src[i * nc..(i + 1) * nc].iter().copied())
                    .collect()
            };
            let p = Tensor::from_vec(gather(p), (b, nc), &dev)?;
            let logp_teacher = Tensor::from_vec(gather(logp_t), (b, nc), &dev)?;
            let logp_student = candle_nn::ops::log_softmax(&(logits / t)?, 1)?;
            let kl = ((p * (logp_teacher - logp_student)?)?.sum_all()? / b as f64)?;
            ((kl * (alpha * t * t))? + (ce * (1.0 - alpha))?)?
        }
    };
    if let Some((anchor, mu)) = ctx.anchor {
        for (w, w0) in net.effective_weights()?.iter().zip(anchor) {
            loss = (loss + ((w - w0)?.sqr()?.sum_all()? * (mu / 2.0))?)?;
        }
    }
    Ok(loss)
}

/// Plain cross-entropy and accuracy of `net` on standardised rows.
fn evaluate(net: &TrainNet, x: &[f32], labels: &[u32], nf: usize, nc: usize) -> Result<(f64, f64)> {
    let mut loss = 0f64;
    let mut correct = 0usize;
    for (chunk, lab) in x.chunks(8192 * nf).zip(labels.chunks(8192)) {
        let rows = lab.len();
        let logits = net.forward(&Tensor::from_slice(chunk, (rows, nf), &Device::Cpu)?)?;
        let logp = candle_nn::ops::log_softmax(&logits, 1)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        for (r, &y) in lab.iter().enumerate() {
            let row = &logp[r * nc..(r + 1) * nc];
            loss -= f64::from(row[y as usize]);
            if crate::metrics::argmax(row) == y as usize {
                correct += 1;
            }
        }
    }
    let n = labels.len().max(1) as f64;
    Ok((loss / n, correct as f64 / n))
}

/// FedProx anchor: a frozen copy of the starting weights. `copy` because `detach` alone
/// would share storage with the Vars, which AdamW updates in place.
fn prox_anchor(net: &TrainNet, mu: f64) -> Result<Option<Vec<Tensor>>> {
    if mu <= 0.0 {
        return Ok(None);
    }
    let weights = net.effective_weights()?;
    let copies = weights.iter().map(|t| Ok(t.copy()?.detach()));
    Ok(Some(copies.collect::<Result<_>>()?))
}

/// One pass over `idx` in batches; returns `(batch loss, rows)` per batch.
fn run_epoch(
    net: &TrainNet,
    ctx: &BatchCtx<'_>,
    opt: &mut AdamW,
    idx: &[usize],
    batch_size: usize,
    masks: Option<&[Tensor]>,
) -> Result<Vec<(f64, usize)>> {
    let mut losses = Vec::with_capacity(idx.len() / batch_size + 1);
    for batch in idx.chunks(batch_size) {
        let loss = batch_loss(net, ctx, batch)?;
        losses.push((f64::from(loss.to_scalar::<f32>()?), batch.len()));
        opt.backward_step(&loss)?;
        if let Some(m) = masks {
            net.apply_masks(m)?;
        }
    }
    Ok(losses)
}

/// Everything computed once before the first epoch that the batches borrow from.
struct Prepared {
    x: Vec<f32>,
    class_w: Vec<f32>,
    soft: Option<(Vec<f32>, Vec<f32>)>,
    anchor: Option<Vec<Tensor>>,
}

impl Prepared {
    /// Standardised rows, class weights, teacher targets and the FedProx anchor.
    fn new(
        net: &TrainNet,
        st: &Standardizer,
        train: &TabularDataset,
        opts: &TrainConfig,
        obj: &Objective<'_>,
    ) -> Result<Self> {
        let soft = match obj.teacher {
            Some((teacher, t, _)) => Some(teacher_targets(teacher, &train.features, t)?),
            None => None,
        };
        Ok(Self {
            x: st.apply(&train.features),
            class_w: class_weights(opts, train)?,
            soft,
            anchor: prox_anchor(net, opts.prox_mu)?,
        })
    }

    fn ctx<'a>(
        &'a self,
        train: &'a TabularDataset,
        opts: &TrainConfig,
        obj: &Objective<'_>,
    ) -> BatchCtx<'a> {
        BatchCtx {
            x: &self.x,
            labels: &train.labels,
            class_w: &self.class_w,
            soft: self
                .soft
                .as_ref()
                .zip(obj.teacher)
                .map(|((p, lp), (_, t, a))| (p.as_slice(), lp.as_slice(), t, a)),
            anchor: self.anchor.as_deref().map(|a| (a, opts.prox_mu)),
            n_features: train.n_features,
            n_classes: train.n_classes,
        }
    }
}

/// Runs epochs until `max_epochs` or early stopping; returns the best weights seen.
pub(crate) fn train_loop(
    net: &TrainNet,
    st: &Standardizer,
    train: &TabularDataset,
    valid: Option<&TabularDataset>,
    opts: &TrainConfig,
    obj: &Objective<'_>,
    report: &mut TrainReport,
) -> Result<Vec<DenseLayer>> {
    let start = Instant::now();
    let prepared = Prepared::new(net, st, train, opts, obj)?;
    let ctx = prepared.ctx(train, opts, obj);
    let params = ParamsAdamW {
        lr: opts.learning_rate,
        weight_decay: opts.weight_decay,
        ..ParamsAdamW::default()
    };
    let mut opt = AdamW::new(net.trainable(), params)?;
    let valid_x = valid.map(|v| (st.apply(&v.features), v.labels.as_slice()));
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ SHUFFLE_STREAM);
    let mut state = LoopState::new(opts, net.export()?);
    let masks = match &obj.masks {
        Some(m) => Some(net.mask_tensors(m)?),
        None => None,
    };
    let mut idx: Vec<usize> = (0..train.len()).collect();
    for epoch in 1..=opts.max_epochs {
        idx.shuffle(&mut rng);
        let losses = run_epoch(
            net,
            &ctx,
            &mut opt,
            &idx,
            state.batch_size,
            masks.as_deref(),
        )?;
        let (mean, cv) = loss_stats(&losses);
        if !mean.is_finite() {
            return Err(Error::Diverged { epoch, loss: mean });
        }
        let (vl, va) = match &valid_x {
            Some((x, y)) => evaluate(net, x, y, ctx.n_features, ctx.n_classes)
                .map(|(l, a)| (Some(l), Some(a)))?,
            None => (None, None),
        };
        report.epochs.push(EpochRecord {
            epoch,
            train_loss: mean,
            valid_loss: vl,
            valid_accuracy: va,
            learning_rate: opt.learning_rate(),
            batch_size: state.batch_size,
            batch_loss_cv: cv,
        });
        let monitored = vl.unwrap_or(mean);
        if state.end_epoch(epoch, monitored, cv, net, &mut opt, report, valid.is_some())? {
            break;
        }
    }
    report.best_epoch = state.best_epoch;
    let secs = start.elapsed().as_secs_f64();
    report.wall_time_ms = secs * 1e3;
    report.train_samples_per_s = (idx.len() * report.epochs.len()) as f64 / secs.max(1e-9);
    Ok(state.best_layers)
}

/// Mixed into the seed so the shuffle stream differs from the init stream.
const SHUFFLE_STREAM: u64 = 0x5eed_5a0f;

/// Row-weighted mean and coefficient of variation of the batch losses.
fn loss_stats(losses: &[(f64, usize)]) -> (f64, f64) {
    let n: usize = losses.iter().map(|l| l.1).sum();
    let mean = losses.iter().map(|(l, r)| l * *r as f64).sum::<f64>() / n.max(1) as f64;
    let var =
        losses.iter().map(|(l, _)| (l - mean).powi(2)).sum::<f64>() / losses.len().max(1) as f64;
    let cv = if mean.abs() > 1e-12 {
        var.sqrt() / mean.abs()
    } else {
        0.0
    };
    (mean, cv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::blobs;

    fn flat(t: &Tensor) -> Result<Vec<f32>> {
        Ok(t.flatten_all()?.to_vec1::<f32>()?)
    }

    /// candle's gradient of the full tabular loss (weighted CE + distillation KL + FedProx)
    /// matches central finite differences of the same loss for every parameter.
    #[test]
    fn tabular_gradient_matches_finite_differences() -> Result<()> {
        let data = blobs(1, 8, 3, 3, 1.0, 2);
        let cfg = MlpConfig {
            n_features: 3,
            n_classes: 3,
            hidden: vec![5],
        };
        let net = TrainNet::new(&super::super::init_layers(&cfg, 4), &FineTuneMode::Full)?;
        let soft: Vec<f32> = (0..8 * 3).map(|i| [0.2, 0.5, 0.3][i % 3]).collect();
        let log_soft: Vec<f32> = soft.iter().map(|p| p.ln()).collect();
        let anchor = net
            .effective_weights()?
            .iter()
            .map(|t| Ok((t * 0.9)?.detach()))
            .collect::<Result<Vec<Tensor>>>()?;
        let ctx = BatchCtx {
            x: &data.features,
            labels: &data.labels,
            class_w: &[1.0, 2.0, 0.5],
            soft: Some((&soft, &log_soft, 2.0, 0.6)),
            anchor: Some((&anchor, 0.3)),
            n_features: 3,
            n_classes: 3,
        };
        let idx: Vec<usize> = (0..8).collect();
        let grads = batch_loss(&net, &ctx, &idx)?.backward()?;
        let eps = 1e-3f32;
        let mut checked = 0;
        for var in net.trainable() {
            let g = flat(grads.get(&var).ok_or(Error::MissingTensor {
                name: "grad".into(),
            })?)?;
            let base = flat(var.as_tensor())?;
            let shape = var.shape().clone();
            let loss_at = |k: usize, delta: f32| -> Result<f64> {
                let mut v = base.clone();
                v[k] += delta;
                var.set(&Tensor::from_vec(v, shape.clone(), &Device::Cpu)?)?;
                Ok(f64::from(batch_loss(&net, &ctx, &idx)?.to_scalar::<f32>()?))
            };
            for (k, &gk) in g.iter().enumerate() {
                let fd = (loss_at(k, eps)? - loss_at(k, -eps)?) / (2.0 * f64::from(eps));
                loss_at(k, 0.0)?;
                let a = f64::from(gk);
                assert!(
                    (fd - a).abs() < 2e-3 + 2e-2 * a.abs(),
                    "param {k}: fd {fd} vs autograd {a}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, cfg.parameter_count());
        Ok(())
    }
}

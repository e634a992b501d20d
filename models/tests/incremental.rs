//! Incremental learning: warm start, replay against forgetting, head-only, LoRA, and the
//! automatic adjustments recorded in the report.

use ledgerloop_models::fixtures::{blob_centres, blobs_from_centres};
use ledgerloop_models::{metrics, BatchGrowth, ClassWeighting, Error, FineTuneMode, MlpConfig};
use ledgerloop_models::{Model, ReduceLrOnPlateau};
use ledgerloop_models::{ReplayBuffer, TabularDataset, TabularModel, TrainConfig};

fn old_dist(n: usize, seed: u64) -> TabularDataset {
    blobs_from_centres(&blob_centres(12, 3, 0.7, 41), 3, n, 0.0, seed)
}

/// The shifted distribution: new class centres moved to a new region (as after new firmware and line changes).
fn new_dist(n: usize, seed: u64) -> TabularDataset {
    blobs_from_centres(&blob_centres(12, 3, 0.7, 42), 3, n, 2.0, seed)
}

fn acc(m: &TabularModel, d: &TabularDataset) -> Result<f64, Error> {
    Ok(metrics::accuracy(
        &m.predict_proba(&d.features)?,
        &d.labels,
        3,
    ))
}

/// Warm start + replay keeps old accuracy within 2 points and reaches the new level (within
/// 2 points of a model trained on new data only); the report records the parent and the
/// replay mix; fine-tuning on new data alone forgets the old distribution (> 5 points).
#[test]
fn replay_prevents_forgetting() -> Result<(), Error> {
    let (old_train, old_test) = (old_dist(4000, 1), old_dist(2000, 2));
    let (new_train, new_test) = (new_dist(4000, 3), new_dist(2000, 4));
    let opts = TrainConfig {
        seed: 1,
        max_epochs: 12,
        ..Default::default()
    };
    let cfg = MlpConfig::teacher(12, 3);
    let (parent, _) = TabularModel::fit(&cfg, &old_train, None, &opts)?;
    let (fresh_new, _) = TabularModel::fit(&cfg, &new_train, None, &opts)?;
    let (no_replay, _) = parent.fine_tune(&new_train, None, &opts)?;
    let mut buffer = ReplayBuffer::new(3000, 9);
    buffer.add(&old_train)?;
    let (with_replay, report) =
        parent.fine_tune_with_replay(&new_train, &mut buffer, 0.75, None, &opts)?;
    assert_eq!(report.mode, "fine_tune:full");
    assert_eq!(report.parent_model_id, Some(parent.model_id()?));
    let replay = report.replay.as_ref().ok_or(Error::EmptyDataset {
        what: "replay record",
    })?;
    assert_eq!(
        (replay.new_rows, replay.replayed_rows, replay.buffer_rows),
        (4000, 3000, 3000)
    );
    assert_eq!(
        with_replay.provenance().parent_model_id,
        Some(parent.model_id()?)
    );
    let (p_old, nr_old, r_old) = (
        acc(&parent, &old_test)?,
        acc(&no_replay, &old_test)?,
        acc(&with_replay, &old_test)?,
    );
    let (f_new, r_new) = (acc(&fresh_new, &new_test)?, acc(&with_replay, &new_test)?);
    eprintln!(
        "old: parent {p_old:.3} no-replay {nr_old:.3} replay {r_old:.3}; \
         new: fresh {f_new:.3} replay {r_new:.3}"
    );
    assert!(
        r_old >= p_old - 0.02,
        "replay old {r_old} vs parent {p_old}"
    );
    assert!(r_new >= f_new - 0.02, "replay new {r_new} vs fresh {f_new}");
    assert!(
        nr_old < p_old - 0.05,
        "expected forgetting without replay: {nr_old} vs {p_old}"
    );
    Ok(())
}

/// Numerical rank of a row-major `rows x cols` matrix (Gram-Schmidt with a relative
/// tolerance), to check that a merged LoRA update is low-rank.
fn rank(m: &[f32], cols: usize, tol: f64) -> usize {
    let scale = m
        .iter()
        .fold(0f64, |a, v| a.max(f64::from(v.abs())))
        .max(1e-30);
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for row in m.chunks_exact(cols) {
        let mut v: Vec<f64> = row.iter().map(|x| f64::from(*x) / scale).collect();
        for b in &basis {
            let d: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= d * y);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > tol {
            basis.push(v.iter().map(|x| x / norm).collect());
        }
    }
    basis.len()
}

/// Head-only leaves the body untouched; LoRA (rank 4) merges into same-shaped weights whose
/// change is of rank <= 4 and improves on the new data; both record their mode and parent.
#[test]
fn head_only_and_lora_fine_tunes() -> Result<(), Error> {
    let old = old_dist(2000, 5);
    let new = new_dist(1000, 6);
    let opts = TrainConfig {
        seed: 2,
        max_epochs: 4,
        ..Default::default()
    };
    let (parent, _) = TabularModel::fit(&MlpConfig::student(12, 3), &old, None, &opts)?;
    let head = TrainConfig {
        fine_tune: FineTuneMode::HeadOnly,
        ..opts.clone()
    };
    let (h, hr) = parent.fine_tune(&new, None, &head)?;
    assert_eq!(hr.mode, "fine_tune:head_only");
    assert_eq!(h.layers()[..2], parent.layers()[..2]);
    assert_ne!(h.layers()[2], parent.layers()[2]);
    let lora = TrainConfig {
        fine_tune: FineTuneMode::Lora {
            rank: 4,
            alpha: 8.0,
        },
        ..opts
    };
    let (l, lr) = parent.fine_tune(&new, None, &lora)?;
    assert_eq!(lr.mode, "fine_tune:lora");
    for (merged, base) in l.layers().iter().zip(parent.layers()) {
        assert_eq!(merged.bias, base.bias);
        let delta: Vec<f32> = merged
            .weight
            .iter()
            .zip(&base.weight)
            .map(|(a, b)| a - b)
            .collect();
        let r = rank(&delta, base.in_features, 1e-3);
        assert!((1..=4).contains(&r), "LoRA delta rank {r}");
    }
    let probe = new_dist(1000, 7);
    assert!(acc(&l, &probe)? > acc(&parent, &probe)?);
    assert_eq!(
        l.to_artifact()?.manifest.parent_model_id,
        Some(parent.model_id()?)
    );
    Ok(())
}

/// Reduce-on-plateau and batch growth fire and are recorded as (epoch, what, from, to, because).
#[test]
fn adjustments_are_recorded() -> Result<(), Error> {
    let data = old_dist(1500, 8);
    let opts = TrainConfig {
        seed: 3,
        max_epochs: 12,
        early_stopping_patience: 0,
        learning_rate: 0.05,
        batch_size: 32,
        reduce_lr: Some(ReduceLrOnPlateau {
            factor: 0.5,
            patience_epochs: 1,
            min_learning_rate: 1e-4,
        }),
        batch_growth: Some(BatchGrowth {
            noise_cv: 0.05,
            factor: 2,
            max_batch_size: 256,
        }),
        ..Default::default()
    };
    let (_, report) = TabularModel::fit(&MlpConfig::student(12, 3), &data, None, &opts)?;
    let find = |what: &str| report.adjustments.iter().find(|a| a.what == what);
    let lr = find("learning_rate").ok_or(Error::EmptyDataset {
        what: "lr adjustment",
    })?;
    assert!(lr.to < lr.from && lr.because.contains("not improved"));
    let lr_epoch = &report.epochs[lr.epoch]; // the epoch after the change runs at the new rate
    assert_eq!(lr_epoch.learning_rate, lr.to);
    let bs = find("batch_size").ok_or(Error::EmptyDataset {
        what: "batch adjustment",
    })?;
    assert_eq!(bs.to, bs.from * 2.0);
    assert!(bs.because.contains("CV"));
    assert!(report.epochs.last().is_some_and(|e| e.batch_size > 32));
    Ok(())
}

/// With a validation split and small patience, training stops early, says so in the report,
/// and returns the best epoch's weights (their validation loss is the best recorded).
#[test]
fn early_stopping_keeps_best_epoch() -> Result<(), Error> {
    let data = old_dist(600, 9);
    let valid = old_dist(400, 10);
    let opts = TrainConfig {
        seed: 4,
        max_epochs: 60,
        learning_rate: 0.02,
        early_stopping_patience: 2,
        reduce_lr: None,
        ..Default::default()
    };
    let (m, report) = TabularModel::fit(&MlpConfig::teacher(12, 3), &data, Some(&valid), &opts)?;
    assert!(report.stopped_early && report.epochs.len() < 60);
    let stop = report.adjustments.iter().find(|a| a.what == "epochs");
    assert!(stop.is_some_and(|a| a.from == 60.0 && a.to == report.epochs.len() as f64));
    let best = &report.epochs[report.best_epoch - 1];
    let min = report
        .epochs
        .iter()
        .filter_map(|e| e.valid_loss)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(best.valid_loss, Some(min));
    let kept = report.valid_metrics.as_ref().map(|v| v.log_loss);
    assert!(
        kept.is_some_and(|l| (l - min).abs() < 1e-3),
        "{kept:?} vs {min}"
    );
    assert_eq!(
        m.provenance().report.as_ref().map(|r| r.best_epoch),
        Some(report.best_epoch)
    );
    Ok(())
}

/// With 3% positives, balanced class weighting lifts positive-class recall well above the
/// unweighted model's, and the weighting is recorded in the report's options.
#[test]
fn class_weighting_lifts_rare_positive_recall() -> Result<(), Error> {
    let centres = blob_centres(12, 2, 0.35, 43);
    let rare = |n: usize, seed: u64| {
        let d = blobs_from_centres(&centres, 2, n, 0.0, seed);
        let mut keep: Vec<usize> = (0..d.len()).filter(|&i| d.labels[i] == 0).collect();
        keep.extend((0..d.len()).filter(|&i| d.labels[i] == 1).take(n * 3 / 100));
        d.subset(&keep)
    };
    let (train, test) = (rare(8000, 11), rare(8000, 12));
    let fit = |w: ClassWeighting| -> Result<f64, Error> {
        let opts = TrainConfig {
            seed: 5,
            max_epochs: 10,
            class_weighting: w,
            ..Default::default()
        };
        let (m, report) = TabularModel::fit(&MlpConfig::student(12, 2), &train, None, &opts)?;
        assert!(report.options["class_weighting"].is_string());
        let cm = metrics::classification(&m.predict_proba(&test.features)?, &test.labels, 2)?;
        Ok(cm.per_class[1].recall)
    };
    let (plain, balanced) = (fit(ClassWeighting::None)?, fit(ClassWeighting::Balanced)?);
    eprintln!("positive recall: unweighted {plain:.3} balanced {balanced:.3}");
    assert!(
        balanced > plain + 0.15,
        "balanced {balanced} vs unweighted {plain}"
    );
    Ok(())
}

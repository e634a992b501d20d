//! The workers: the expensive work decisions ask for, done with `ledgerloop-models`.
//!
//! Each worker is a plain function of its request and the host's data, seeded from the
//! request, so re-running it (`audit --deep`) reproduces the artifact's hash. The sim
//! host calls them synchronously; a failure (bad parent, divergence to NaN) is returned
//! as an error and recorded by the host as a `TrainingFailed` fact.

use std::collections::BTreeMap;
use std::sync::Arc;

use ledgerloop_agents::evaluator::{EvaluationReport, PairedAccuracy};
use ledgerloop_agents::trainer::{Strategy, TrainingJob};
use ledgerloop_events::catalogue::{
    Augmentation, Cost, DistillationStarted, ModelTrained, StudentDistilled,
};
use ledgerloop_models::compress::{distill, DistillConfig};
use ledgerloop_models::quant::QuantizedMlp;
use ledgerloop_models::text::{TextClassifier, TextConfig, TextTrainConfig};
use ledgerloop_models::{
    FineTuneMode, MlpConfig, Model as _, TabularModel, TrainConfig, TrainReport,
};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::HostSettings;
use crate::costs::CostModel;
use crate::data::{FeatureTransform, Net, RowStore, ServedModel};
use crate::error::{model, Error, Result};

pub mod augment;
pub mod augment_text;
pub mod rank;

/// What a training job reads.
#[derive(Debug, Clone, Copy)]
pub struct TrainingData<'a> {
    /// Warm-up rows the first model trained on (the head of the replay pool).
    pub warmup: &'a RowStore,
    /// Oracle labels in arrival order.
    pub labels: &'a RowStore,
    /// Accepted pseudo-labels in acceptance order.
    pub pseudo: &'a RowStore,
    /// Classes.
    pub n_classes: usize,
    /// Raw -> model inputs.
    pub transform: &'a Arc<FeatureTransform>,
}

/// The rows a job trains on: its fresh labels, its pseudo-labels and a seeded replay
/// sample of the pool (warm-up rows, then the labels earlier jobs used).
pub fn compose(job: &TrainingJob, data: &TrainingData<'_>) -> Result<RowStore> {
    let c = &job.composition;
    let fresh_to = c.fresh_labels.to as usize;
    if fresh_to > data.labels.len() || c.pseudo_labels.to as usize > data.pseudo.len() {
        return Err(job_error(job, "asks for rows the host has not received"));
    }
    let mut rows = data.labels.range(c.fresh_labels.from as usize, fresh_to);
    rows.extend(
        &data
            .pseudo
            .range(c.pseudo_labels.from as usize, c.pseudo_labels.to as usize),
    );
    let pool = c.replay_pool_rows as usize;
    let warm = data.warmup.len();
    if pool > warm + data.labels.len() || c.replay_rows > c.replay_pool_rows {
        return Err(job_error(job, "replay pool larger than the rows held"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(job.seed);
    let mut picks = sample(&mut rng, pool, c.replay_rows as usize).into_vec();
    picks.sort_unstable();
    for i in picks {
        if i < warm {
            rows.push_from(data.warmup, i);
        } else {
            rows.push_from(data.labels, i - warm);
        }
    }
    Ok(rows)
}

fn job_error(job: &TrainingJob, reason: &str) -> Error {
    Error::Replay {
        stream: "workers".into(),
        sequence: 0,
        reason: format!("{}: {reason}", job.job_id),
    }
}

/// Options of a text job: the models crate's defaults with the host's epochs and seed.
fn text_options(seed: u64, epochs: usize) -> TextTrainConfig {
    TextTrainConfig {
        seed,
        max_epochs: epochs,
        ..TextTrainConfig::default()
    }
}

/// Trains the first model of a run on the warm-up rows (an MLP for tabular rows, a
/// hashed n-gram classifier for text rows).
pub fn train_initial(
    rows: &RowStore,
    n_classes: usize,
    transform: &Arc<FeatureTransform>,
    settings: &HostSettings,
    seed: u64,
) -> Result<ServedModel> {
    if rows.n_features == 0 {
        let data = FeatureTransform::text_dataset(rows, n_classes);
        let opts = text_options(seed, settings.max_epochs);
        let (m, _) = TextClassifier::fit(&TextConfig::new(n_classes), &data, None, &opts)
            .map_err(model("initial fit"))?;
        return ServedModel::new_text(m);
    }
    let cfg = MlpConfig {
        n_features: rows.n_features,
        n_classes,
        hidden: settings.hidden_layers.clone(),
    };
    let opts = TrainConfig {
        seed,
        max_epochs: settings.max_epochs,
        batch_size: settings.batch_size,
        learning_rate: settings.learning_rate,
        ..TrainConfig::default()
    };
    let data = transform.dataset(rows, n_classes);
    let (m, _) = TabularModel::fit(&cfg, &data, None, &opts).map_err(model("initial fit"))?;
    ServedModel::new(m, transform.clone())
}

/// The first model of a run: trained from scratch on the warm-up rows
/// ([`train_initial`]), or, when the run starts from another run's model, `source`
/// fine-tuned on them with every layer trained (as the Trainer's `fine_tune` strategy
/// does) and the host's warm-start epochs and learning rate. The source keeps its input
/// standardiser, so the new world is seen on the scale the source learnt.
pub fn first_model(
    source: Option<&TabularModel>,
    rows: &RowStore,
    n_classes: usize,
    transform: &Arc<FeatureTransform>,
    settings: &HostSettings,
    seed: u64,
) -> Result<ServedModel> {
    let Some(source) = source else {
        return train_initial(rows, n_classes, transform, settings, seed);
    };
    let opts = TrainConfig {
        seed,
        max_epochs: settings.fine_tune_epochs,
        batch_size: settings.batch_size,
        learning_rate: settings.fine_tune_learning_rate,
        fine_tune: FineTuneMode::Full,
        ..TrainConfig::default()
    };
    let data = transform.dataset(rows, n_classes);
    let (m, _) = source
        .fine_tune(&data, None, &opts)
        .map_err(model("warm start of the first model"))?;
    ServedModel::new(m, transform.clone())
}

/// Runs one training job; returns the model and the `ModelTrained` fact.
pub fn train(
    job: &TrainingJob,
    data: &TrainingData<'_>,
    parent: Option<&ServedModel>,
    settings: &HostSettings,
) -> Result<(ServedModel, ModelTrained)> {
    if job.federated.is_some() {
        return Err(job_error(job, "federated jobs are not run by the sim host"));
    }
    let rows = compose(job, data)?;
    if rows.is_empty() {
        return Err(job_error(job, "the composed data set is empty"));
    }
    let parent_net = match (job.strategy, parent) {
        (Strategy::Full, _) => None,
        (_, Some(p)) => Some(p.net.clone()),
        (_, None) => return Err(job_error(job, "the parent model is not loaded")),
    };
    // Each kind of row has its own augmentation table: text jobs use `augment_text`
    // only, tabular jobs `augment` only.
    let (served, report, augmentation) = if rows.n_features == 0 {
        train_text(job, &rows, data.n_classes, parent_net, settings)?
    } else {
        train_tabular(job, &rows, data, parent_net, settings)?
    };
    // Synthetic rows are trained on like real ones, so they are priced like them.
    let synthetic = augmentation
        .as_ref()
        .map_or(0, |a| a.synthetic_rows as usize);
    let mut metrics = BTreeMap::new();
    metrics.insert("train_rows".to_string(), rows.len() as f64);
    metrics.insert("epochs".to_string(), report.epochs.len() as f64);
    if let Some(last) = report.epochs.last() {
        metrics.insert("train_loss".to_string(), last.train_loss);
        if let Some(v) = last.valid_accuracy {
            metrics.insert("valid_accuracy".to_string(), v);
        }
    }
    let spent = settings.costs.training(
        rows.len() + synthetic,
        report.epochs.len(),
        served.parameter_count,
        served.size_bytes,
    );
    let fact = ModelTrained {
        job_id: job.job_id.clone(),
        model_id: served.model_id.clone(),
        family: served.family().to_string(),
        artifact_sha256: served.artifact_sha256.clone(),
        dataset_hash: job.dataset_hash.clone(),
        parent_model_id: job.parent_model_id.clone(),
        parameter_count: served.parameter_count,
        metrics,
        spent: Some(spent),
        augmentation,
    };
    Ok((served, fact))
}

/// A tabular job: `full` fits from scratch, the others warm-start the parent MLP
/// (head only, LoRA adapters merged on export, or every layer). A job with an augment
/// spec trains on its rows plus synthetic rare-class rows ([`augment::prepare`]).
fn train_tabular(
    job: &TrainingJob,
    rows: &RowStore,
    data: &TrainingData<'_>,
    parent: Option<Net>,
    settings: &HostSettings,
) -> Result<(ServedModel, TrainReport, Option<Augmentation>)> {
    let dataset = data.transform.dataset(rows, data.n_classes);
    let warm = TrainConfig {
        seed: job.seed,
        max_epochs: settings.fine_tune_epochs,
        batch_size: settings.batch_size,
        learning_rate: settings.fine_tune_learning_rate,
        ..TrainConfig::default()
    };
    let what = format!("{} ({})", job.job_id, job.strategy.name());
    let prepared = match &job.augment {
        Some(policy) => Some(
            augment::prepare(&dataset, policy, job.seed, warm.valid_fraction)
                .map_err(model(what.clone()))?,
        ),
        None => None,
    };
    let (dataset, valid, warm) = match &prepared {
        Some(p) => {
            let class_weighting = p.weighting.clone();
            (
                &p.train,
                p.valid.as_ref(),
                TrainConfig {
                    class_weighting,
                    ..warm
                },
            )
        }
        None => (&dataset, None, warm),
    };
    let (trained, report) = match (job.strategy, parent) {
        (Strategy::Full, _) => {
            let cfg = MlpConfig {
                n_features: rows.n_features,
                n_classes: data.n_classes,
                hidden: settings.hidden_layers.clone(),
            };
            let opts = TrainConfig {
                max_epochs: settings.max_epochs,
                learning_rate: settings.learning_rate,
                ..warm
            };
            TabularModel::fit(&cfg, dataset, valid, &opts).map_err(model(what))?
        }
        (strategy, Some(Net::Tabular(parent))) => {
            let fine_tune = match strategy {
                Strategy::HeadOnly => FineTuneMode::HeadOnly,
                Strategy::Lora => FineTuneMode::Lora {
                    rank: job.lora_rank.max(1) as usize,
                    alpha: 2.0 * job.lora_rank.max(1) as f32,
                },
                _ => FineTuneMode::Full,
            };
            let opts = TrainConfig { fine_tune, ..warm };
            parent
                .fine_tune(dataset, valid, &opts)
                .map_err(model(what))?
        }
        _ => return Err(job_error(job, "the parent is not a tabular model")),
    };
    let served = ServedModel::new(trained, data.transform.clone())?;
    Ok((served, report, prepared.map(|p| p.record)))
}

/// A text job: `full` fits from scratch; every warm start fine-tunes the whole parent
/// (the n-gram classifier has no separate head or adapters to train alone). A job with
/// an `augment_text` spec holds its validation messages out and trains on the rest plus
/// variants of the rare intents' messages ([`augment_text::prepare`]).
fn train_text(
    job: &TrainingJob,
    rows: &RowStore,
    n_classes: usize,
    parent: Option<Net>,
    settings: &HostSettings,
) -> Result<(ServedModel, TrainReport, Option<Augmentation>)> {
    let dataset = FeatureTransform::text_dataset(rows, n_classes);
    let what = format!("{} ({})", job.job_id, job.strategy.name());
    let valid_fraction = TextTrainConfig::default().valid_fraction;
    let prepared = match &job.augment_text {
        Some(policy) => Some(
            augment_text::prepare(&dataset, policy, job.seed, valid_fraction)
                .map_err(model(what.clone()))?,
        ),
        None => None,
    };
    let (dataset, valid) = match &prepared {
        Some(p) => (&p.train, p.valid.as_ref()),
        None => (&dataset, None),
    };
    let (trained, report) = match parent {
        None => {
            let opts = text_options(job.seed, settings.max_epochs);
            TextClassifier::fit(&TextConfig::new(n_classes), dataset, valid, &opts)
                .map_err(model(what))?
        }
        Some(Net::Text(parent)) => {
            let opts = text_options(job.seed, settings.fine_tune_epochs);
            parent
                .fine_tune(dataset, valid, &opts)
                .map_err(model(what))?
        }
        Some(Net::Tabular(_)) => return Err(job_error(job, "the parent is not a text model")),
    };
    let record = prepared.map(|p| p.record);
    Ok((ServedModel::new_text(trained)?, report, record))
}

/// Most rows of recent labels a distillation transfer set takes (plus warm-up rows).
pub const MAX_TRANSFER_LABEL_ROWS: usize = 8000;

/// The transfer set of a distillation started when `labels_len` labels had arrived: the
/// newest labels (at most [`MAX_TRANSFER_LABEL_ROWS`]) and the warm-up rows.
pub fn transfer_set(labels: &RowStore, labels_len: usize, warmup: &RowStore) -> RowStore {
    let from = labels_len.saturating_sub(MAX_TRANSFER_LABEL_ROWS);
    let mut rows = labels.range(from, labels_len);
    rows.extend(warmup);
    rows
}

/// The time-held-out set of a candidate whose training data ended at label row `from`,
/// judged when `to` labels had arrived: the newest `eval_max_rows` labels since,
/// class-balanced when `settings.balance_heldout` (the newest rows of each class, as many
/// per class as the rarest class has). Rows keep their arrival order.
pub fn heldout(
    labels: &RowStore,
    from: usize,
    to: usize,
    n_classes: usize,
    settings: &HostSettings,
) -> RowStore {
    let mut out = RowStore::new(labels.n_features);
    for i in heldout_rows(labels, from, to, n_classes, settings) {
        out.push_from(labels, i);
    }
    out
}

/// The label rows [`heldout`] selects, in arrival order (counting them needs no copy).
pub fn heldout_rows(
    labels: &RowStore,
    from: usize,
    to: usize,
    n_classes: usize,
    settings: &HostSettings,
) -> Vec<usize> {
    let to = to.min(labels.len());
    let from = from.min(to);
    if !settings.balance_heldout {
        let from = from.max(to.saturating_sub(settings.eval_max_rows));
        return (from..to).collect();
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for i in from..to {
        if let Some(rows) = by_class.get_mut(labels.labels[i] as usize) {
            rows.push(i);
        }
    }
    let per_class = by_class
        .iter()
        .map(Vec::len)
        .min()
        .unwrap_or(0)
        .min(settings.eval_max_rows / n_classes.max(1));
    let mut keep: Vec<usize> = by_class
        .iter()
        .flat_map(|rows| rows[rows.len() - per_class..].iter().copied())
        .collect();
    keep.sort_unstable();
    keep
}

/// Candidate and champion on the same rows: accuracies and McNemar's discordant pairs.
fn paired(candidate: &[u32], champion: &[u32], truth: &[u32]) -> (PairedAccuracy, u64, u64) {
    let n = truth.len();
    let (mut cand, mut champ, mut only_cand, mut only_champ) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..n {
        let a = candidate[i] == truth[i];
        let b = champion[i] == truth[i];
        cand += u64::from(a);
        champ += u64::from(b);
        only_cand += u64::from(a && !b);
        only_champ += u64::from(b && !a);
    }
    let rate = |k: u64| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    (
        PairedAccuracy {
            candidate_accuracy: rate(cand),
            champion_accuracy: rate(champ),
            samples: n as u64,
        },
        only_cand,
        only_champ,
    )
}

/// Measures `candidate` against `champion` on the time-held-out labels, the
/// old-distribution holdout and per slice; `costs` prices the scoring.
pub fn evaluate(
    candidate: &ServedModel,
    champion: &ServedModel,
    heldout: &RowStore,
    old_holdout: &RowStore,
    slice_names: &[String],
    costs: &CostModel,
) -> Result<EvaluationReport> {
    let cand = candidate.classes(&heldout.inputs())?;
    let champ = champion.classes(&heldout.inputs())?;
    let (heldout_acc, b, c) = paired(&cand, &champ, &heldout.labels);
    let old_cand = candidate.classes(&old_holdout.inputs())?;
    let old_champ = champion.classes(&old_holdout.inputs())?;
    let (old_acc, _, _) = paired(&old_cand, &old_champ, &old_holdout.labels);
    let mut slices = BTreeMap::new();
    for (s, name) in slice_names.iter().enumerate() {
        let rows: Vec<usize> = (0..heldout.len())
            .filter(|i| heldout.slices[*i] as usize == s)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let pick = |v: &[u32]| rows.iter().map(|i| v[*i]).collect::<Vec<u32>>();
        let (acc, _, _) = paired(&pick(&cand), &pick(&champ), &pick(&heldout.labels));
        slices.insert(name.clone(), acc);
    }
    Ok(EvaluationReport {
        candidate_model_id: candidate.model_id.clone(),
        champion_model_id: champion.model_id.clone(),
        heldout: heldout_acc,
        candidate_only_correct: b,
        champion_only_correct: c,
        old_holdout: old_acc,
        slices,
        candidate_size_bytes: candidate.size_bytes,
        // Wall-clock latency would make the log differ between identical runs, so the
        // sim host records none; see `HostSettings::latency_probe_rows` for the mesh.
        candidate_latency_us: 0.0,
        spent: Some(evaluation_cost(
            candidate,
            champion,
            heldout,
            old_holdout,
            costs,
        )),
    })
}

/// Both models score the held-out set and the old-distribution holdout once each.
fn evaluation_cost(
    candidate: &ServedModel,
    champion: &ServedModel,
    heldout: &RowStore,
    old_holdout: &RowStore,
    costs: &CostModel,
) -> Cost {
    let rows = heldout.len() + old_holdout.len();
    let parameters = candidate
        .parameter_count
        .saturating_add(champion.parameter_count);
    Cost {
        cpu_seconds: costs.scoring(rows, parameters),
        ..Cost::default()
    }
}

/// Distils `teacher` into the edge student `started` asks for, quantised to int8 when
/// asked; `rows` is the transfer set (recent labels and warm-up rows). Returns the fact
/// and the student's weights (the bytes its `artifact_sha256` names), which the host
/// stores beside the teachers': the student is what reaches the devices.
pub fn distil(
    started: &DistillationStarted,
    teacher: &ServedModel,
    rows: &RowStore,
    n_classes: usize,
    transform: &FeatureTransform,
    settings: &HostSettings,
) -> Result<(StudentDistilled, Vec<u8>)> {
    let what = format!("{} (teacher {})", started.job_id, started.teacher_model_id);
    let Net::Tabular(teacher_net) = &teacher.net else {
        return Err(Error::Replay {
            stream: "workers".into(),
            sequence: 0,
            reason: format!("{what}: only tabular teachers are distilled for the edge"),
        });
    };
    let student_cfg = MlpConfig {
        n_features: rows.n_features,
        n_classes,
        hidden: settings.student_hidden_layers.clone(),
    };
    let cfg = DistillConfig {
        temperature: started.temperature,
        alpha: started.alpha,
        train: TrainConfig {
            seed: started.seed,
            max_epochs: settings.fine_tune_epochs,
            batch_size: settings.batch_size,
            learning_rate: settings.learning_rate,
            ..TrainConfig::default()
        },
    };
    let data = transform.dataset(rows, n_classes);
    let (student, report) =
        distill(teacher_net, &student_cfg, &data, None, None, &cfg).map_err(model(what.clone()))?;
    let (artifact, size_bytes) = if started.quantize_int8 {
        let q = QuantizedMlp::from_model(&student).map_err(model(what.clone()))?;
        (
            q.to_artifact().map_err(model(what.clone()))?,
            q.size_bytes() as u64,
        )
    } else {
        let a = student.to_artifact().map_err(model(what.clone()))?;
        let size = a.weights.len() as u64;
        (a, size)
    };
    let teacher_pred = teacher_net
        .predict(&data.features)
        .map_err(model(what.clone()))?;
    let student_pred = student.predict(&data.features).map_err(model(what))?;
    let agree = teacher_pred
        .iter()
        .zip(&student_pred)
        .filter(|(a, b)| a == b)
        .count();
    let correct = |p: &[u32]| p.iter().zip(&data.labels).filter(|(a, b)| a == b).count();
    let n = data.labels.len().max(1) as f64;
    let mut metrics = BTreeMap::new();
    metrics.insert("agreement_with_teacher".into(), agree as f64 / n);
    metrics.insert("teacher_accuracy".into(), correct(&teacher_pred) as f64 / n);
    metrics.insert("student_accuracy".into(), correct(&student_pred) as f64 / n);
    metrics.insert("transfer_rows".into(), data.labels.len() as f64);
    let fact = StudentDistilled {
        job_id: started.job_id.clone(),
        teacher_model_id: started.teacher_model_id.clone(),
        model_id: artifact.manifest.model_id.clone(),
        artifact_sha256: artifact.manifest.weights_sha256.clone(),
        size_bytes,
        teacher_size_bytes: teacher.size_bytes,
        metrics,
        spent: Some(settings.costs.distillation(
            data.labels.len(),
            report.epochs.len(),
            teacher.parameter_count,
            student.parameter_count() as u64,
            size_bytes,
        )),
    };
    Ok((fact, artifact.weights))
}

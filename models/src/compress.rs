//! Distillation (teacher -> student), magnitude pruning with a short masked fine-tune, and
//! the comparison every compression step returns: size, batch-1 latency and accuracy
//! against the float teacher. int8 quantization itself lives in [`crate::quant`].

use serde::{Deserialize, Serialize};

use crate::artifact::Model;
use crate::bench::time_per_call_us;
use crate::data::{Standardizer, TabularDataset};
use crate::quant::QuantizedMlp;
use crate::report::TrainReport;
use crate::tabular::{check_dataset_matches, init_layers, train_run, FineTuneMode, MlpConfig};
use crate::tabular::{Objective, TabularModel, TrainConfig, TrainNet};
use crate::{metrics, Error, Result};

/// Distillation settings. Defaults: `T = 4` (soft enough that the teacher's ranking of the
/// wrong classes carries information), `alpha = 0.7` (mostly soft targets, some hard labels
/// to correct the teacher's mistakes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillConfig {
    pub temperature: f64,
    pub alpha: f64,
    pub train: TrainConfig,
}

impl Default for DistillConfig {
    fn default() -> Self {
        Self {
            temperature: 4.0,
            alpha: 0.7,
            train: TrainConfig::default(),
        }
    }
}

/// Trains `student_cfg` on `alpha*T^2*KL(teacher_T || student_T) + (1-alpha)*CE`. The
/// transfer set is `labelled` plus `unlabelled` raw rows; unlabelled rows take the
/// teacher's top class as their hard label.
pub fn distill(
    teacher: &TabularModel,
    student_cfg: &MlpConfig,
    labelled: &TabularDataset,
    unlabelled: Option<&[f32]>,
    valid: Option<&TabularDataset>,
    cfg: &DistillConfig,
) -> Result<(TabularModel, TrainReport)> {
    check_dataset_matches(teacher.config(), labelled)?;
    // The student must read the same features and predict the same classes as the teacher.
    student_cfg.validate()?;
    check_dataset_matches(student_cfg, labelled)?;
    if !(cfg.temperature.is_finite() && cfg.temperature > 0.0 && (0.0..=1.0).contains(&cfg.alpha)) {
        return Err(Error::InvalidConfig {
            field: "DistillConfig",
            reason: format!(
                "need T > 0 and alpha in [0, 1], got T={} alpha={}",
                cfg.temperature, cfg.alpha
            ),
        });
    }
    let mut transfer = labelled.clone();
    if let Some(rows) = unlabelled {
        let labels = teacher.predict(rows)?;
        transfer.features.extend_from_slice(rows);
        transfer.labels.extend(labels);
    }
    let layers = init_layers(student_cfg, cfg.train.seed);
    let net = TrainNet::new(&layers, &FineTuneMode::Full)?;
    let obj = Objective {
        teacher: Some((teacher, cfg.temperature, cfg.alpha)),
        mode: Some("distill"),
        masks: None,
    };
    let st = Standardizer::fit(&transfer);
    train_run(
        student_cfg,
        st,
        net,
        Some(teacher.model_id()?),
        &transfer,
        valid,
        &cfg.train,
        &obj,
    )
}

/// Zeroes the `sparsity` fraction of weights with the smallest magnitude (globally across
/// layers; biases kept), then fine-tunes briefly with the zeros held by masks.
pub fn prune(
    model: &TabularModel,
    sparsity: f32,
    train: &TabularDataset,
    valid: Option<&TabularDataset>,
    opts: &TrainConfig,
) -> Result<(TabularModel, TrainReport)> {
    if !(0.0..1.0).contains(&sparsity) {
        return Err(Error::InvalidConfig {
            field: "sparsity",
            reason: format!("must be in [0, 1), got {sparsity}"),
        });
    }
    check_dataset_matches(model.config(), train)?;
    let mut mags: Vec<f32> = model
        .layers()
        .iter()
        .flat_map(|l| l.weight.iter().map(|w| w.abs()))
        .collect();
    mags.sort_by(f32::total_cmp);
    let cut = ((mags.len() as f32) * sparsity) as usize;
    let threshold = if cut == 0 { -1.0 } else { mags[cut - 1] };
    let mut layers = model.layers().to_vec();
    let mut masks = Vec::with_capacity(layers.len());
    for l in &mut layers {
        let mask: Vec<f32> = l
            .weight
            .iter()
            .map(|w| f32::from(u8::from(w.abs() > threshold)))
            .collect();
        l.weight.iter_mut().zip(&mask).for_each(|(w, m)| *w *= m);
        masks.push(mask);
    }
    let net = TrainNet::new(&layers, &FineTuneMode::Full)?;
    let obj = Objective {
        teacher: None,
        mode: Some("prune_fine_tune"),
        masks: Some(masks),
    };
    let (m, mut report) = train_run(
        model.config(),
        model.standardizer().clone(),
        net,
        Some(model.model_id()?),
        train,
        valid,
        opts,
        &obj,
    )?;
    report.adjust(
        0,
        "sparsity",
        0.0,
        f64::from(sparsity),
        format!("magnitude threshold {threshold:.5}"),
    );
    Ok((m, report))
}

/// Anything that scores raw tabular rows and has a size.
pub trait Scorer {
    fn scorer_proba(&self, features: &[f32]) -> Result<Vec<f32>>;
    /// Bytes of tensor data.
    fn scorer_size_bytes(&self) -> usize;
    fn nonzero_parameters(&self) -> usize;
}

impl Scorer for TabularModel {
    fn scorer_proba(&self, features: &[f32]) -> Result<Vec<f32>> {
        self.predict_proba(features)
    }
    fn scorer_size_bytes(&self) -> usize {
        self.size_bytes()
    }
    fn nonzero_parameters(&self) -> usize {
        self.layers()
            .iter()
            .map(|l| {
                l.weight
                    .iter()
                    .chain(&l.bias)
                    .filter(|w| **w != 0.0)
                    .count()
            })
            .sum()
    }
}

impl Scorer for QuantizedMlp {
    fn scorer_proba(&self, features: &[f32]) -> Result<Vec<f32>> {
        self.predict_proba(features)
    }
    fn scorer_size_bytes(&self) -> usize {
        self.size_bytes()
    }
    fn nonzero_parameters(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.weight.iter().filter(|w| **w != 0).count() + l.bias.len())
            .sum()
    }
}

/// Size, latency and accuracy of a compressed model against the float teacher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompressionReport {
    pub method: String,
    pub size_bytes: usize,
    pub teacher_size_bytes: usize,
    /// `teacher_size_bytes / size_bytes`.
    pub size_ratio: f64,
    pub nonzero_parameters: usize,
    /// Batch-1 latency, microseconds per sample.
    pub latency_us: f64,
    pub teacher_latency_us: f64,
    pub accuracy: f64,
    pub teacher_accuracy: f64,
    /// `(accuracy - teacher_accuracy) * 100`.
    pub accuracy_delta_points: f64,
}

/// Measures `candidate` against `teacher` on `eval` (latency over up to 2,000 rows).
pub fn compare(
    method: &str,
    teacher: &TabularModel,
    candidate: &dyn Scorer,
    eval: &TabularDataset,
) -> Result<CompressionReport> {
    check_dataset_matches(teacher.config(), eval)?;
    let nc = eval.n_classes;
    let accuracy = metrics::accuracy(&candidate.scorer_proba(&eval.features)?, &eval.labels, nc);
    let teacher_accuracy =
        metrics::accuracy(&teacher.predict_proba(&eval.features)?, &eval.labels, nc);
    let iters = eval.len().min(2000);
    // Wall-clock latency: what a caller of the compressed model waits.
    let (latency_us, _) = time_per_call_us(iters, |i| {
        Ok(candidate.scorer_proba(eval.row(i % eval.len()))?[0])
    })?;
    let (teacher_latency_us, _) = time_per_call_us(iters, |i| {
        Ok(teacher.predict_proba(eval.row(i % eval.len()))?[0])
    })?;
    let size_bytes = candidate.scorer_size_bytes();
    Ok(CompressionReport {
        method: method.into(),
        size_bytes,
        teacher_size_bytes: teacher.size_bytes(),
        size_ratio: teacher.size_bytes() as f64 / size_bytes.max(1) as f64,
        nonzero_parameters: candidate.nonzero_parameters(),
        latency_us,
        teacher_latency_us,
        accuracy,
        teacher_accuracy,
        accuracy_delta_points: (accuracy - teacher_accuracy) * 100.0,
    })
}

//! Throughput and latency figures the CLI's `ledgerloop bench models` prints and the
//! criterion benches wrap. Each function builds its own seeded synthetic data.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::fixtures::{blobs, intents};
use crate::quant::QuantizedMlp;
use crate::tabular::{ClassWeighting, MlpConfig, TabularModel, TrainConfig};
use crate::text::{TextClassifier, TextConfig, TextTrainConfig};
use crate::Result;

/// One measured figure beside its reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    /// PyTorch 2.15 CPU reference or target from issue 3.
    pub reference: f64,
    /// True when `value` meets the reference (higher-is-better for rates, lower for times).
    pub meets_reference: bool,
}

fn figure(name: &str, value: f64, unit: &str, reference: f64, higher_is_better: bool) -> Figure {
    Figure {
        name: name.into(),
        value,
        unit: unit.into(),
        reference,
        meets_reference: if higher_is_better {
            value >= reference
        } else {
            value <= reference
        },
    }
}

/// The benchmark MLP: 32 -> 64 -> 64 -> 2.
pub fn bench_mlp_config() -> MlpConfig {
    MlpConfig {
        n_features: 32,
        n_classes: 2,
        hidden: vec![64, 64],
    }
}

/// Training samples per second: MLP 32->64->64->2, batch 256, AdamW, no validation.
pub fn mlp_train_samples_per_s(rows: usize, epochs: usize) -> Result<Figure> {
    let data = blobs(1, rows, 32, 2, 0.3, 2);
    let opts = TrainConfig {
        seed: 1,
        max_epochs: epochs,
        batch_size: 256,
        valid_fraction: 0.0,
        early_stopping_patience: 0,
        reduce_lr: None,
        class_weighting: ClassWeighting::None,
        ..TrainConfig::default()
    };
    let (_, report) = TabularModel::fit(&bench_mlp_config(), &data, None, &opts)?;
    Ok(figure(
        "mlp_32_64_64_2_train_b256",
        report.train_samples_per_s,
        "samples/s",
        209_000.0,
        true,
    ))
}

/// Batch-1 f32 inference latency of the benchmark MLP, microseconds per sample.
pub fn mlp_batch1_latency_us(iters: usize) -> Result<Figure> {
    let data = blobs(1, 2000, 32, 2, 0.3, 2);
    let opts = TrainConfig {
        max_epochs: 1,
        ..TrainConfig::default()
    };
    let (model, _) = TabularModel::fit(&bench_mlp_config(), &data, None, &opts)?;
    let us = time_per_call_us(iters, |i| {
        let row = data.row(i % data.len());
        model.predict_proba(row).map(|p| p[0])
    })?;
    Ok(figure("mlp_batch1_inference", us, "us/sample", 51.0, false))
}

/// Batch-1 latency of the int8 student (16 features, 4 classes), microseconds per sample.
pub fn int8_student_batch1_latency_us(iters: usize) -> Result<Figure> {
    let data = blobs(5, 2000, 16, 4, 0.45, 1);
    let opts = TrainConfig {
        max_epochs: 2,
        ..TrainConfig::default()
    };
    let (student, _) = TabularModel::fit(&MlpConfig::student(16, 4), &data, None, &opts)?;
    let q = QuantizedMlp::from_model(&student)?;
    let us = time_per_call_us(iters, |i| Ok(q.predict_proba(data.row(i % data.len()))?[0]))?;
    Ok(figure(
        "int8_student_batch1_inference",
        us,
        "us/sample",
        2.0,
        false,
    ))
}

/// Text classifier training samples/s: 2^18 buckets x 64, mean bag, 20 classes, sparse
/// AdamW. `char_ngrams = false` hashes words and word bigrams only (~14 ids per sample on
/// the intent fixture, the size of the ~12-token reference); `true` adds character
/// trigrams, the default model's features (~35 ids per sample).
pub fn text_train_samples_per_s(rows: usize, epochs: usize, char_ngrams: bool) -> Result<Figure> {
    let data = intents(rows, 20, 0.05, 3);
    let mut cfg = TextConfig::new(20);
    if !char_ngrams {
        cfg.ngrams.char_ngram = 0;
    }
    let opts = TextTrainConfig {
        seed: 1,
        max_epochs: epochs,
        valid_fraction: 0.0,
        ..TextTrainConfig::default()
    };
    let (_, report) = TextClassifier::fit(&cfg, &data, None, &opts)?;
    let name = if char_ngrams {
        "text_hashed_ngram_train_2e18x64_with_char3"
    } else {
        "text_hashed_ngram_train_2e18x64"
    };
    Ok(figure(
        name,
        report.train_samples_per_s,
        "samples/s",
        35_000.0,
        true,
    ))
}

/// The text training loop without its set-up, for criterion: the model, optimiser state and
/// tokenised fixture are built once, then each call runs one epoch of sparse AdamW.
pub struct TextEpochBench {
    model: TextClassifier,
    adam: crate::text::train::AdamState,
    bags: crate::text::train::Bags,
    labels: Vec<u32>,
    idx: Vec<usize>,
    opts: TextTrainConfig,
}

impl std::fmt::Debug for TextEpochBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEpochBench")
            .field("rows", &self.idx.len())
            .finish_non_exhaustive()
    }
}

impl TextEpochBench {
    /// `rows` intent sentences over 20 classes, 2^18 x 64 table (see
    /// [`text_train_samples_per_s`] for `char_ngrams`).
    pub fn new(rows: usize, char_ngrams: bool) -> Result<Self> {
        let data = intents(rows, 20, 0.05, 3);
        let mut cfg = TextConfig::new(20);
        if !char_ngrams {
            cfg.ngrams.char_ngram = 0;
        }
        cfg.validate()?;
        let model = crate::text::train::init(&cfg, 1);
        Ok(Self {
            adam: crate::text::train::AdamState::new(&model),
            bags: crate::text::train::Bags::new(&data.texts, &cfg),
            labels: data.labels,
            idx: (0..rows).collect(),
            opts: TextTrainConfig::default(),
            model,
        })
    }

    /// Rows per epoch.
    pub fn rows(&self) -> usize {
        self.idx.len()
    }

    /// One epoch; returns the summed training loss.
    pub fn run_epoch(&mut self) -> f64 {
        crate::text::train::train_epoch(
            &mut self.model,
            &mut self.adam,
            &self.bags,
            &self.labels,
            &self.idx,
            &self.opts,
        )
    }
}

/// Large-batch scoring throughput of a teacher (16 features, 2 classes), rows per second:
/// the simulator's use (millions of rows through `predict_proba`). No reference figure.
pub fn teacher_batch_rows_per_s(rows: usize) -> Result<Figure> {
    let data = blobs(9, 4000, 16, 2, 0.4, 1);
    let opts = TrainConfig {
        max_epochs: 1,
        ..TrainConfig::default()
    };
    let (teacher, _) = TabularModel::fit(&MlpConfig::teacher(16, 2), &data, None, &opts)?;
    let mut features = Vec::with_capacity(rows * 16);
    while features.len() < rows * 16 {
        let take = (rows * 16 - features.len()).min(data.features.len());
        features.extend_from_slice(&data.features[..take]);
    }
    let start = Instant::now();
    let p = teacher.predict_proba(&features)?;
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(p);
    Ok(figure(
        "teacher_batch_inference",
        rows as f64 / secs.max(1e-9),
        "rows/s",
        0.0,
        true,
    ))
}

/// Mean microseconds per call of `f(i)`; the results are summed so the work is not elided.
pub(crate) fn time_per_call_us(
    iters: usize,
    mut f: impl FnMut(usize) -> Result<f32>,
) -> Result<f64> {
    let iters = iters.max(1);
    let mut sink = 0f32;
    for i in 0..iters.min(100) {
        sink += f(i)?;
    }
    let start = Instant::now();
    for i in 0..iters {
        sink += f(i)?;
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / iters as f64;
    std::hint::black_box(sink);
    Ok(us)
}

/// Every figure, in a fixed order, at the sizes used for models/README.md.
pub fn all_figures() -> Result<Vec<Figure>> {
    Ok(vec![
        mlp_train_samples_per_s(20_000, 5)?,
        mlp_batch1_latency_us(20_000)?,
        int8_student_batch1_latency_us(20_000)?,
        text_train_samples_per_s(50_000, 2, false)?,
        text_train_samples_per_s(50_000, 2, true)?,
        teacher_batch_rows_per_s(1_000_000)?,
    ])
}

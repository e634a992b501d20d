//! Throughput and latency figures the CLI's `ledgerloop bench models` prints and the
//! criterion benches wrap. Each function builds its own seeded synthetic data and reports
//! the figure twice: by wall clock (`value`, what a user waits) and by the measuring
//! thread's CPU time (`cpu_value`, which a busy shared machine does not deflate). Run with
//! `RAYON_NUM_THREADS=1` to compare with the single-thread references of issue 3.

mod clock;

use serde::{Deserialize, Serialize};

use crate::fixtures::{blobs, intents};
use crate::quant::QuantizedMlp;
use crate::tabular::{ClassWeighting, MlpConfig, TabularModel, TrainConfig};
use crate::text::{TextClassifier, TextConfig, TextTrainConfig};
use crate::Result;
pub(crate) use clock::time_per_call_us;
use clock::Clock;

/// One measured figure beside its reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    /// By wall clock.
    pub value: f64,
    /// The same figure by the measuring thread's CPU time (Linux only).
    #[serde(default)]
    pub cpu_value: Option<f64>,
    pub unit: String,
    /// PyTorch 2.15 CPU reference or target from issue 3 (0 = none).
    pub reference: f64,
    /// True when the wall-clock `value` meets the reference (higher-is-better for rates,
    /// lower for times).
    pub meets_reference: bool,
}

/// What a figure measures: how to turn seconds into the figure.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `count / seconds`, higher is better.
    Rate(f64),
    /// Already microseconds per call, lower is better.
    LatencyUs,
}

fn figure(
    name: &str,
    unit: &str,
    reference: f64,
    kind: Kind,
    timing: (f64, Option<f64>),
) -> Figure {
    let (wall, cpu) = timing;
    let convert = |x: f64| match kind {
        Kind::Rate(count) => count / x.max(1e-9),
        Kind::LatencyUs => x,
    };
    let value = convert(wall);
    Figure {
        name: name.into(),
        value,
        cpu_value: cpu.map(convert),
        unit: unit.into(),
        reference,
        meets_reference: match kind {
            Kind::Rate(_) => value >= reference,
            Kind::LatencyUs => value <= reference,
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

/// Training samples per second: MLP 32->64->64->2, batch 256, AdamW, no validation; timed
/// over the whole `fit` call (set-up included, so slightly conservative).
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
    let clock = Clock::start();
    let (_, report) = TabularModel::fit(&bench_mlp_config(), &data, None, &opts)?;
    let samples = (rows * report.epochs.len()) as f64;
    Ok(figure(
        "mlp_32_64_64_2_train_b256",
        "samples/s",
        209_000.0,
        Kind::Rate(samples),
        clock.elapsed(),
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
    let timing = time_per_call_us(iters, |i| {
        let row = data.row(i % data.len());
        model.predict_proba(row).map(|p| p[0])
    })?;
    Ok(figure(
        "mlp_batch1_inference",
        "us/sample",
        51.0,
        Kind::LatencyUs,
        timing,
    ))
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
    let timing = time_per_call_us(iters, |i| Ok(q.predict_proba(data.row(i % data.len()))?[0]))?;
    Ok(figure(
        "int8_student_batch1_inference",
        "us/sample",
        2.0,
        Kind::LatencyUs,
        timing,
    ))
}

/// Text classifier training samples/s: 2^18 buckets x 64, mean bag, 20 classes, sparse
/// AdamW, training epochs only (table allocation and tokenising excluded, as for a
/// reference that times its training loop). `char_ngrams = false` hashes words and word
/// bigrams only (~14 ids per sample on the intent fixture, the size of the ~12-token
/// reference); `true` adds character trigrams, the default model's features (~35 ids).
pub fn text_train_samples_per_s(rows: usize, epochs: usize, char_ngrams: bool) -> Result<Figure> {
    let mut bench = TextEpochBench::new(rows, char_ngrams)?;
    let clock = Clock::start();
    for _ in 0..epochs {
        std::hint::black_box(bench.run_epoch());
    }
    let name = if char_ngrams {
        "text_hashed_ngram_train_2e18x64_with_char3"
    } else {
        "text_hashed_ngram_train_2e18x64"
    };
    let samples = (rows * epochs) as f64;
    Ok(figure(
        name,
        "samples/s",
        35_000.0,
        Kind::Rate(samples),
        clock.elapsed(),
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
    let clock = Clock::start();
    std::hint::black_box(teacher.predict_proba(&features)?);
    Ok(figure(
        "teacher_batch_inference",
        "rows/s",
        0.0,
        Kind::Rate(rows as f64),
        clock.elapsed(),
    ))
}

/// Every figure, in a fixed order, at the sizes used for models/README.md (about 15 s in
/// a release build; each timed span is long enough for the 10 ms CPU clock).
pub fn all_figures() -> Result<Vec<Figure>> {
    Ok(vec![
        mlp_train_samples_per_s(20_000, 10)?,
        mlp_batch1_latency_us(500_000)?,
        int8_student_batch1_latency_us(500_000)?,
        text_train_samples_per_s(50_000, 2, false)?,
        text_train_samples_per_s(50_000, 2, true)?,
        teacher_batch_rows_per_s(1_000_000)?,
    ])
}

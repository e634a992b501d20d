//! Criterion benchmarks beside the issue-3 reference figures. Run single-threaded for the
//! comparison: `RAYON_NUM_THREADS=1 cargo bench -p ledgerloop-models`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ledgerloop_models::bench::{bench_mlp_config, TextEpochBench};
use ledgerloop_models::fixtures::blobs;
use ledgerloop_models::quant::QuantizedMlp;
use ledgerloop_models::{ClassWeighting, MlpConfig, TabularModel, TrainConfig};

fn mlp_train(c: &mut Criterion) {
    let rows = 8192;
    let data = blobs(1, rows, 32, 2, 0.3, 2);
    let opts = TrainConfig {
        max_epochs: 1,
        batch_size: 256,
        valid_fraction: 0.0,
        early_stopping_patience: 0,
        reduce_lr: None,
        class_weighting: ClassWeighting::None,
        ..TrainConfig::default()
    };
    let mut g = c.benchmark_group("mlp_32_64_64_2");
    g.throughput(Throughput::Elements(rows as u64));
    g.sample_size(10);
    g.bench_function("train_epoch_b256_adamw", |b| {
        b.iter(|| TabularModel::fit(&bench_mlp_config(), black_box(&data), None, &opts).unwrap())
    });
    let (model, _) = TabularModel::fit(&bench_mlp_config(), &data, None, &opts).unwrap();
    g.throughput(Throughput::Elements(1));
    g.bench_function("infer_batch1", |b| {
        b.iter(|| model.predict_proba(black_box(data.row(7))).unwrap())
    });
    g.finish();
}

fn int8_student(c: &mut Criterion) {
    let data = blobs(5, 2000, 16, 4, 0.45, 1);
    let opts = TrainConfig {
        max_epochs: 2,
        ..TrainConfig::default()
    };
    let (student, _) = TabularModel::fit(&MlpConfig::student(16, 4), &data, None, &opts).unwrap();
    let q = QuantizedMlp::from_model(&student).unwrap();
    c.bench_function("int8_student_infer_batch1", |b| {
        b.iter(|| q.predict_proba(black_box(data.row(3))).unwrap())
    });
}

fn text_train(c: &mut Criterion) {
    let mut g = c.benchmark_group("text_2e18x64_20cls");
    g.sample_size(10);
    for (name, char_ngrams) in [("words_bigrams", false), ("with_char3", true)] {
        let mut bench = TextEpochBench::new(20_000, char_ngrams).unwrap();
        g.throughput(Throughput::Elements(bench.rows() as u64));
        g.bench_function(format!("train_epoch_sparse_adamw_{name}"), |b| {
            b.iter(|| black_box(bench.run_epoch()))
        });
    }
    g.finish();
}

criterion_group!(benches, mlp_train, int8_student, text_train);
criterion_main!(benches);

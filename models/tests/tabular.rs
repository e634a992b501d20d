//! Tabular MLP: training quality, prediction paths and the benchmark entry points.

use ledgerloop_models::fixtures::blobs;
use ledgerloop_models::{metrics, Error, MlpConfig, TabularModel, TrainConfig};

/// A teacher fitted on separable blobs scores above 0.8 on fresh rows from the same blobs,
/// and the report carries validation metrics for the kept weights.
#[test]
fn teacher_learns_blobs() -> Result<(), Error> {
    let train = blobs(7, 4000, 16, 3, 0.5, 1);
    let test = blobs(7, 2000, 16, 3, 0.5, 2);
    let opts = TrainConfig {
        seed: 3,
        max_epochs: 20,
        ..Default::default()
    };
    let (model, report) = TabularModel::fit(&MlpConfig::teacher(16, 3), &train, None, &opts)?;
    let cm = metrics::classification(&model.predict_proba(&test.features)?, &test.labels, 3)?;
    eprintln!(
        "accuracy {:.3} macro-F1 {:.3} AUC {:.3} ECE {:.3}; {} epochs, {:.0} samples/s",
        cm.accuracy,
        cm.macro_f1,
        cm.auc,
        cm.ece,
        report.epochs.len(),
        report.train_samples_per_s
    );
    assert!(cm.accuracy > 0.8 && cm.auc > 0.9, "{cm:?}");
    assert_eq!(report.n_valid, 400);
    assert!(report.valid_metrics.as_ref().is_some_and(|v| v.n == 400));
    Ok(())
}

/// The benchmark functions the CLI calls run at small sizes and return positive figures
/// with their references (real figures come from `cargo bench` / the example).
#[test]
fn bench_functions_run() -> Result<(), Error> {
    use ledgerloop_models::bench;
    let figures = [
        bench::mlp_train_samples_per_s(2000, 1)?,
        bench::mlp_batch1_latency_us(200)?,
        bench::int8_student_batch1_latency_us(200)?,
        bench::text_train_samples_per_s(500, 1, true)?,
    ];
    for f in figures {
        assert!(f.value > 0.0 && f.reference > 0.0, "{f:?}");
    }
    Ok(())
}

/// The large-batch candle path and the small-batch plain path give the same probabilities.
#[test]
fn batch_paths_agree() -> Result<(), Error> {
    let data = blobs(7, 3000, 16, 3, 0.5, 1);
    let opts = TrainConfig {
        seed: 3,
        max_epochs: 2,
        ..Default::default()
    };
    let (model, _) = TabularModel::fit(&MlpConfig::teacher(16, 3), &data, None, &opts)?;
    let big = model.predict_proba(&data.features[..500 * 16])?;
    for r in 0..500 {
        let one = model.predict_proba(data.row(r))?;
        for c in 0..3 {
            assert!((one[c] - big[r * 3 + c]).abs() < 1e-5, "row {r} class {c}");
        }
    }
    Ok(())
}

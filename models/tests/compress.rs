//! Distillation, int8 quantization and pruning against the float teacher.

use ledgerloop_models::compress::{compare, distill, prune, DistillConfig};
use ledgerloop_models::fixtures::{blob_centres, blobs_from_centres};
use ledgerloop_models::quant::QuantizedMlp;
use ledgerloop_models::{metrics, Error, MlpConfig, TabularDataset, TabularModel, TrainConfig};

fn problem(n: usize, seed: u64) -> TabularDataset {
    let centres = blob_centres(16, 4, 0.45, 77);
    blobs_from_centres(&centres, 4, n, 0.0, seed)
}

fn opts(seed: u64, epochs: usize) -> TrainConfig {
    TrainConfig {
        seed,
        max_epochs: epochs,
        ..Default::default()
    }
}

/// Per-row correctness of `m` on `data`.
fn correct(m: &TabularModel, data: &TabularDataset) -> Result<Vec<bool>, Error> {
    let pred = m.predict(&data.features)?;
    Ok(pred.iter().zip(&data.labels).map(|(p, y)| p == y).collect())
}

/// With 40 labels, a student distilled from a teacher (plus unlabelled rows) beats the same
/// student trained on the 40 labels alone by at least 5 accuracy points, significant by
/// McNemar at 1%.
#[test]
fn distilled_student_beats_label_only_student() -> Result<(), Error> {
    let (train, test) = (problem(5000, 1), problem(2000, 2));
    let (teacher, _) = TabularModel::fit(&MlpConfig::teacher(16, 4), &train, None, &opts(1, 15))?;
    let few = problem(40, 3);
    let unlabelled = problem(4000, 4).features;
    let cfg = MlpConfig::student(16, 4);
    let label_only = TrainConfig {
        valid_fraction: 0.0,
        batch_size: 16,
        ..opts(2, 40)
    };
    let (plain, _) = TabularModel::fit(&cfg, &few, None, &label_only)?;
    let dcfg = DistillConfig {
        train: opts(2, 15),
        ..Default::default()
    };
    let (student, report) = distill(&teacher, &cfg, &few, Some(&unlabelled), None, &dcfg)?;
    assert_eq!(report.mode, "distill");
    let acc = |m: &TabularModel| -> Result<f64, Error> {
        Ok(metrics::accuracy(
            &m.predict_proba(&test.features)?,
            &test.labels,
            4,
        ))
    };
    let (a_t, a_plain, a_dist) = (acc(&teacher)?, acc(&plain)?, acc(&student)?);
    let sig = metrics::mcnemar(&correct(&student, &test)?, &correct(&plain, &test)?, 0.01)?;
    eprintln!(
        "teacher {a_t:.3} label-only {a_plain:.3} distilled {a_dist:.3} (McNemar p {:.2e})",
        sig.p_value
    );
    assert!(
        a_dist >= a_plain + 0.05,
        "distilled {a_dist} vs label-only {a_plain}"
    );
    assert!(sig.candidate_better, "{sig:?}");
    let cmp = compare("distill", &teacher, &student, &test)?;
    assert!(cmp.size_ratio > 5.0 && cmp.latency_us > 0.0, "{cmp:?}");
    assert!((cmp.accuracy - a_dist).abs() < 1e-12 && (cmp.teacher_accuracy - a_t).abs() < 1e-12);
    Ok(())
}

/// The int8 student is >= 3.5x smaller than its f32 form and within 1 accuracy point of it;
/// its artifact stores I8 weights.
#[test]
fn int8_student_is_small_and_accurate() -> Result<(), Error> {
    let (train, test) = (problem(4000, 5), problem(3000, 6));
    let (student, _) = TabularModel::fit(&MlpConfig::student(16, 4), &train, None, &opts(3, 15))?;
    let q = QuantizedMlp::from_model(&student)?;
    let r = compare("int8", &student, &q, &test)?;
    eprintln!("{r:?}");
    assert!(r.size_ratio >= 3.5, "ratio {}", r.size_ratio);
    assert!(
        r.accuracy_delta_points.abs() <= 1.0,
        "delta {}",
        r.accuracy_delta_points
    );
    let art = q.to_artifact()?;
    let weight = art
        .manifest
        .tensors
        .iter()
        .find(|t| t.name == "layers.0.weight");
    assert!(weight.is_some_and(|t| t.dtype == "I8"));
    Ok(())
}

/// Pruning to 70% sparsity keeps the zeros through fine-tuning and stays within 3 points.
#[test]
fn pruned_model_keeps_sparsity_and_accuracy() -> Result<(), Error> {
    let (train, test) = (problem(4000, 7), problem(2000, 8));
    let (teacher, _) = TabularModel::fit(&MlpConfig::teacher(16, 4), &train, None, &opts(4, 10))?;
    let (pruned, report) = prune(&teacher, 0.7, &train, None, &opts(5, 3))?;
    assert!(report
        .adjustments
        .iter()
        .any(|a| a.what == "sparsity" && a.to > 0.69));
    let weights: usize = pruned.layers().iter().map(|l| l.weight.len()).sum();
    let zeros: usize = pruned
        .layers()
        .iter()
        .map(|l| l.weight.iter().filter(|w| **w == 0.0).count())
        .sum();
    let r = compare("prune", &teacher, &pruned, &test)?;
    eprintln!("{r:?}; zero weights {zeros}/{weights}");
    assert!(zeros as f64 >= 0.7 * weights as f64 - 1.0);
    assert!(
        r.accuracy_delta_points > -3.0,
        "delta {}",
        r.accuracy_delta_points
    );
    Ok(())
}

/// Distilling into a student with another feature count, or with T = 0, is a typed error.
#[test]
fn bad_distillation_is_typed_error() -> Result<(), Error> {
    let data = problem(300, 9);
    let (teacher, _) = TabularModel::fit(&MlpConfig::student(16, 4), &data, None, &opts(1, 1))?;
    let wrong = MlpConfig::student(15, 4);
    assert!(distill(
        &teacher,
        &wrong,
        &data,
        None,
        None,
        &DistillConfig::default()
    )
    .is_err());
    let cold = DistillConfig {
        temperature: 0.0,
        ..Default::default()
    };
    let cfg = MlpConfig::student(16, 4);
    assert!(matches!(
        distill(&teacher, &cfg, &data, None, None, &cold),
        Err(Error::InvalidConfig { .. })
    ));
    Ok(())
}

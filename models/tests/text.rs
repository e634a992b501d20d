//! Text intent classifier: learns Chinese + English intents, is deterministic, round-trips,
//! and rejects bad input and bad artifacts with typed errors.

use ledgerloop_models::fixtures::intents;
use ledgerloop_models::text::{
    NgramConfig, TextClassifier, TextConfig, TextDataset, TextTrainConfig,
};
use ledgerloop_models::{metrics, Error, Model};

fn small_cfg(n_classes: usize) -> TextConfig {
    TextConfig {
        n_classes,
        dim: 32,
        ngrams: NgramConfig {
            buckets: 1 << 14,
            ..Default::default()
        },
    }
}

fn quick_opts(seed: u64) -> TextTrainConfig {
    TextTrainConfig {
        seed,
        max_epochs: 2,
        ..Default::default()
    }
}

/// Accuracy of `m` on the rows of `data` selected by `keep`.
fn accuracy_where(
    m: &TextClassifier,
    data: &TextDataset,
    keep: impl Fn(&str) -> bool,
) -> Result<(f64, usize), Error> {
    let idx: Vec<usize> = (0..data.texts.len())
        .filter(|&i| keep(&data.texts[i]))
        .collect();
    let texts: Vec<&str> = idx.iter().map(|&i| data.texts[i].as_str()).collect();
    let labels: Vec<u32> = idx.iter().map(|&i| data.labels[i]).collect();
    let p = m.predict_proba(&texts)?;
    Ok((metrics::accuracy(&p, &labels, data.n_classes), idx.len()))
}

/// Trained on mixed-language intents it classifies held-out Chinese sentences and held-out
/// English sentences each with accuracy above 0.9.
#[test]
fn learns_chinese_and_english_intents() -> Result<(), Error> {
    let train = intents(6000, 10, 0.05, 1);
    let test = intents(1000, 10, 0.0, 2);
    let opts = TextTrainConfig {
        seed: 4,
        max_epochs: 8,
        ..Default::default()
    };
    let (m, report) = TextClassifier::fit(&small_cfg(10), &train, None, &opts)?;
    let (zh, n_zh) = accuracy_where(&m, &test, |t| !t.is_ascii())?;
    let (en, n_en) = accuracy_where(&m, &test, str::is_ascii)?;
    eprintln!(
        "text acc zh {zh:.3} ({n_zh} rows) en {en:.3} ({n_en} rows), {:.0} samples/s, {} epochs",
        report.train_samples_per_s,
        report.epochs.len()
    );
    assert!(n_zh > 300 && n_en > 300);
    let valid = report.valid_metrics.as_ref();
    assert!(
        valid.is_some_and(|v| v.n == report.n_valid && v.macro_f1 > 0.9),
        "{valid:?}"
    );
    assert!(zh > 0.9 && en > 0.9, "zh {zh} en {en}");
    Ok(())
}

/// Same data + seed gives byte-identical safetensors; another seed gives different bytes.
#[test]
fn text_training_is_byte_deterministic() -> Result<(), Error> {
    let train = intents(400, 4, 0.0, 5);
    let fit = |seed| TextClassifier::fit(&small_cfg(4), &train, None, &quick_opts(seed));
    let weights = |m: &TextClassifier| m.to_artifact().map(|a| a.weights);
    let (a, b, c) = (fit(3)?.0, fit(3)?.0, fit(4)?.0);
    assert_eq!(weights(&a)?, weights(&b)?);
    assert_ne!(weights(&a)?, weights(&c)?);
    Ok(())
}

/// Save/load keeps predictions identical; an empty dataset, an unknown label and a
/// validation set with another class count are typed errors.
#[test]
fn round_trip_and_bad_input() -> Result<(), Error> {
    let train = intents(500, 4, 0.0, 3);
    let opts = quick_opts(1);
    let (m, _) = TextClassifier::fit(&small_cfg(4), &train, None, &opts)?;
    let dir = tempfile::tempdir().map_err(|source| Error::Io {
        path: "tempdir".into(),
        source,
    })?;
    m.save(dir.path())?;
    let back = TextClassifier::load(dir.path())?;
    let q = ["你好 world", ""];
    assert_eq!(m.predict_proba(&q)?, back.predict_proba(&q)?);
    let empty = TextDataset {
        texts: vec![],
        labels: vec![],
        n_classes: 4,
    };
    let fit = |d: &TextDataset, v: Option<&TextDataset>| {
        TextClassifier::fit(&small_cfg(4), d, v, &opts).map(|_| ())
    };
    assert!(matches!(fit(&empty, None), Err(Error::EmptyDataset { .. })));
    let mut bad = train.clone();
    bad.labels[3] = 4;
    assert!(matches!(
        fit(&bad, None),
        Err(Error::UnknownLabel {
            label: 4,
            row: 3,
            ..
        })
    ));
    let five = intents(50, 5, 0.0, 6);
    assert!(matches!(
        fit(&train, Some(&five)),
        Err(Error::ShapeMismatch { .. })
    ));
    Ok(())
}

/// A flipped weight byte, a manifest edited to another bucket count, or zero buckets are
/// refused with typed errors instead of loading a wrong model.
#[test]
fn bad_text_artifacts_are_refused() -> Result<(), Error> {
    let (m, _) = TextClassifier::fit(
        &small_cfg(4),
        &intents(200, 4, 0.0, 7),
        None,
        &quick_opts(2),
    )?;
    let good = m.to_artifact()?;
    let mut flipped = good.clone();
    flipped.weights[200] ^= 0x40;
    assert!(matches!(
        TextClassifier::from_artifact(&flipped),
        Err(Error::ChecksumMismatch { .. })
    ));
    let mut resized = good.clone();
    resized.manifest.config["ngrams"]["buckets"] = serde_json::json!(1 << 12);
    assert!(matches!(
        TextClassifier::from_artifact(&resized),
        Err(Error::ShapeMismatch { .. })
    ));
    let mut zero = good;
    zero.manifest.config["ngrams"]["buckets"] = serde_json::json!(0);
    assert!(matches!(
        TextClassifier::from_artifact(&zero),
        Err(Error::InvalidConfig { .. })
    ));
    Ok(())
}

/// A warm start continues from the parent: its first-epoch loss on fresh rows of the same
/// task is far below a fresh model's, and the parent id is in the report and manifest.
#[test]
fn text_warm_start_continues_from_parent() -> Result<(), Error> {
    let (old, new) = (intents(1500, 6, 0.0, 8), intents(600, 6, 0.0, 9));
    let opts = quick_opts(3);
    let (parent, _) = TextClassifier::fit(&small_cfg(6), &old, None, &opts)?;
    let (child, report) = parent.fine_tune(&new, None, &opts)?;
    let (_, fresh) = TextClassifier::fit(&small_cfg(6), &new, None, &opts)?;
    let first =
        |r: &ledgerloop_models::TrainReport| r.epochs.first().map_or(f64::NAN, |e| e.train_loss);
    eprintln!(
        "first-epoch loss: warm {:.3} fresh {:.3}",
        first(&report),
        first(&fresh)
    );
    assert!(first(&report) < 0.5 * first(&fresh));
    assert_eq!(report.mode, "fine_tune:full");
    assert_eq!(report.parent_model_id, Some(parent.model_id()?));
    assert_eq!(
        child.to_artifact()?.manifest.parent_model_id,
        Some(parent.model_id()?)
    );
    Ok(())
}

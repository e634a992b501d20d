//! Artifacts: round trip, determinism, checksum refusal, bad input as typed errors.

use ledgerloop_models::fixtures::blobs;
use ledgerloop_models::quant::QuantizedMlp;
use ledgerloop_models::{
    Artifact, Error, MlpConfig, Model, TabularDataset, TabularModel, TensorSet, TrainConfig,
};

fn small_opts(seed: u64) -> TrainConfig {
    TrainConfig {
        seed,
        max_epochs: 3,
        ..Default::default()
    }
}

fn small_model(n_classes: usize) -> Result<(TabularModel, TabularDataset), Error> {
    let data = blobs(3, 400, 4, n_classes, 0.6, 4);
    let (m, _) = TabularModel::fit(
        &MlpConfig::student(4, n_classes),
        &data,
        None,
        &small_opts(5),
    )?;
    Ok((m, data))
}

/// Same data + seed + thread count gives byte-identical safetensors; another seed differs.
#[test]
fn training_is_byte_deterministic() -> Result<(), Error> {
    let data = blobs(3, 1500, 8, 2, 0.6, 4);
    let cfg = MlpConfig::student(8, 2);
    let fit = |seed| TabularModel::fit(&cfg, &data, None, &small_opts(seed));
    let (a, b, c) = (fit(11)?.0, fit(11)?.0, fit(12)?.0);
    assert_eq!(a.weights_bytes()?, b.weights_bytes()?);
    assert_ne!(a.weights_bytes()?, c.weights_bytes()?);
    Ok(())
}

/// Save then load gives identical predictions and the manifest records provenance, shapes
/// and the SHA-256 of the bytes on disk.
#[test]
fn save_load_round_trip() -> Result<(), Error> {
    let data = blobs(3, 800, 8, 3, 0.6, 4);
    let (m, _) = TabularModel::fit(&MlpConfig::student(8, 3), &data, None, &small_opts(5))?;
    let dir = tempfile::tempdir().map_err(|source| Error::Io {
        path: "tempdir".into(),
        source,
    })?;
    let manifest = m.save(dir.path())?;
    assert_eq!(manifest.family, "tabular");
    assert_eq!(manifest.dataset_hash, data.content_hash());
    assert_eq!(manifest.seed, 5);
    assert_eq!(manifest.parameter_count, m.parameter_count());
    assert!(manifest.training_report.is_some());
    let names: Vec<&str> = manifest.tensors.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"layers.0.weight") && names.contains(&"input.mean"));
    let on_disk =
        std::fs::read(dir.path().join("model.safetensors")).map_err(|source| Error::Io {
            path: "model.safetensors".into(),
            source,
        })?;
    assert_eq!(manifest.weights_bytes, on_disk.len());
    assert_eq!(
        manifest.weights_sha256,
        ledgerloop_models::data::sha256_hex(&on_disk)
    );
    let loaded = TabularModel::load(dir.path())?;
    let x = &data.features[..80];
    assert_eq!(m.predict_proba(x)?, loaded.predict_proba(x)?);
    Ok(())
}

/// A flipped weight byte is ChecksumMismatch; a wrong family or an edited tensor list is
/// ArtifactMismatch; a truncated file is refused; an edited config is ShapeMismatch.
#[test]
fn corrupted_or_mismatched_artifact_is_refused() -> Result<(), Error> {
    let (m, _) = small_model(2)?;
    let good: Artifact = m.to_artifact()?;
    let load = |a: &Artifact| TabularModel::from_artifact(a).map(|_| ());
    let mut flipped = good.clone();
    let last = flipped.weights.len() - 1;
    flipped.weights[last] ^= 1;
    assert!(matches!(
        load(&flipped),
        Err(Error::ChecksumMismatch { .. })
    ));
    let mut family = good.clone();
    family.manifest.family = "text".into();
    assert!(matches!(load(&family), Err(Error::ArtifactMismatch { .. })));
    let mut listed = good.clone();
    listed.manifest.tensors.pop();
    assert!(matches!(load(&listed), Err(Error::ArtifactMismatch { .. })));
    let mut truncated = good.clone();
    truncated.weights.truncate(10);
    assert!(load(&truncated).is_err());
    let mut edited = good;
    edited.manifest.config["n_features"] = serde_json::json!(5);
    assert!(matches!(load(&edited), Err(Error::ShapeMismatch { .. })));
    Ok(())
}

/// Re-signs `set` under `config` as a tabular artifact (what a careless tool might write).
fn resign(set: &TensorSet, config: &serde_json::Value) -> Result<Artifact, Error> {
    let fields = ledgerloop_models::artifact::ManifestFields {
        family: "tabular".into(),
        config: config.clone(),
        parameter_count: 0,
        dataset_hash: String::new(),
        seed: 0,
        parent_model_id: None,
        training_report: None,
    };
    Artifact::build(set, fields)
}

/// A re-signed weights file missing a tensor is MissingTensor, and one with a zero input
/// std is ArtifactMismatch: loaders check content, not only the checksum.
#[test]
fn resigned_bad_weights_are_typed_errors() -> Result<(), Error> {
    let (m, _) = small_model(2)?;
    let art = m.to_artifact()?;
    let mut missing = TensorSet::deserialize(&art.weights)?;
    missing.tensors.remove("layers.1.bias");
    assert!(matches!(
        TabularModel::from_artifact(&resign(&missing, &art.manifest.config)?),
        Err(Error::MissingTensor { name }) if name == "layers.1.bias"
    ));
    let mut zero_std = TensorSet::deserialize(&art.weights)?;
    zero_std.insert_f32("input.std", vec![4], vec![1.0, 0.0, 1.0, 1.0]);
    assert!(matches!(
        TabularModel::from_artifact(&resign(&zero_std, &art.manifest.config)?),
        Err(Error::ArtifactMismatch { .. })
    ));
    Ok(())
}

/// An int8 artifact round-trips; one whose manifest layers do not chain is refused.
#[test]
fn int8_artifact_checks() -> Result<(), Error> {
    let (m, data) = small_model(2)?;
    let q = QuantizedMlp::from_model(&m)?;
    let art = q.to_artifact()?;
    assert_eq!(art.manifest.family, "tabular_int8");
    let back = QuantizedMlp::from_artifact(&art)?;
    assert_eq!(
        back.predict_proba(data.row(1))?,
        q.predict_proba(data.row(1))?
    );
    let mut broken = art.clone();
    broken.manifest.config["layers"] = serde_json::json!([[0, 64], [64, 32], [32, 2]]);
    assert!(matches!(
        QuantizedMlp::from_artifact(&broken),
        Err(Error::ArtifactMismatch { .. })
    ));
    let mut wrong = art;
    wrong.manifest.config["n_features"] = serde_json::json!(0);
    assert!(QuantizedMlp::from_artifact(&wrong).is_err());
    Ok(())
}

/// Wrong feature count, NaN/inf in rows to score or to train on, empty data and unknown
/// labels are typed errors, not panics.
#[test]
fn bad_input_is_typed_error() -> Result<(), Error> {
    let (m, data) = small_model(2)?;
    let cfg = MlpConfig::student(4, 2);
    assert!(matches!(
        m.predict_proba(&[1.0, 2.0, 3.0]),
        Err(Error::FeatureCount { .. })
    ));
    assert!(matches!(
        m.predict_proba(&[1.0, f32::NAN, 3.0, 4.0]),
        Err(Error::NonFinite {
            row: 0,
            column: 1,
            ..
        })
    ));
    assert!(matches!(
        m.predict_proba(&[1.0, 2.0, 3.0, 4.0, 1.0, 2.0, f32::INFINITY, 4.0]),
        Err(Error::NonFinite {
            row: 1,
            column: 2,
            ..
        })
    ));
    let fit = |d: &TabularDataset, o: &TrainConfig| TabularModel::fit(&cfg, d, None, o).map(|_| ());
    let empty = TabularDataset {
        n_features: 4,
        n_classes: 2,
        features: vec![],
        labels: vec![],
    };
    assert!(matches!(
        fit(&empty, &small_opts(1)),
        Err(Error::EmptyDataset { .. })
    ));
    let mut bad = data.clone();
    bad.labels[7] = 9;
    assert!(matches!(
        fit(&bad, &small_opts(1)),
        Err(Error::UnknownLabel {
            label: 9,
            row: 7,
            ..
        })
    ));
    let mut nan = data.clone();
    nan.features[13] = f32::NEG_INFINITY;
    assert!(matches!(
        fit(&nan, &small_opts(1)),
        Err(Error::NonFinite {
            row: 3,
            column: 1,
            ..
        })
    ));
    Ok(())
}

/// A dataset of the wrong width, a zero batch size and a zero-width layer are typed errors;
/// scoring no rows is not an error.
#[test]
fn bad_shapes_and_options_are_typed_errors() -> Result<(), Error> {
    let (m, data) = small_model(2)?;
    let cfg = MlpConfig::student(4, 2);
    let fit = |d: &TabularDataset, o: &TrainConfig| TabularModel::fit(&cfg, d, None, o).map(|_| ());
    let other = blobs(3, 50, 5, 2, 0.6, 4);
    assert!(matches!(
        fit(&other, &small_opts(1)),
        Err(Error::FeatureCount { .. })
    ));
    let zero_batch = TrainConfig {
        batch_size: 0,
        ..small_opts(1)
    };
    assert!(matches!(
        fit(&data, &zero_batch),
        Err(Error::InvalidConfig { .. })
    ));
    let bad_cfg = MlpConfig {
        hidden: vec![0],
        ..cfg.clone()
    };
    assert!(matches!(
        TabularModel::fit(&bad_cfg, &data, None, &small_opts(1)),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(m.predict_proba(&[])?.is_empty());
    Ok(())
}

/// Weights alone load back (architecture read from the tensor shapes) with the same id
/// and predictions; int8 weights and bytes that are not safetensors are typed errors.
#[test]
fn tabular_model_loads_from_weights_alone() -> Result<(), Error> {
    let data = blobs(3, 800, 8, 3, 0.6, 4);
    let cfg = MlpConfig {
        n_features: 8,
        n_classes: 3,
        hidden: vec![16, 12, 6],
    };
    let (m, _) = TabularModel::fit(&cfg, &data, None, &small_opts(5))?;
    let back = TabularModel::from_weights(&m.weights_bytes()?)?;
    assert_eq!(back.config(), &cfg);
    assert_eq!(back.model_id()?, m.model_id()?);
    let x = &data.features[..80];
    assert_eq!(m.predict_proba(x)?, back.predict_proba(x)?);
    let int8 = QuantizedMlp::from_model(&m)?.to_artifact()?.weights;
    assert!(TabularModel::from_weights(&int8).is_err());
    assert!(TabularModel::from_weights(b"not safetensors").is_err());
    Ok(())
}

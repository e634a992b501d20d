//! The host's data: labelled rows in arrival order, the feature transform every model
//! of a run shares, and the served models.
//!
//! Row stores are append-only and indexed from 0, matching the Trainer's row ranges:
//! label row `i` is the `i`-th label the oracle delivered, pseudo-label row `j` the
//! `j`-th pseudo-label the Perceiver accepted. The warm-up store holds the rows the
//! first model trained on; the Trainer's replay pool is the warm-up rows followed by
//! the label rows already used.

use std::sync::Arc;

use ledgerloop_models::text::{TextClassifier, TextDataset};
use ledgerloop_models::{Model as _, TabularDataset, TabularModel};
use ledgerloop_sim::data::{Inputs, TaskShape};
use ledgerloop_sim::learner::Classifier;
use serde::{Deserialize, Serialize};

use crate::error::{model, Result};

/// Labelled rows with the slice each came from: tabular (`n_features` > 0, raw features
/// row-major) or text (`n_features` = 0, one text per row).
#[derive(Debug, Clone, Default)]
pub struct RowStore {
    /// Columns per row; 0 for text rows.
    pub n_features: usize,
    /// Raw features, row-major (tabular rows).
    pub features: Vec<f32>,
    /// One text per row (text rows).
    pub texts: Vec<String>,
    /// Label per row.
    pub labels: Vec<u32>,
    /// Slice per row.
    pub slices: Vec<u16>,
}

impl RowStore {
    /// An empty store of `n_features` columns.
    pub fn new(n_features: usize) -> Self {
        Self {
            n_features,
            ..Self::default()
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Row `i`'s raw features.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * self.n_features..(i + 1) * self.n_features]
    }

    /// Appends one tabular row.
    pub fn push(&mut self, features: &[f32], label: u32, slice: u16) {
        debug_assert_eq!(features.len(), self.n_features);
        self.features.extend_from_slice(features);
        self.labels.push(label);
        self.slices.push(slice);
    }

    /// Appends one text row.
    pub fn push_text(&mut self, text: &str, label: u32, slice: u16) {
        debug_assert_eq!(self.n_features, 0);
        self.texts.push(text.to_string());
        self.labels.push(label);
        self.slices.push(slice);
    }

    /// Appends row `i` of `other`.
    pub fn push_from(&mut self, other: &RowStore, i: usize) {
        if other.n_features == 0 {
            self.push_text(&other.texts[i], other.labels[i], other.slices[i]);
        } else {
            self.push(other.row(i), other.labels[i], other.slices[i]);
        }
    }

    /// The rows as model inputs.
    pub fn inputs(&self) -> Inputs {
        if self.n_features == 0 {
            Inputs::Text {
                texts: self.texts.clone(),
            }
        } else {
            Inputs::Tabular {
                n_features: self.n_features,
                values: self.features.clone(),
            }
        }
    }

    /// The rows `[from, to)` (clamped to what is held).
    pub fn range(&self, from: usize, to: usize) -> RowStore {
        let to = to.min(self.len());
        let from = from.min(to);
        let texts = if self.n_features == 0 {
            self.texts[from..to].to_vec()
        } else {
            Vec::new()
        };
        RowStore {
            n_features: self.n_features,
            features: self.features[from * self.n_features..to * self.n_features].to_vec(),
            texts,
            labels: self.labels[from..to].to_vec(),
            slices: self.slices[from..to].to_vec(),
        }
    }

    /// Appends every row of `other`.
    pub fn extend(&mut self, other: &RowStore) {
        self.features.extend_from_slice(&other.features);
        self.texts.extend_from_slice(&other.texts);
        self.labels.extend_from_slice(&other.labels);
        self.slices.extend_from_slice(&other.slices);
    }
}

/// Rows as recorded beside the event that delivered them: the rows, and for the
/// warm-up set the facts a deep audit needs to redo the first fit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RowsRecord {
    /// Columns per row.
    pub n_features: usize,
    /// Raw features, row-major.
    pub features: Vec<f32>,
    /// Texts (text rows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub texts: Vec<String>,
    /// Label per row.
    pub labels: Vec<u32>,
    /// Slice per row.
    pub slices: Vec<u16>,
    /// Warm-up only: rows `[0, train_rows)` trained the first model, the rest are the
    /// old-distribution holdout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_rows: Option<usize>,
    /// Warm-up only: which columns are log-scaled, the classes and slice names, and the
    /// seed of the first fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world: Option<WorldFacts>,
}

/// What the host knew of the world at the start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorldFacts {
    /// Per column, whether it is log-scaled.
    pub log_scale: Vec<bool>,
    /// Number of classes.
    pub n_classes: usize,
    /// Slice names.
    pub slice_names: Vec<String>,
    /// Seed of the first fit.
    pub seed: u64,
}

impl RowsRecord {
    /// The record of a store's rows.
    pub fn of(rows: &RowStore) -> Self {
        Self {
            n_features: rows.n_features,
            features: rows.features.clone(),
            texts: rows.texts.clone(),
            labels: rows.labels.clone(),
            slices: rows.slices.clone(),
            train_rows: None,
            world: None,
        }
    }

    /// The rows as a store, refusing inconsistent lengths.
    pub fn store(&self) -> std::result::Result<RowStore, String> {
        let n = self.labels.len();
        let texts = if self.n_features == 0 { n } else { 0 };
        if self.features.len() != n * self.n_features
            || self.texts.len() != texts
            || self.slices.len() != n
        {
            return Err(format!(
                "rows record: {} values, {} labels, {} slices for {} columns",
                self.features.len(),
                n,
                self.slices.len(),
                self.n_features
            ));
        }
        Ok(RowStore {
            n_features: self.n_features,
            features: self.features.clone(),
            texts: self.texts.clone(),
            labels: self.labels.clone(),
            slices: self.slices.clone(),
        })
    }
}

/// The transform from raw readings to model inputs: `ln(1 + max(x, 0))` for the heavy-
/// tailed counters the world marks `log_scale`, identity otherwise. Standardisation is
/// inside each model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureTransform {
    log_scale: Vec<bool>,
}

impl FeatureTransform {
    /// The transform of a world's columns.
    pub fn of(shape: &TaskShape) -> Self {
        Self {
            log_scale: shape.features.iter().map(|f| f.log_scale).collect(),
        }
    }

    /// The transform from recorded flags.
    pub fn from_flags(log_scale: Vec<bool>) -> Self {
        Self { log_scale }
    }

    /// Which columns are log-scaled.
    pub fn log_scale(&self) -> &[bool] {
        &self.log_scale
    }

    /// Columns per row.
    pub fn n_features(&self) -> usize {
        self.log_scale.len()
    }

    /// Transforms row-major raw values.
    pub fn apply(&self, raw: &[f32]) -> Vec<f32> {
        let n = self.log_scale.len().max(1);
        raw.iter()
            .enumerate()
            .map(|(i, &x)| {
                if self.log_scale[i % n] {
                    x.max(0.0).ln_1p()
                } else {
                    x
                }
            })
            .collect()
    }

    /// A text training set.
    pub fn text_dataset(rows: &RowStore, n_classes: usize) -> TextDataset {
        TextDataset {
            texts: rows.texts.clone(),
            labels: rows.labels.clone(),
            n_classes,
        }
    }

    /// A training set from raw rows.
    pub fn dataset(&self, rows: &RowStore, n_classes: usize) -> TabularDataset {
        TabularDataset {
            n_features: rows.n_features,
            n_classes,
            features: self.apply(&rows.features),
            labels: rows.labels.clone(),
        }
    }
}

/// The network behind a served version.
#[derive(Debug, Clone)]
pub enum Net {
    /// An MLP over transformed tabular features.
    Tabular(Arc<TabularModel>),
    /// A hashed n-gram text classifier.
    Text(Arc<TextClassifier>),
}

/// A model version the route may name.
#[derive(Debug, Clone)]
pub struct ServedModel {
    /// Version name (the artifact's model id).
    pub model_id: String,
    /// SHA-256 of the weights.
    pub artifact_sha256: String,
    /// Weights bytes.
    pub size_bytes: u64,
    /// Parameters.
    pub parameter_count: u64,
    /// The network.
    pub net: Net,
    transform: Arc<FeatureTransform>,
}

impl ServedModel {
    /// Wraps a trained tabular model.
    pub fn new(model: TabularModel, transform: Arc<FeatureTransform>) -> Result<Self> {
        let artifact = model.to_artifact().map_err(model_err())?;
        let parameters = model.parameter_count();
        Ok(Self::wrap(
            &artifact,
            parameters,
            Net::Tabular(Arc::new(model)),
            transform,
        ))
    }

    /// Wraps a trained text model.
    pub fn new_text(model: TextClassifier) -> Result<Self> {
        let artifact = model.to_artifact().map_err(model_err())?;
        let parameters = model.parameter_count();
        let net = Net::Text(Arc::new(model));
        Ok(Self::wrap(&artifact, parameters, net, Arc::default()))
    }

    fn wrap(
        artifact: &ledgerloop_models::Artifact,
        parameters: usize,
        net: Net,
        transform: Arc<FeatureTransform>,
    ) -> Self {
        Self {
            model_id: artifact.manifest.model_id.clone(),
            artifact_sha256: artifact.manifest.weights_sha256.clone(),
            size_bytes: artifact.weights.len() as u64,
            parameter_count: parameters as u64,
            net,
            transform,
        }
    }

    /// The weights as stored in the artifacts folder.
    pub fn weights(&self) -> Result<Vec<u8>> {
        let artifact = match &self.net {
            Net::Tabular(m) => m.to_artifact(),
            Net::Text(m) => m.to_artifact(),
        };
        Ok(artifact.map_err(model_err())?.weights)
    }

    /// The model family (`tabular`, `text`).
    pub fn family(&self) -> &'static str {
        match &self.net {
            Net::Tabular(m) => m.family(),
            Net::Text(m) => m.family(),
        }
    }

    /// Class probabilities of raw inputs, row-major.
    pub fn proba(&self, inputs: &Inputs) -> Result<Vec<f32>> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let what = || format!("predicting with {}", self.model_id);
        match (&self.net, inputs) {
            (Net::Tabular(m), Inputs::Tabular { values, .. }) => m
                .predict_proba(&self.transform.apply(values))
                .map_err(model(what())),
            (Net::Text(m), Inputs::Text { texts }) => {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                m.predict_proba(&refs).map_err(model(what()))
            }
            _ => Err(crate::Error::Replay {
                stream: "models".into(),
                sequence: 0,
                reason: format!("{} cannot read these inputs", self.model_id),
            }),
        }
    }

    /// Top class of each row.
    pub fn classes(&self, inputs: &Inputs) -> Result<Vec<u32>> {
        let n_classes = match &self.net {
            Net::Tabular(m) => m.config().n_classes,
            Net::Text(m) => m.config().n_classes,
        };
        let p = self.proba(inputs)?;
        Ok(ledgerloop_models::metrics::argmax_rows(&p, n_classes))
    }
}

fn model_err() -> impl FnOnce(ledgerloop_models::Error) -> crate::Error {
    model("building the artifact")
}

impl Classifier for ServedModel {
    fn predict(&self, inputs: &Inputs, out: &mut Vec<u32>) -> ledgerloop_sim::Result<()> {
        let classes = self
            .classes(inputs)
            .map_err(|e| ledgerloop_sim::Error::Learner {
                learner: self.model_id.clone(),
                reason: e.to_string(),
            })?;
        out.clear();
        out.extend(classes);
        Ok(())
    }
}

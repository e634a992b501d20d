//! The host's data: labelled rows in arrival order, the feature transform every model
//! of a run shares, and the served models.
//!
//! Row stores are append-only and indexed from 0, matching the Trainer's row ranges:
//! label row `i` is the `i`-th label the oracle delivered, pseudo-label row `j` the
//! `j`-th pseudo-label the Perceiver accepted. The warm-up store holds the rows the
//! first model trained on; the Trainer's replay pool is the warm-up rows followed by
//! the label rows already used.

use std::sync::Arc;

use ledgerloop_models::{Model as _, TabularDataset, TabularModel};
use ledgerloop_sim::data::{Inputs, TaskShape};
use ledgerloop_sim::learner::Classifier;
use serde::{Deserialize, Serialize};

use crate::error::{model, Result};

/// Labelled tabular rows with the slice and hour each came from.
#[derive(Debug, Clone, Default)]
pub struct RowStore {
    /// Columns per row.
    pub n_features: usize,
    /// Raw features, row-major.
    pub features: Vec<f32>,
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

    /// Appends one row.
    pub fn push(&mut self, features: &[f32], label: u32, slice: u16) {
        debug_assert_eq!(features.len(), self.n_features);
        self.features.extend_from_slice(features);
        self.labels.push(label);
        self.slices.push(slice);
    }

    /// Appends row `i` of `other`.
    pub fn push_from(&mut self, other: &RowStore, i: usize) {
        self.push(other.row(i), other.labels[i], other.slices[i]);
    }

    /// The rows `[from, to)` (clamped to what is held).
    pub fn range(&self, from: usize, to: usize) -> RowStore {
        let to = to.min(self.len());
        let from = from.min(to);
        RowStore {
            n_features: self.n_features,
            features: self.features[from * self.n_features..to * self.n_features].to_vec(),
            labels: self.labels[from..to].to_vec(),
            slices: self.slices[from..to].to_vec(),
        }
    }

    /// Appends every row of `other`.
    pub fn extend(&mut self, other: &RowStore) {
        self.features.extend_from_slice(&other.features);
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
            labels: rows.labels.clone(),
            slices: rows.slices.clone(),
            train_rows: None,
            world: None,
        }
    }

    /// The rows as a store, refusing inconsistent lengths.
    pub fn store(&self) -> std::result::Result<RowStore, String> {
        let n = self.labels.len();
        if self.n_features == 0
            || self.features.len() != n * self.n_features
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

/// A model version the route may name.
#[derive(Debug, Clone)]
pub struct ServedModel {
    /// Version name (the artifact's model id).
    pub model_id: String,
    /// SHA-256 of the weights.
    pub artifact_sha256: String,
    /// Weights bytes.
    pub size_bytes: u64,
    /// The network.
    pub model: Arc<TabularModel>,
    transform: Arc<FeatureTransform>,
}

impl ServedModel {
    /// Wraps a trained model.
    pub fn new(model: TabularModel, transform: Arc<FeatureTransform>) -> Result<Self> {
        let artifact = model.to_artifact().map_err(model_err())?;
        Ok(Self {
            model_id: artifact.manifest.model_id.clone(),
            artifact_sha256: artifact.manifest.weights_sha256.clone(),
            size_bytes: artifact.weights.len() as u64,
            model: Arc::new(model),
            transform,
        })
    }

    /// Class probabilities of raw rows, row-major.
    pub fn proba(&self, raw: &[f32]) -> Result<Vec<f32>> {
        if raw.is_empty() {
            return Ok(Vec::new());
        }
        self.model
            .predict_proba(&self.transform.apply(raw))
            .map_err(model(format!("predicting with {}", self.model_id)))
    }

    /// Top class of each raw row.
    pub fn classes(&self, raw: &[f32]) -> Result<Vec<u32>> {
        if raw.is_empty() {
            return Ok(Vec::new());
        }
        self.model
            .predict(&self.transform.apply(raw))
            .map_err(model(format!("predicting with {}", self.model_id)))
    }
}

fn model_err() -> impl FnOnce(ledgerloop_models::Error) -> crate::Error {
    model("building the artifact")
}

impl Classifier for ServedModel {
    fn predict(&self, inputs: &Inputs, out: &mut Vec<u32>) -> ledgerloop_sim::Result<()> {
        let Inputs::Tabular { values, .. } = inputs else {
            return Err(ledgerloop_sim::Error::Learner {
                learner: self.model_id.clone(),
                reason: "the governed host serves tabular worlds only".into(),
            });
        };
        let classes = self
            .classes(values)
            .map_err(|e| ledgerloop_sim::Error::Learner {
                learner: self.model_id.clone(),
                reason: e.to_string(),
            })?;
        out.clear();
        out.extend(classes);
        Ok(())
    }
}

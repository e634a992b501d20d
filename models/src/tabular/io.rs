//! Saving and loading tabular models as artifacts (`impl Model for TabularModel`).
//!
//! Tensor names: `input.mean`, `input.std` (`[n_features]`), and per linear layer `i`
//! `layers.{i}.weight` (`[out, in]`, PyTorch `nn.Linear` layout) and `layers.{i}.bias`.

use super::{MlpConfig, Provenance, TabularModel, TrainConfig};
use crate::artifact::{Artifact, ManifestFields, Model, TensorSet};
use crate::data::{Standardizer, TabularDataset};
use crate::dense::DenseLayer;
use crate::report::TrainReport;
use crate::{Error, Result};

pub(crate) const FAMILY: &str = "tabular";

impl TabularModel {
    /// The weights as named tensors.
    pub(crate) fn tensor_set(&self) -> TensorSet {
        let nf = self.config.n_features;
        let mut set = TensorSet::default();
        set.insert_f32("input.mean", vec![nf], self.standardizer.mean.clone());
        set.insert_f32("input.std", vec![nf], self.standardizer.std.clone());
        for (i, l) in self.layers.iter().enumerate() {
            let shape = vec![l.out_features, l.in_features];
            set.insert_f32(&format!("layers.{i}.weight"), shape, l.weight.clone());
            set.insert_f32(
                &format!("layers.{i}.bias"),
                vec![l.out_features],
                l.bias.clone(),
            );
        }
        set
    }

    /// Just the safetensors bytes (what the determinism test compares).
    pub fn weights_bytes(&self) -> Result<Vec<u8>> {
        self.tensor_set().serialize()
    }

    /// Loads a model from its safetensors bytes alone (a run folder stores weights
    /// without a manifest): the shapes of `layers.{i}.weight` give the architecture, and
    /// the loaded weights re-serialise to exactly `weights`, so the model id is the one
    /// the bytes were stored under. Provenance (seed, dataset, parent) is not in the
    /// weights and comes back empty.
    pub fn from_weights(weights: &[u8]) -> Result<Self> {
        let set = TensorSet::deserialize(weights)?;
        let mut hidden = Vec::new();
        let mut n_features = None;
        let mut n_classes = None;
        for i in 0.. {
            let Some((shape, _)) = set.tensors.get(&format!("layers.{i}.weight")) else {
                break;
            };
            let &[out, inp] = shape.as_slice() else {
                return Err(Error::ArtifactMismatch {
                    reason: format!(
                        "tensor `layers.{i}.weight` has shape {shape:?}, not [out, in]"
                    ),
                });
            };
            n_features.get_or_insert(inp);
            if let Some(previous) = n_classes.replace(out) {
                hidden.push(previous);
            }
        }
        let (Some(n_features), Some(n_classes)) = (n_features, n_classes) else {
            return Err(Error::MissingTensor {
                name: "layers.0.weight".into(),
            });
        };
        let config = MlpConfig {
            n_features,
            n_classes,
            hidden,
        };
        let manifest_fields = ManifestFields {
            family: FAMILY.into(),
            config: serde_json::to_value(&config)?,
            parameter_count: config.parameter_count(),
            dataset_hash: String::new(),
            seed: 0,
            parent_model_id: None,
            training_report: None,
        };
        let artifact = Artifact::build(&set, manifest_fields)?;
        if artifact.weights != weights {
            return Err(Error::ArtifactMismatch {
                reason: "the weights hold tensors besides the MLP's, or are not in canonical \
                         order"
                    .into(),
            });
        }
        Self::from_artifact(&artifact)
    }
}

impl Model for TabularModel {
    type Dataset = TabularDataset;
    type Config = MlpConfig;
    type Options = TrainConfig;
    type Input<'a> = &'a [f32];

    fn family(&self) -> &'static str {
        FAMILY
    }

    fn fit(
        cfg: &MlpConfig,
        train: &TabularDataset,
        valid: Option<&TabularDataset>,
        opts: &TrainConfig,
    ) -> Result<(Self, TrainReport)> {
        TabularModel::fit(cfg, train, valid, opts)
    }

    fn predict_proba_batch(&self, input: &[f32]) -> Result<Vec<f32>> {
        self.predict_proba(input)
    }

    fn to_artifact(&self) -> Result<Artifact> {
        let p = &self.provenance;
        Artifact::build(
            &self.tensor_set(),
            ManifestFields {
                family: FAMILY.into(),
                config: serde_json::to_value(&self.config)?,
                parameter_count: self.parameter_count(),
                dataset_hash: p.dataset_hash.clone(),
                seed: p.seed,
                parent_model_id: p.parent_model_id.clone(),
                training_report: p.report.clone(),
            },
        )
    }

    fn from_artifact(artifact: &Artifact) -> Result<Self> {
        let set = artifact.verify_family(FAMILY)?;
        let m = &artifact.manifest;
        let config: MlpConfig = serde_json::from_value(m.config.clone())?;
        config.validate()?;
        let nf = config.n_features;
        let standardizer = Standardizer {
            mean: set.f32("input.mean", &[nf])?,
            std: set.f32("input.std", &[nf])?,
        };
        standardizer.validate()?;
        let mut layers = Vec::new();
        for (i, (inp, out)) in config.layer_dims().into_iter().enumerate() {
            layers.push(DenseLayer {
                in_features: inp,
                out_features: out,
                weight: set.f32(&format!("layers.{i}.weight"), &[out, inp])?,
                bias: set.f32(&format!("layers.{i}.bias"), &[out])?,
            });
        }
        let provenance = Provenance {
            seed: m.seed,
            dataset_hash: m.dataset_hash.clone(),
            parent_model_id: m.parent_model_id.clone(),
            report: m.training_report.clone(),
        };
        TabularModel::from_parts(config, standardizer, layers, provenance)
    }
}

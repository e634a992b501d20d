//! Artifacts: safetensors weights plus a JSON manifest. Loading re-hashes the weights and
//! refuses a mismatch. Tensor names are PyTorch-friendly (see models/README.md).

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use crate::data::sha256_hex;
use crate::report::TrainReport;
use crate::{Error, Result};

/// Manifest format version written today.
pub const MANIFEST_VERSION: u32 = 1;
/// File names inside an artifact directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const MANIFEST_FILE: &str = "manifest.json";

/// Name, dtype and shape of one stored tensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
}

/// Everything known about a model besides its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// `<family>-<first 16 hex of weights_sha256>`: stable for identical weights.
    pub model_id: String,
    /// `tabular`, `tabular_int8`, `text`, `recommender`.
    pub family: String,
    pub config: serde_json::Value,
    pub tensors: Vec<TensorInfo>,
    pub parameter_count: usize,
    pub weights_bytes: usize,
    pub weights_sha256: String,
    pub dataset_hash: String,
    pub seed: u64,
    pub parent_model_id: Option<String>,
    pub training_report: Option<TrainReport>,
}

/// Weights bytes + manifest, in memory (what the runtime puts in an object store).
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    pub manifest: Manifest,
    pub weights: Vec<u8>,
}

/// One tensor's data before serialisation.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    I8(Vec<i8>),
    F16(Vec<half::f16>),
}

/// Named tensors in a sorted map, so serialisation order never depends on hashing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorSet {
    pub tensors: BTreeMap<String, (Vec<usize>, TensorData)>,
}

impl TensorSet {
    pub fn insert_f32(&mut self, name: &str, shape: Vec<usize>, data: Vec<f32>) {
        self.tensors
            .insert(name.into(), (shape, TensorData::F32(data)));
    }

    pub fn insert_f16(&mut self, name: &str, shape: Vec<usize>, data: Vec<half::f16>) {
        self.tensors
            .insert(name.into(), (shape, TensorData::F16(data)));
    }

    pub fn insert_i8(&mut self, name: &str, shape: Vec<usize>, data: Vec<i8>) {
        self.tensors
            .insert(name.into(), (shape, TensorData::I8(data)));
    }

    /// Little-endian safetensors bytes; identical inputs give identical bytes.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        let bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(name, (shape, data))| {
                let (dtype, b) = match data {
                    TensorData::F32(v) => {
                        (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect())
                    }
                    TensorData::I8(v) => {
                        (Dtype::I8, v.iter().map(|x| x.to_le_bytes()[0]).collect())
                    }
                    TensorData::F16(v) => {
                        (Dtype::F16, v.iter().flat_map(|x| x.to_le_bytes()).collect())
                    }
                };
                (name.clone(), dtype, shape.clone(), b)
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(n, d, s, b)| Ok((n.clone(), TensorView::new(*d, s.clone(), b)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(safetensors::tensor::serialize(views, None)?)
    }

    /// Parses safetensors bytes (F32 and I8 tensors only).
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes)?;
        let mut out = TensorSet::default();
        for (name, view) in st.tensors() {
            let shape = view.shape().to_vec();
            let data = match view.dtype() {
                Dtype::F32 => TensorData::F32(
                    view.data()
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                ),
                Dtype::I8 => TensorData::I8(view.data().iter().map(|&b| b as i8).collect()),
                Dtype::F16 => TensorData::F16(
                    view.data()
                        .chunks_exact(2)
                        .map(|c| half::f16::from_le_bytes([c[0], c[1]]))
                        .collect(),
                ),
                other => {
                    return Err(Error::ArtifactMismatch {
                        reason: format!("tensor `{name}` has unsupported dtype {other:?}"),
                    })
                }
            };
            out.tensors.insert(name, (shape, data));
        }
        Ok(out)
    }

    /// The f32 tensor `name`, checked against `shape`.
    pub fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        match self.get(name, shape)? {
            TensorData::F32(v) => Ok(v.clone()),
            _ => Err(dtype_err(name, "F32")),
        }
    }

    /// The i8 tensor `name`, checked against `shape`.
    pub fn i8(&self, name: &str, shape: &[usize]) -> Result<Vec<i8>> {
        match self.get(name, shape)? {
            TensorData::I8(v) => Ok(v.clone()),
            _ => Err(dtype_err(name, "I8")),
        }
    }

    /// The f16 tensor `name`, checked against `shape`.
    pub fn f16(&self, name: &str, shape: &[usize]) -> Result<Vec<half::f16>> {
        match self.get(name, shape)? {
            TensorData::F16(v) => Ok(v.clone()),
            _ => Err(dtype_err(name, "F16")),
        }
    }

    fn get(&self, name: &str, shape: &[usize]) -> Result<&TensorData> {
        let (s, d) = self
            .tensors
            .get(name)
            .ok_or_else(|| Error::MissingTensor { name: name.into() })?;
        if s != shape {
            return Err(Error::ShapeMismatch {
                what: format!("tensor `{name}`"),
                expected: format!("{shape:?}"),
                got: format!("{s:?}"),
            });
        }
        Ok(d)
    }

    /// Tensor infos in name order, for the manifest.
    pub fn infos(&self) -> Vec<TensorInfo> {
        self.tensors
            .iter()
            .map(|(name, (shape, d))| TensorInfo {
                name: name.clone(),
                dtype: match d {
                    TensorData::F32(_) => "F32".into(),
                    TensorData::I8(_) => "I8".into(),
                    TensorData::F16(_) => "F16".into(),
                },
                shape: shape.clone(),
            })
            .collect()
    }

    /// Bytes of tensor data (no header): the size figure compression compares.
    pub fn data_bytes(&self) -> usize {
        self.tensors
            .values()
            .map(|(_, d)| match d {
                TensorData::F32(v) => v.len() * 4,
                TensorData::I8(v) => v.len(),
                TensorData::F16(v) => v.len() * 2,
            })
            .sum()
    }

    /// Total number of stored values.
    pub fn element_count(&self) -> usize {
        self.tensors
            .values()
            .map(|(s, _)| s.iter().product::<usize>())
            .sum()
    }
}

fn dtype_err(name: &str, want: &str) -> Error {
    Error::ArtifactMismatch {
        reason: format!("tensor `{name}` should be {want}"),
    }
}

/// What a family supplies to build its manifest.
#[derive(Debug, Clone)]
pub struct ManifestFields {
    pub family: String,
    pub config: serde_json::Value,
    pub parameter_count: usize,
    pub dataset_hash: String,
    pub seed: u64,
    pub parent_model_id: Option<String>,
    pub training_report: Option<TrainReport>,
}

impl Artifact {
    /// Serialises `tensors` and fills in the hash-derived manifest fields.
    pub fn build(tensors: &TensorSet, fields: ManifestFields) -> Result<Self> {
        let weights = tensors.serialize()?;
        let sha = sha256_hex(&weights);
        let manifest = Manifest {
            format_version: MANIFEST_VERSION,
            model_id: format!("{}-{}", fields.family, &sha[..16]),
            family: fields.family,
            config: fields.config,
            tensors: tensors.infos(),
            parameter_count: fields.parameter_count,
            weights_bytes: weights.len(),
            weights_sha256: sha,
            dataset_hash: fields.dataset_hash,
            seed: fields.seed,
            parent_model_id: fields.parent_model_id,
            training_report: fields.training_report,
        };
        Ok(Self { manifest, weights })
    }

    /// Checks the SHA-256 and size of the weights against the manifest, and the tensor list.
    pub fn verify(&self) -> Result<TensorSet> {
        let actual = sha256_hex(&self.weights);
        if actual != self.manifest.weights_sha256 {
            return Err(Error::ChecksumMismatch {
                expected: self.manifest.weights_sha256.clone(),
                actual,
            });
        }
        if self.manifest.format_version != MANIFEST_VERSION {
            return Err(Error::ArtifactMismatch {
                reason: format!(
                    "manifest version {} unsupported",
                    self.manifest.format_version
                ),
            });
        }
        let set = TensorSet::deserialize(&self.weights)?;
        if set.infos() != self.manifest.tensors {
            return Err(Error::ArtifactMismatch {
                reason: "tensor list differs from manifest".into(),
            });
        }
        Ok(set)
    }

    /// Verifies and checks the family before a family-specific load.
    pub fn verify_family(&self, family: &str) -> Result<TensorSet> {
        if self.manifest.family != family {
            return Err(Error::ArtifactMismatch {
                reason: format!(
                    "expected family `{family}`, artifact is `{}`",
                    self.manifest.family
                ),
            });
        }
        self.verify()
    }

    /// Writes `model.safetensors` and `manifest.json` into `dir` (created if absent).
    pub fn write_dir(&self, dir: &Path) -> Result<()> {
        let io = |p: &Path| {
            let path = p.display().to_string();
            move |source| Error::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let w = dir.join(WEIGHTS_FILE);
        std::fs::write(&w, &self.weights).map_err(io(&w))?;
        let m = dir.join(MANIFEST_FILE);
        let json = serde_json::to_vec_pretty(&self.manifest)?;
        std::fs::write(&m, json).map_err(io(&m))?;
        Ok(())
    }

    /// Reads an artifact directory and verifies it.
    pub fn read_dir(dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|source| Error::Io {
                path: p.display().to_string(),
                source,
            })
        };
        let manifest: Manifest = serde_json::from_slice(&read(MANIFEST_FILE)?)?;
        let art = Self {
            manifest,
            weights: read(WEIGHTS_FILE)?,
        };
        art.verify()?;
        Ok(art)
    }
}

/// The one trait every model family implements: fit, predict probabilities, save, load,
/// describe. Inputs and options differ per family, so they are associated types.
pub trait Model: Sized {
    /// Training data type.
    type Dataset;
    /// Architecture configuration.
    type Config;
    /// Training options.
    type Options;
    /// Batch input to score.
    type Input<'a>;

    /// Family name written in manifests.
    fn family(&self) -> &'static str;
    /// Trains a new model.
    fn fit(
        cfg: &Self::Config,
        train: &Self::Dataset,
        valid: Option<&Self::Dataset>,
        opts: &Self::Options,
    ) -> Result<(Self, TrainReport)>;
    /// Class (or interaction) probabilities, row-major.
    fn predict_proba_batch(&self, input: Self::Input<'_>) -> Result<Vec<f32>>;
    /// Weights + manifest.
    fn to_artifact(&self) -> Result<Artifact>;
    /// Verifies and loads.
    fn from_artifact(artifact: &Artifact) -> Result<Self>;

    /// The manifest, which describes the model fully (config, shapes, sizes, provenance).
    fn describe(&self) -> Result<Manifest> {
        Ok(self.to_artifact()?.manifest)
    }
    /// Content id of the weights.
    fn model_id(&self) -> Result<String> {
        Ok(self.to_artifact()?.manifest.model_id)
    }
    /// Writes the artifact into `dir`; returns its manifest.
    fn save(&self, dir: &Path) -> Result<Manifest> {
        let a = self.to_artifact()?;
        a.write_dir(dir)?;
        Ok(a.manifest)
    }
    /// Reads and verifies the artifact in `dir`.
    fn load(dir: &Path) -> Result<Self> {
        Self::from_artifact(&Artifact::read_dir(dir)?)
    }
}

//! ledgerloop-models: the learning machinery the Trainer and Distiller call.
//!
//! Where things live:
//! - [`error`]: the crate's one [`Error`] enum and [`Result`].
//! - [`augment`]: rare-class augmentation of tabular rows (SMOTE-like interpolation,
//!   noise jitter) and of rare intents' messages ([`augment::text`]: typos, lexicon
//!   substitutions), seeded and pure.
//! - [`data`]: [`TabularDataset`], validation, content hashes, splits, [`ReplayBuffer`],
//!   the input [`Standardizer`] stored inside tabular models.
//! - [`dense`]: plain-Rust linear layers (PyTorch layout) and small-batch forward.
//! - [`tabular`]: the MLP classifier ([`MlpConfig`] teacher/student, [`TrainConfig`],
//!   [`TabularModel::fit`], fine-tuning: warm start, replay, head-only, LoRA) on candle.
//! - [`text`]: hashed n-gram intent classifier (Chinese and English), sparse AdamW.
//! - [`recommend`]: matrix factorisation on implicit feedback, with cold start.
//! - [`compress`]: distillation, pruning, and the size/latency/accuracy comparison;
//!   [`quant`]: int8 inference.
//! - [`federated`]: FedAvg / FedProx and the comparison with centralised training.
//! - [`artifact`]: safetensors + JSON manifest, SHA-256 verification, the [`Model`] trait.
//! - [`report`]: [`TrainReport`] with per-epoch records and automatic adjustments.
//! - [`metrics`]: accuracy, P/R/F1, AUC, log loss, ECE, HR@K, NDCG@K, McNemar, bootstrap.
//! - [`bench`]: the figures behind `ledgerloop bench models`; [`fixtures`]: seeded data.
//!
//! Determinism: every random draw comes from a ChaCha stream seeded from the options; the
//! only other source of variation is candle's matmul thread count, read from the
//! `RAYON_NUM_THREADS` environment variable (set it to 1 for byte-identical replays across
//! machines; the count used is recorded in each report).

pub mod artifact;
pub mod augment;
pub mod bench;
pub mod compress;
pub mod data;
pub mod dense;
pub mod error;
pub mod federated;
pub mod fixtures;
pub mod metrics;
mod optim;
pub mod quant;
pub mod recommend;
pub mod report;
pub mod tabular;
pub mod text;

pub use artifact::{Artifact, Manifest, Model, TensorSet};
pub use data::{ReplayBuffer, Standardizer, TabularDataset};
pub use error::{Error, Result};
pub use report::{Adjustment, EpochRecord, ReplayRecord, TrainReport};
pub use tabular::{
    BatchGrowth, ClassWeighting, FineTuneMode, MlpConfig, Provenance, ReduceLrOnPlateau,
    TabularModel, TrainConfig,
};

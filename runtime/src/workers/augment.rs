//! A tabular job's rare-class augmentation: the Trainer's `[trainer.augment]` spec (read
//! back from `TrainingStarted`) turned into the models crate's options, applied to the
//! job's composed rows, and recorded on `ModelTrained` (method, synthetic rows, seed,
//! class weighting), so `audit --deep` re-derives the record along with the artifact.

use ledgerloop_agents::trainer::{AugmentClassWeights, AugmentMethod, AugmentPolicy};
use ledgerloop_events::catalogue::Augmentation;
use ledgerloop_models::augment::{self, AugmentConfig};
use ledgerloop_models::{ClassWeighting, TabularDataset};

/// XOR-ed into the job's seed for the synthetic draws, as the models crate derives its
/// shuffle and split streams from one training seed.
pub const AUGMENT_STREAM: u64 = 0xa06_5eed;

/// The models crate's options for a policy.
pub fn config(policy: &AugmentPolicy) -> AugmentConfig {
    AugmentConfig {
        method: match policy.method {
            AugmentMethod::Smote => augment::AugmentMethod::Smote,
            AugmentMethod::Jitter => augment::AugmentMethod::Jitter,
            AugmentMethod::SmoteJitter => augment::AugmentMethod::SmoteJitter,
        },
        target_share: policy.target_share,
        // The policy caps neighbours at 50, so the conversion is lossless.
        neighbours: policy.neighbours as usize,
        jitter_std: policy.jitter_std as f32,
        max_synthetic_per_real: policy.max_synthetic_per_real,
    }
}

/// The rows an augmenting job trains on, the loss weighting it uses and the record.
#[derive(Debug)]
pub struct Prepared {
    /// Real training rows, then the synthetic ones.
    pub train: TabularDataset,
    /// Real rows held out for early stopping.
    pub valid: Option<TabularDataset>,
    /// The class weighting of the job's loss.
    pub weighting: ClassWeighting,
    /// What was done, for `ModelTrained.augmentation`.
    pub record: Augmentation,
}

/// Splits off the validation rows, augments the rest with the seed derived from
/// `job_seed`, and picks the class weighting: `augmented_counts` keeps the balanced
/// weighting, which the trainer computes on the rows it is given — the augmented ones —
/// so a class raised to its target share is not weighed up a second time.
pub fn prepare(
    dataset: &TabularDataset,
    policy: &AugmentPolicy,
    job_seed: u64,
    valid_fraction: f32,
) -> ledgerloop_models::Result<Prepared> {
    let seed = job_seed ^ AUGMENT_STREAM;
    let out = augment::augment_for_training(dataset, valid_fraction, &config(policy), seed)?;
    let weighting = match policy.class_weights {
        AugmentClassWeights::AugmentedCounts => ClassWeighting::Balanced,
        AugmentClassWeights::None => ClassWeighting::None,
        AugmentClassWeights::RealCounts => ClassWeighting::Manual(out.real_count_weights()),
    };
    let per_class: Vec<u64> = out.synthetic_per_class.iter().map(|&n| n as u64).collect();
    let record = Augmentation {
        method: policy.method.name().to_string(),
        synthetic_rows: per_class.iter().sum(),
        synthetic_per_class: per_class,
        seed,
        class_weights: policy.class_weights.name().to_string(),
        lexicon_sha256: None,
    };
    Ok(Prepared {
        train: out.train,
        valid: out.valid,
        weighting,
        record,
    })
}

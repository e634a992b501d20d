//! A text job's rare-intent augmentation: the Trainer's `[trainer.augment_text]` table
//! (read back from the `TrainingStarted` rule) turned into the models crate's options,
//! applied to the job's composed messages, and recorded on `ModelTrained` (method,
//! variants per intent, seed, weighting, lexicon hash), so `audit --deep` re-derives the
//! record along with the artifact.

use ledgerloop_agents::trainer::TextAugmentPolicy;
use ledgerloop_events::catalogue::Augmentation;
use ledgerloop_events::Hash;
use ledgerloop_models::augment::text::{augment_texts_for_training, TextAugmentConfig};
use ledgerloop_models::text::TextDataset;

/// XOR-ed into the job's seed for the variants' draws; a different stream from the
/// tabular augmentation's, so a policy carrying both tables never shares draws.
pub const TEXT_AUGMENT_STREAM: u64 = 0x7e47_5eed;
/// The method name recorded on `ModelTrained`.
pub const METHOD: &str = "text_noise_lexicon";
/// The loss weighting recorded: the text classifier weighs every message alike, so the
/// variants raise a rare intent by rows alone.
const CLASS_WEIGHTS: &str = "none";

/// The models crate's options for a policy.
pub fn config(policy: &TextAugmentPolicy) -> TextAugmentConfig {
    TextAugmentConfig {
        rare_below_rows: policy.rare_below_rows as usize,
        copies_per_row: policy.copies_per_row as usize,
        char_noise_rate: policy.char_noise_rate,
        substitution_rate: policy.substitution_rate,
    }
}

/// SHA-256 of the lexicon's canonical JSON (the pairs in policy order), recorded so an
/// auditor can tell which word list a model's variants were drawn from.
pub fn lexicon_sha256(lexicon: &[(String, String)]) -> String {
    // A list of string pairs always serialises; the fallback keeps the function total.
    let json = serde_json::to_vec(lexicon).unwrap_or_default();
    Hash::of(&json).to_hex()
}

/// The messages an augmenting text job trains on and the record.
#[derive(Debug)]
pub struct PreparedText {
    /// Real training messages, then the variants.
    pub train: TextDataset,
    /// Real messages held out for early stopping.
    pub valid: Option<TextDataset>,
    /// What was done, for `ModelTrained.augmentation`.
    pub record: Augmentation,
}

/// Splits off the validation messages, then appends variants of the rare intents'
/// messages drawn with the seed derived from `job_seed`.
pub fn prepare(
    dataset: &TextDataset,
    policy: &TextAugmentPolicy,
    job_seed: u64,
    valid_fraction: f32,
) -> ledgerloop_models::Result<PreparedText> {
    let seed = job_seed ^ TEXT_AUGMENT_STREAM;
    let out = augment_texts_for_training(
        dataset,
        valid_fraction,
        &policy.lexicon,
        &config(policy),
        seed,
    )?;
    let per_class: Vec<u64> = out.synthetic_per_class.iter().map(|&n| n as u64).collect();
    let record = Augmentation {
        method: METHOD.to_string(),
        synthetic_rows: per_class.iter().sum(),
        synthetic_per_class: per_class,
        seed,
        class_weights: CLASS_WEIGHTS.to_string(),
        lexicon_sha256: Some(lexicon_sha256(&policy.lexicon)),
    };
    Ok(PreparedText {
        train: out.train,
        valid: out.valid,
        record,
    })
}

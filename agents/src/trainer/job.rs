//! The dataset composition a job trains on, its content hash, and the job spec a worker
//! derives from a `TrainingStarted` event.
//!
//! `TrainingStarted` (schema v1) has no room for a spec, so the spec is written into the
//! event's evidence under the keys below and [`TrainingJob::from_started`] reads it back,
//! recomputes the dataset hash and refuses an event whose hash does not match: the event
//! alone tells the worker everything, and a tampered composition is caught.

use ledgerloop_events::catalogue::TrainingStarted;
use ledgerloop_events::{Evidence, Hash};
use serde::{Deserialize, Serialize};

use super::augment::AugmentPolicy;
use super::augment_text::{self, TextAugmentPolicy};
use super::policy::{FederatedPolicy, Strategy};
use crate::error::{Error, Result};

/// Schema tag hashed with every composition, so a future change of meaning changes hashes.
pub const DATASET_SCHEMA: &str = "ledgerloop.dataset.v1";
/// Domain tag of the seed derivation.
const SEED_DOMAIN: &str = "ledgerloop.trainer.seed.v1";
/// Largest count carried in evidence: f64 holds integers exactly up to 2^53.
const MAX_EXACT_COUNT: f64 = 9_007_199_254_740_992.0;
/// Component name used in errors.
const COMPONENT: &str = "trainer job";

/// Evidence keys of the job spec (and of the rest of the decision's evidence).
pub mod keys {
    /// Hour of the input that started the job.
    pub const HOUR: &str = "hour";
    /// Attempt number of the request, 1 for the first.
    pub const ATTEMPT: &str = "attempt";
    /// Severity rank of the request (0 low, 1 medium, 2 high).
    pub const SEVERITY: &str = "request.severity";
    /// Hour of the request.
    pub const REQUEST_HOUR: &str = "request.hour";
    /// First fresh label (offset in the stream of all labels received).
    pub const LABELS_FROM: &str = "labels.from";
    /// One past the last fresh label.
    pub const LABELS_TO: &str = "labels.to";
    /// Fresh labels available (and used).
    pub const LABELS_AVAILABLE: &str = "labels.available";
    /// First pseudo-label used (offset in the stream of all pseudo-labels accepted).
    pub const PSEUDO_FROM: &str = "pseudo.from";
    /// One past the last pseudo-label used.
    pub const PSEUDO_TO: &str = "pseudo.to";
    /// Pseudo-labels available before the share cap.
    pub const PSEUDO_AVAILABLE: &str = "pseudo.available";
    /// Share of the composed rows that are pseudo-labels.
    pub const PSEUDO_SHARE: &str = "pseudo.share";
    /// Rows the replay sample is drawn from (baseline rows + labels before `labels.from`).
    pub const REPLAY_POOL: &str = "replay.pool_rows";
    /// Rows replayed.
    pub const REPLAY_ROWS: &str = "replay.rows";
    /// Total rows of the composed data set.
    pub const DATASET_ROWS: &str = "dataset.rows";
    /// LoRA rank (0 unless the strategy is `lora`).
    pub const LORA_RANK: &str = "strategy.lora_rank";
    /// Federated clients (absent when training centrally).
    pub const FED_CLIENTS: &str = "federated.clients";
    /// Federated rounds.
    pub const FED_ROUNDS: &str = "federated.rounds";
    /// FedProx proximal weight.
    pub const FED_MU: &str = "federated.fedprox_mu";
}

/// A half-open range `[from, to)` of a stream of rows (labels or pseudo-labels), counted
/// from the start of the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowRange {
    /// First row.
    pub from: u64,
    /// One past the last row.
    pub to: u64,
}

impl RowRange {
    /// Rows in the range.
    pub fn len(&self) -> u64 {
        self.to.saturating_sub(self.from)
    }

    /// Whether the range holds no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a job trains on. Fields are declared in alphabetical order so that serde's
/// compact JSON of this struct is canonical (sorted keys, no whitespace, integers only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetComposition {
    /// Oracle labels received since the previous job.
    pub fresh_labels: RowRange,
    /// Pseudo-labels used (the newest ones, up to the share cap).
    pub pseudo_labels: RowRange,
    /// Rows the replay sample is drawn from, with the job's seed.
    pub replay_pool_rows: u64,
    /// Rows replayed.
    pub replay_rows: u64,
}

/// The hashed form: the composition under its schema tag.
#[derive(Serialize)]
struct Canonical<'a> {
    composition: &'a DatasetComposition,
    schema: &'static str,
}

impl DatasetComposition {
    /// The dataset hash: lowercase hex SHA-256 of the canonical JSON
    /// `{"composition":{...},"schema":"ledgerloop.dataset.v1"}`.
    pub fn hash(&self) -> String {
        let canonical = Canonical {
            composition: self,
            schema: DATASET_SCHEMA,
        };
        // Serialising plain integers and strings cannot fail; an empty body would still
        // hash deterministically, so there is nothing to recover from here.
        let bytes = serde_json::to_vec(&canonical).unwrap_or_default();
        Hash::of(&bytes).to_hex()
    }

    /// Rows in the composed data set.
    pub fn rows(&self) -> u64 {
        self.fresh_labels
            .len()
            .saturating_add(self.pseudo_labels.len())
            .saturating_add(self.replay_rows)
    }
}

/// What the worker must do for one `TrainingStarted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingJob {
    /// The job's id (`train-<n>`).
    pub job_id: String,
    /// Model to warm-start from (`None` only for `full` without a parent).
    pub parent_model_id: Option<String>,
    /// How to train.
    pub strategy: Strategy,
    /// LoRA rank, 0 unless `strategy` is `lora`.
    pub lora_rank: u32,
    /// The data.
    pub composition: DatasetComposition,
    /// `DatasetComposition::hash` of `composition`.
    pub dataset_hash: String,
    /// Seed of every random draw of the job (replay sample, shuffles, initialisation).
    pub seed: u64,
    /// Federated rounds, when the data stay on the nodes.
    pub federated: Option<FederatedPolicy>,
    /// Rare-class augmentation of the composed rows (tabular jobs only).
    pub augment: Option<AugmentPolicy>,
    /// Rare-intent augmentation of the composed messages (text jobs only), read from the
    /// rule parameter `augment_text`.
    pub augment_text: Option<TextAugmentPolicy>,
}

/// The job's seed: the first eight bytes (big-endian) of SHA-256 over the domain tag,
/// the job id and the dataset hash, separated by NUL bytes. A retry has a new job id
/// and hence a new seed.
pub fn job_seed(job_id: &str, dataset_hash: &str) -> u64 {
    let text = format!("{SEED_DOMAIN}\0{job_id}\0{dataset_hash}");
    let digest = Hash::of(text.as_bytes()).0;
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Writes the composition into evidence (counts are exact below 2^53).
pub(crate) fn composition_evidence(c: &DatasetComposition, evidence: Evidence) -> Evidence {
    evidence
        .with(keys::LABELS_FROM, c.fresh_labels.from as f64)
        .with(keys::LABELS_TO, c.fresh_labels.to as f64)
        .with(keys::PSEUDO_FROM, c.pseudo_labels.from as f64)
        .with(keys::PSEUDO_TO, c.pseudo_labels.to as f64)
        .with(keys::REPLAY_POOL, c.replay_pool_rows as f64)
        .with(keys::REPLAY_ROWS, c.replay_rows as f64)
        .with(keys::DATASET_ROWS, c.rows() as f64)
}

fn bad(reason: String) -> Error {
    Error::InvalidInput {
        component: COMPONENT,
        reason,
    }
}

/// Reads a non-negative integer count from evidence.
pub(crate) fn count(evidence: &Evidence, key: &str) -> Result<u64> {
    match evidence.get(key) {
        Some(v) if (0.0..=MAX_EXACT_COUNT).contains(&v) && v.fract() == 0.0 => Ok(v as u64),
        Some(v) => Err(bad(format!("evidence `{key}` = {v} is not a count"))),
        None => Err(bad(format!("evidence `{key}` is missing"))),
    }
}

impl TrainingJob {
    /// Derives the job spec from the event, refusing an event whose evidence does not
    /// describe a composition with the recorded hash.
    pub fn from_started(event: &TrainingStarted) -> Result<TrainingJob> {
        let e = &event.evidence;
        let composition = DatasetComposition {
            fresh_labels: RowRange {
                from: count(e, keys::LABELS_FROM)?,
                to: count(e, keys::LABELS_TO)?,
            },
            pseudo_labels: RowRange {
                from: count(e, keys::PSEUDO_FROM)?,
                to: count(e, keys::PSEUDO_TO)?,
            },
            replay_pool_rows: count(e, keys::REPLAY_POOL)?,
            replay_rows: count(e, keys::REPLAY_ROWS)?,
        };
        let dataset_hash = composition.hash();
        if dataset_hash != event.dataset_hash {
            return Err(bad(format!(
                "{}: dataset_hash {} does not match its composition ({dataset_hash})",
                event.job_id, event.dataset_hash
            )));
        }
        let strategy = Strategy::parse(&event.strategy)
            .ok_or_else(|| bad(format!("unknown strategy `{}`", event.strategy)))?;
        let lora_rank = u32::try_from(count(e, keys::LORA_RANK)?)
            .map_err(|_| bad("LoRA rank out of range".to_string()))?;
        let federated = match e.get(keys::FED_CLIENTS) {
            None => None,
            Some(_) => Some(FederatedPolicy {
                clients: u32::try_from(count(e, keys::FED_CLIENTS)?)
                    .map_err(|_| bad("federated clients out of range".to_string()))?,
                rounds: u32::try_from(count(e, keys::FED_ROUNDS)?)
                    .map_err(|_| bad("federated rounds out of range".to_string()))?,
                fedprox_mu: e
                    .get(keys::FED_MU)
                    .filter(|mu| mu.is_finite() && *mu >= 0.0)
                    .ok_or_else(|| bad("federated fedprox_mu missing or invalid".into()))?,
            }),
        };
        Ok(TrainingJob {
            seed: job_seed(&event.job_id, &dataset_hash),
            job_id: event.job_id.clone(),
            parent_model_id: event.parent_model_id.clone(),
            strategy,
            lora_rank,
            composition,
            dataset_hash,
            federated,
            augment: AugmentPolicy::read(e)?,
            augment_text: event
                .rule
                .params
                .get(augment_text::RULE_PARAM)
                .map(TextAugmentPolicy::read)
                .transpose()?,
        })
    }
}

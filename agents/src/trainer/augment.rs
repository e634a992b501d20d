//! Rare-class augmentation of a job's tabular rows (`[trainer.augment]`).
//!
//! The Trainer does not see the rows, so it decides only *whether* and *how* a job
//! augments: the policy is copied into the `TrainingStarted` evidence under the keys
//! below, and the worker, which composes the rows, counts the classes and adds the
//! synthetic rows (seeded from the job), recording what it did on `ModelTrained`. The
//! event alone therefore tells a re-run worker (`audit --deep`) what to do.
//!
//! The issue placed augmentation in the Perceiver; it lives here because the Perceiver
//! sees one hour's readings at a time, while oversampling a rare class needs the whole
//! composed data set of a job and the job's seed.

use ledgerloop_events::Evidence;
use serde::{Deserialize, Serialize};

use crate::error::{invalid, Error, Result};

/// Component name used in policy errors.
const POLICY: &str = "trainer augment policy";
/// Largest share a rare class may be raised to (as in `ledgerloop_models::augment`).
pub const MAX_TARGET_SHARE: f64 = 0.5;
/// Most nearest neighbours SMOTE interpolates towards.
pub const MAX_NEIGHBOURS: u32 = 50;
/// Largest jitter standard deviation, in units of each feature's standard deviation.
pub const MAX_JITTER_STD: f64 = 1.0;
/// Most synthetic rows per real row of a class.
pub const MAX_SYNTHETIC_PER_REAL: f64 = 20.0;

/// Evidence keys of the augmentation spec on `TrainingStarted` (absent: no augmentation).
pub mod keys {
    /// Method code: 1 `smote`, 2 `jitter`, 3 `smote_jitter`.
    pub const METHOD: &str = "augment.method";
    /// Share of the real rows each rare class is raised to.
    pub const TARGET_SHARE: &str = "augment.target_share";
    /// SMOTE neighbours.
    pub const NEIGHBOURS: &str = "augment.neighbours";
    /// Jitter standard deviation (units of each feature's standard deviation).
    pub const JITTER_STD: &str = "augment.jitter_std";
    /// Cap on synthetic rows per real row of a class.
    pub const MAX_PER_REAL: &str = "augment.max_synthetic_per_real";
    /// Class weights code: 1 `augmented_counts`, 0 `none`.
    pub const CLASS_WEIGHTS: &str = "augment.class_weights";
}

/// How synthetic rows are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AugmentMethod {
    /// Interpolation towards one of the nearest same-class rows (SMOTE).
    Smote,
    /// A real row of the class plus Gaussian noise.
    Jitter,
    /// A SMOTE point plus Gaussian noise.
    SmoteJitter,
}

impl AugmentMethod {
    const ALL: [AugmentMethod; 3] = [
        AugmentMethod::Smote,
        AugmentMethod::Jitter,
        AugmentMethod::SmoteJitter,
    ];

    /// The name in policy files and on `ModelTrained`.
    pub fn name(self) -> &'static str {
        match self {
            AugmentMethod::Smote => "smote",
            AugmentMethod::Jitter => "jitter",
            AugmentMethod::SmoteJitter => "smote_jitter",
        }
    }

    /// The code written into evidence (which holds numbers only).
    fn code(self) -> f64 {
        match self {
            AugmentMethod::Smote => 1.0,
            AugmentMethod::Jitter => 2.0,
            AugmentMethod::SmoteJitter => 3.0,
        }
    }

    /// Whether the method adds noise (and so needs `jitter_std` > 0).
    pub fn jitters(self) -> bool {
        !matches!(self, AugmentMethod::Smote)
    }
}

/// How the job's loss weighs the classes once the rare ones were oversampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AugmentClassWeights {
    /// Balanced weights computed on the counts *after* augmentation: a class raised to
    /// its target share is weighed for what is left of its imbalance, never twice.
    AugmentedCounts,
    /// Every row weighs 1 in an augmenting job.
    None,
    /// Balanced weights computed on the *real* rows, as a job that does not augment
    /// weighs them, kept on top of the synthetic rows: the rare class is raised twice,
    /// by rows and by weight. On the rare-region fixture this is the one setting that
    /// raises rare recall without lowering held-out accuracy (README, Augmentation).
    RealCounts,
}

impl AugmentClassWeights {
    /// The name in policy files and on `ModelTrained`.
    pub fn name(self) -> &'static str {
        match self {
            AugmentClassWeights::AugmentedCounts => "augmented_counts",
            AugmentClassWeights::None => "none",
            AugmentClassWeights::RealCounts => "real_counts",
        }
    }
}

/// The `[trainer.augment]` table. Absent (the default), jobs train on their rows as
/// composed, exactly as before augmentation existed. Text and ranking jobs ignore it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentPolicy {
    /// `smote`, `jitter` or `smote_jitter` (default `smote`).
    pub method: AugmentMethod,
    /// A class with fewer than this share of the job's real rows is raised to it with
    /// synthetic rows, in (0, 0.5] (default 0.1).
    pub target_share: f64,
    /// Nearest same-class rows a SMOTE point is drawn towards, in [1, 50] (default 5).
    pub neighbours: u32,
    /// Jitter noise in units of each feature's standard deviation, in [0, 1]; > 0 when
    /// the method jitters (default 0.05).
    pub jitter_std: f64,
    /// At most this many synthetic rows per real row of a class, in (0, 20] (default 5).
    pub max_synthetic_per_real: f64,
    /// `augmented_counts` or `none` (default `augmented_counts`).
    pub class_weights: AugmentClassWeights,
}

impl Default for AugmentPolicy {
    fn default() -> Self {
        AugmentPolicy {
            method: AugmentMethod::Smote,
            target_share: 0.1,
            neighbours: 5,
            jitter_std: 0.05,
            max_synthetic_per_real: 5.0,
            class_weights: AugmentClassWeights::AugmentedCounts,
        }
    }
}

impl AugmentPolicy {
    /// Checks every field lies in its documented range.
    pub fn validate(&self) -> Result<()> {
        let t = self.target_share;
        if !(t.is_finite() && t > 0.0 && t <= MAX_TARGET_SHARE) {
            return Err(invalid(POLICY, "target_share", t, "must lie in (0, 0.5]"));
        }
        if !(1..=MAX_NEIGHBOURS).contains(&self.neighbours) {
            let why = "must lie in [1, 50]";
            return Err(invalid(POLICY, "neighbours", self.neighbours, why));
        }
        let s = self.jitter_std;
        if !(s.is_finite() && (0.0..=MAX_JITTER_STD).contains(&s)) {
            return Err(invalid(POLICY, "jitter_std", s, "must lie in [0, 1]"));
        }
        if self.method.jitters() && s == 0.0 {
            let why = "must be > 0 when the method jitters";
            return Err(invalid(POLICY, "jitter_std", s, why));
        }
        let m = self.max_synthetic_per_real;
        if !(m.is_finite() && m > 0.0 && m <= MAX_SYNTHETIC_PER_REAL) {
            let why = "must lie in (0, 20]";
            return Err(invalid(POLICY, "max_synthetic_per_real", m, why));
        }
        Ok(())
    }

    /// The parameters recorded in the Trainer's rule.
    pub fn params(&self) -> serde_json::Value {
        serde_json::json!({
            "method": self.method.name(),
            "target_share": self.target_share,
            "neighbours": self.neighbours,
            "jitter_std": self.jitter_std,
            "max_synthetic_per_real": self.max_synthetic_per_real,
            "class_weights": self.class_weights.name(),
        })
    }

    /// Writes the spec into a `TrainingStarted`'s evidence.
    pub(crate) fn write(&self, evidence: Evidence) -> Evidence {
        let weights = match self.class_weights {
            AugmentClassWeights::AugmentedCounts => 1.0,
            AugmentClassWeights::None => 0.0,
            AugmentClassWeights::RealCounts => 2.0,
        };
        evidence
            .with(keys::METHOD, self.method.code())
            .with(keys::TARGET_SHARE, self.target_share)
            .with(keys::NEIGHBOURS, f64::from(self.neighbours))
            .with(keys::JITTER_STD, self.jitter_std)
            .with(keys::MAX_PER_REAL, self.max_synthetic_per_real)
            .with(keys::CLASS_WEIGHTS, weights)
    }

    /// Reads the spec back from a `TrainingStarted`'s evidence: `None` when the job does
    /// not augment, an error when the spec is incomplete or out of range.
    pub(crate) fn read(evidence: &Evidence) -> Result<Option<AugmentPolicy>> {
        let Some(code) = evidence.get(keys::METHOD) else {
            return Ok(None);
        };
        let bad = |key: &str| Error::InvalidInput {
            component: POLICY,
            reason: format!("evidence `{key}` is missing or invalid"),
        };
        let get = |key: &'static str| evidence.get(key).ok_or_else(|| bad(key));
        let method = AugmentMethod::ALL
            .into_iter()
            .find(|m| m.code() == code)
            .ok_or_else(|| bad(keys::METHOD))?;
        let weights = get(keys::CLASS_WEIGHTS)?;
        let class_weights = if weights == 1.0 {
            AugmentClassWeights::AugmentedCounts
        } else if weights == 0.0 {
            AugmentClassWeights::None
        } else if weights == 2.0 {
            AugmentClassWeights::RealCounts
        } else {
            return Err(bad(keys::CLASS_WEIGHTS));
        };
        let neighbours = get(keys::NEIGHBOURS)?;
        if !(neighbours.fract() == 0.0 && (1.0..=f64::from(MAX_NEIGHBOURS)).contains(&neighbours)) {
            return Err(bad(keys::NEIGHBOURS));
        }
        let policy = AugmentPolicy {
            method,
            target_share: get(keys::TARGET_SHARE)?,
            neighbours: neighbours as u32,
            jitter_std: get(keys::JITTER_STD)?,
            max_synthetic_per_real: get(keys::MAX_PER_REAL)?,
            class_weights,
        };
        policy.validate()?;
        Ok(Some(policy))
    }
}

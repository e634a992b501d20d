//! The Perceiver's policy: cleaning rules, unit conversions, label selection and
//! pseudo-labelling, read from TOML (every field has a default; unknown keys are refused).

use serde::{Deserialize, Serialize};

use crate::error::{invalid, Result};

/// Most features a policy may declare; keeps per-feature state bounded.
pub const MAX_FEATURES: usize = 256;
/// Most unit conversions a policy may declare.
pub const MAX_CONVERSIONS: usize = 64;
/// Most rows kept per feature in a batch's drift sample.
pub const MAX_SAMPLE_ROWS: usize = 1000;
/// Name recorded as the rule of the Perceiver's decisions when the policy names none.
const DEFAULT_NAME: &str = "perceiver";
const COMPONENT: &str = "PerceiverPolicy";

/// What to do with a reading that lacks a feature value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingValues {
    /// Fill the value with the feature's median over everything ingested so far (from the
    /// binned summaries); readings are quarantined while the feature has too few values
    /// for a median.
    #[default]
    ImputeMedian,
    /// Set the reading aside with reason `missing`.
    Quarantine,
}

/// How uncertain items are ranked when choosing which ones to send for labelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectionStrategy {
    /// Score `1 - p_max`: the least confident predictions first.
    #[default]
    LeastConfidence,
    /// Score `1 - (p_first - p_second)`: the smallest gap between the two top classes first.
    Margin,
    /// Score `-sum p ln p`: the flattest predicted distributions first.
    Entropy,
    /// Score drawn uniformly from a hash of the seed and the item id: a seeded random
    /// sample, the unbiased baseline the other strategies are compared with.
    Random,
}

impl SelectionStrategy {
    /// The name recorded in `LabelsRequested.strategy`.
    pub fn name(self) -> &'static str {
        match self {
            Self::LeastConfidence => "least_confidence",
            Self::Margin => "margin",
            Self::Entropy => "entropy",
            Self::Random => "random",
        }
    }
}

/// One input column: its name, canonical unit and valid range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturePolicy {
    /// Column name, e.g. `rx_power_dbm`; position in the list is position in a reading.
    pub name: String,
    /// Canonical unit (e.g. `dBm`); readings declared in another unit are converted.
    #[serde(default)]
    pub unit: String,
    /// Smallest valid value (inclusive), after unit conversion.
    pub min: f64,
    /// Largest valid value (inclusive), after unit conversion; also bounds the summary bins.
    pub max: f64,
    /// Whether the DriftJudge tests this feature for data drift (its values are sampled
    /// into `BatchIngested.feature_samples`). Turn it off for columns that drift by
    /// construction, such as monotone counters (uptime), which would alarm every few
    /// days while telling nothing about the model's inputs (default true).
    #[serde(default = "monitored")]
    pub monitor: bool,
}

fn monitored() -> bool {
    true
}

/// The formula of a unit conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversionKind {
    /// `scale * x + offset` (e.g. Celsius from Fahrenheit).
    Affine,
    /// `scale * log10(x) + offset`; mW to dBm is `scale = 10, offset = 0`. Values `<= 0`
    /// cannot be converted and quarantine the reading (`unit_conversion`).
    Log10,
}

/// A rule converting one feature from a unit some sources report into the canonical unit.
///
/// Written in TOML as
/// `[[conversions]] feature = "rx_power_dbm", from_unit = "mW", kind = "log10", scale = 10.0, offset = 0.0`;
/// it applies to every reading of a batch whose `units` map names `from_unit` for the feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitConversion {
    /// The feature converted (a name from `features`).
    pub feature: String,
    /// The unit a batch declares, e.g. `mW`.
    pub from_unit: String,
    /// The formula.
    pub kind: ConversionKind,
    /// Multiplier of the formula.
    pub scale: f64,
    /// Additive term of the formula.
    #[serde(default)]
    pub offset: f64,
}

impl UnitConversion {
    /// Converts one value; `None` when the formula is undefined there.
    pub fn apply(&self, x: f64) -> Option<f64> {
        let y = match self.kind {
            ConversionKind::Affine => self.scale * x + self.offset,
            ConversionKind::Log10 if x > 0.0 => self.scale * x.log10() + self.offset,
            ConversionKind::Log10 => return None,
        };
        y.is_finite().then_some(y)
    }
}

/// The Perceiver's whole policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PerceiverPolicy {
    /// Name recorded as `rule.policy` prefix in every decision (`<name>.cleaning`, ...).
    pub name: String,
    /// The features of a reading, in order, with units and valid ranges.
    pub features: Vec<FeaturePolicy>,
    /// Handling of missing feature values.
    pub missing: MissingValues,
    /// Unit conversions from non-canonical units.
    pub conversions: Vec<UnitConversion>,
    /// Ranking used to choose the items sent for labelling.
    pub label_strategy: SelectionStrategy,
    /// Labels that may be requested per day (day = hour / 24); never exceeded.
    pub label_budget_per_day: u64,
    /// Labels that may be requested per rolling week (the day and the six before it);
    /// 0 (the default) sets no weekly limit and is left out of the recorded rule, so
    /// older logs re-derive unchanged.
    #[serde(skip_serializing_if = "is_zero")]
    pub label_budget_per_week: u64,
    /// Labels that may be requested from one batch, so the budget spreads over the day.
    pub max_labels_per_batch: u64,
    /// Seed of the `random` strategy.
    pub random_seed: u64,
    /// Top-class probability at or above which a prediction is accepted as a pseudo-label.
    pub pseudo_label_threshold: f64,
    /// Rows per batch whose values are copied into `BatchIngested.feature_samples` for the
    /// DriftJudge (a systematic sample; at most `MAX_SAMPLE_ROWS`).
    pub sample_rows_per_batch: usize,
}

impl Default for PerceiverPolicy {
    fn default() -> Self {
        Self {
            name: DEFAULT_NAME.to_owned(),
            features: Vec::new(),
            missing: MissingValues::ImputeMedian,
            conversions: Vec::new(),
            label_strategy: SelectionStrategy::LeastConfidence,
            label_budget_per_day: 100,
            label_budget_per_week: 0,
            max_labels_per_batch: 10,
            random_seed: 0,
            pseudo_label_threshold: 0.95,
            sample_rows_per_batch: 200,
        }
    }
}

impl PerceiverPolicy {
    /// Rejects a policy that could not be applied: bad ranges, unknown or duplicate
    /// features, conversions of unknown features, thresholds outside (0, 1], sizes
    /// beyond the crate's bounds.
    pub fn validate(&self) -> Result<()> {
        if self.features.len() > MAX_FEATURES {
            return Err(invalid(
                COMPONENT,
                "features",
                self.features.len(),
                "at most 256 features",
            ));
        }
        for (i, f) in self.features.iter().enumerate() {
            if !(f.min.is_finite() && f.max.is_finite() && f.min < f.max) {
                return Err(invalid(
                    COMPONENT,
                    "features.min/max",
                    &f.name,
                    "needs finite min < max",
                ));
            }
            if f.name.is_empty() || self.features[..i].iter().any(|g| g.name == f.name) {
                return Err(invalid(
                    COMPONENT,
                    "features.name",
                    &f.name,
                    "must be non-empty and unique",
                ));
            }
        }
        self.validate_conversions()?;
        let t = self.pseudo_label_threshold;
        if !(t > 0.0 && t <= 1.0) {
            return Err(invalid(
                COMPONENT,
                "pseudo_label_threshold",
                t,
                "must lie in (0, 1]",
            ));
        }
        if self.sample_rows_per_batch > MAX_SAMPLE_ROWS {
            return Err(invalid(
                COMPONENT,
                "sample_rows_per_batch",
                self.sample_rows_per_batch,
                "at most 1000",
            ));
        }
        Ok(())
    }

    /// Rejects too many conversion rules, rules for undeclared features and formulas that
    /// are not finite or would collapse every value to one (zero scale).
    fn validate_conversions(&self) -> Result<()> {
        if self.conversions.len() > MAX_CONVERSIONS {
            return Err(invalid(
                COMPONENT,
                "conversions",
                self.conversions.len(),
                "at most 64 rules",
            ));
        }
        for c in &self.conversions {
            if self.feature_index(&c.feature).is_none() {
                return Err(invalid(
                    COMPONENT,
                    "conversions.feature",
                    &c.feature,
                    "must name a declared feature",
                ));
            }
            if !(c.scale.is_finite() && c.scale != 0.0 && c.offset.is_finite()) {
                return Err(invalid(
                    COMPONENT,
                    "conversions.scale",
                    c.scale,
                    "needs finite non-zero scale and finite offset",
                ));
            }
        }
        Ok(())
    }

    /// Position of a feature by name.
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }

    /// The rule name of one kind of decision, e.g. `perceiver.cleaning`.
    pub fn rule_name(&self, decision: &str) -> String {
        format!("{}.{decision}", self.name)
    }
}

/// Whether a count is zero (serde's `skip_serializing_if` takes a reference).
fn is_zero(v: &u64) -> bool {
    *v == 0
}

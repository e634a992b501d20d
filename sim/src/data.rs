//! Observation buffers shared by worlds, learners and policies. Tabular inputs are one
//! flat row-major `Vec<f32>` per batch (reused hour after hour, so generating a reading
//! allocates nothing); text inputs are a `Vec<String>`.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::rng::SimRng;

/// One input column of a tabular world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Column name with its unit last, e.g. `rx_power_dbm`.
    pub name: String,
    /// Heavy-tailed non-negative counter: learners see `ln(1 + x)` instead of `x`.
    pub log_scale: bool,
}

/// What a world produces: classes, columns and slice names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskShape {
    /// Class names; the label of a row is an index into this list.
    pub class_names: Vec<String>,
    /// Tabular columns (empty for text worlds).
    pub features: Vec<FeatureSpec>,
    /// Slice names (device model, language ...); a row's slice indexes this list.
    pub slice_names: Vec<String>,
}

impl TaskShape {
    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.class_names.len()
    }
}

/// Model inputs for a batch of rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Inputs {
    /// Row-major `f32` features, `n_features` per row.
    Tabular {
        /// Columns per row.
        n_features: usize,
        /// `rows * n_features` values.
        values: Vec<f32>,
    },
    /// One utterance per row.
    Text {
        /// The utterances.
        texts: Vec<String>,
    },
}

impl Inputs {
    /// Empty inputs shaped like `self`.
    pub fn empty_like(&self) -> Inputs {
        match self {
            Inputs::Tabular { n_features, .. } => Inputs::Tabular {
                n_features: *n_features,
                values: Vec::new(),
            },
            Inputs::Text { .. } => Inputs::Text { texts: Vec::new() },
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Inputs::Tabular { n_features, values } => values.len() / (*n_features).max(1),
            Inputs::Text { texts } => texts.len(),
        }
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every row, keeping the allocation.
    pub fn clear(&mut self) {
        match self {
            Inputs::Tabular { values, .. } => values.clear(),
            Inputs::Text { texts } => texts.clear(),
        }
    }

    /// Appends row `row` of `other` (same kind) to `self`.
    pub fn push_row_from(&mut self, other: &Inputs, row: usize) {
        match (self, other) {
            (
                Inputs::Tabular { values, .. },
                Inputs::Tabular {
                    n_features,
                    values: src,
                },
            ) => {
                values.extend_from_slice(&src[row * n_features..(row + 1) * n_features]);
            }
            (Inputs::Text { texts }, Inputs::Text { texts: src }) => texts.push(src[row].clone()),
            _ => {}
        }
    }

    /// Overwrites row `dst` of `self` with row `row` of `other` (same kind).
    pub fn set_row_from(&mut self, dst: usize, other: &Inputs, row: usize) {
        match (self, other) {
            (Inputs::Tabular { values, n_features }, Inputs::Tabular { values: src, .. }) => {
                let n = *n_features;
                values[dst * n..(dst + 1) * n].copy_from_slice(&src[row * n..(row + 1) * n]);
            }
            (Inputs::Text { texts }, Inputs::Text { texts: src }) => {
                texts[dst].clone_from(&src[row]);
            }
            _ => {}
        }
    }

    /// Appends all rows of `other` (same kind).
    pub fn extend_from(&mut self, other: &Inputs) {
        match (self, other) {
            (Inputs::Tabular { values, .. }, Inputs::Tabular { values: src, .. }) => {
                values.extend_from_slice(src);
            }
            (Inputs::Text { texts }, Inputs::Text { texts: src }) => texts.extend_from_slice(src),
            _ => {}
        }
    }
}

/// One step (hour) of world output. `truth` is hidden from policies; the engine shows
/// them [`Observed`] instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Simulated hour.
    pub hour: u64,
    /// Routing key per row (device id, customer id ...), stable over the run.
    pub keys: Vec<u64>,
    /// Model inputs.
    pub inputs: Inputs,
    /// True label per row.
    pub truth: Vec<u32>,
    /// Slice per row (index into [`TaskShape::slice_names`]).
    pub slices: Vec<u16>,
}

impl Batch {
    /// An empty batch with the given kind of inputs.
    pub fn new(inputs: Inputs) -> Self {
        Self {
            hour: 0,
            keys: Vec::new(),
            inputs,
            truth: Vec::new(),
            slices: Vec::new(),
        }
    }

    /// Clears all rows, keeping allocations.
    pub fn clear(&mut self, hour: u64) {
        self.hour = hour;
        self.keys.clear();
        self.inputs.clear();
        self.truth.clear();
        self.slices.clear();
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The policy's view: everything but the truth.
    pub fn observed(&self) -> Observed<'_> {
        Observed {
            hour: self.hour,
            keys: &self.keys,
            inputs: &self.inputs,
            slices: &self.slices,
        }
    }
}

/// What a policy sees of a batch: inputs without labels.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// Simulated hour.
    pub hour: u64,
    /// Routing key per row.
    pub keys: &'a [u64],
    /// Model inputs.
    pub inputs: &'a Inputs,
    /// Slice per row.
    pub slices: &'a [u16],
}

/// Labelled rows for training.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Inputs, one row per label.
    pub inputs: Inputs,
    /// Label per row.
    pub labels: Vec<u32>,
    /// Number of classes.
    pub n_classes: usize,
}

impl Dataset {
    /// Rows per class.
    pub fn class_counts(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.n_classes];
        for l in &self.labels {
            if let Some(c) = counts.get_mut(*l as usize) {
                *c += 1;
            }
        }
        counts
    }
}

/// A class-stratified reservoir sample: at most `capacity_per_class` rows of each class,
/// each row of the stream equally likely to be kept (Vitter's algorithm R). Keeps the
/// baselines' training sets bounded however long the run.
#[derive(Debug, Clone)]
pub struct StratifiedReservoir {
    capacity_per_class: usize,
    classes: Vec<(Inputs, u64)>,
}

impl StratifiedReservoir {
    /// An empty reservoir for `n_classes` classes of inputs shaped like `like`.
    pub fn new(like: &Inputs, n_classes: usize, capacity_per_class: usize) -> Self {
        Self {
            capacity_per_class,
            classes: (0..n_classes).map(|_| (like.empty_like(), 0)).collect(),
        }
    }

    /// Offers row `row` of `batch` with label `label`.
    #[inline]
    pub fn offer(&mut self, rng: &mut SimRng, inputs: &Inputs, row: usize, label: u32) {
        let Some((kept, seen)) = self.classes.get_mut(label as usize) else {
            return;
        };
        *seen += 1;
        if kept.len() < self.capacity_per_class {
            kept.push_row_from(inputs, row);
        } else {
            let j = rng.gen_range(0..*seen);
            if (j as usize) < self.capacity_per_class {
                kept.set_row_from(j as usize, inputs, row);
            }
        }
    }

    /// Appends the kept rows to `out`.
    pub fn append_to(&self, out: &mut Dataset) {
        for (class, (kept, _)) in self.classes.iter().enumerate() {
            out.inputs.extend_from(kept);
            out.labels
                .extend(std::iter::repeat_n(class as u32, kept.len()));
        }
    }
}

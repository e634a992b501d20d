//! Tabular datasets: validation, content hashing, seeded splits, replay mixing, and the
//! input standardiser that travels inside every tabular model.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Rows of `n_features` raw f32 features (row-major) with one class label per row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabularDataset {
    pub n_features: usize,
    pub n_classes: usize,
    /// Row-major, `labels.len() * n_features` values.
    pub features: Vec<f32>,
    pub labels: Vec<u32>,
}

impl TabularDataset {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the dataset has no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features of row `i` (caller guarantees `i < len()`).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * self.n_features..(i + 1) * self.n_features]
    }

    /// Checks shape, finiteness and label range; every training entry point calls this first.
    pub fn validate(&self) -> Result<()> {
        if self.n_features == 0 {
            return Err(Error::InvalidConfig {
                field: "n_features",
                reason: "must be at least 1".into(),
            });
        }
        if self.n_classes < 2 {
            return Err(Error::InvalidConfig {
                field: "n_classes",
                reason: format!("must be at least 2, got {}", self.n_classes),
            });
        }
        if self.labels.is_empty() {
            return Err(Error::EmptyDataset {
                what: "tabular dataset",
            });
        }
        check_features(&self.features, self.n_features)?;
        if self.features.len() != self.labels.len() * self.n_features {
            return Err(Error::ShapeMismatch {
                what: "features vs labels".into(),
                expected: format!("{} values", self.labels.len() * self.n_features),
                got: format!("{} values", self.features.len()),
            });
        }
        for (row, &label) in self.labels.iter().enumerate() {
            if label as usize >= self.n_classes {
                return Err(Error::UnknownLabel {
                    label,
                    row,
                    n_classes: self.n_classes,
                });
            }
        }
        Ok(())
    }

    /// SHA-256 over shape, features and labels (little-endian): the dataset id in manifests.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"ledgerloop.tabular.v1");
        h.update((self.n_features as u64).to_le_bytes());
        h.update((self.n_classes as u64).to_le_bytes());
        for v in &self.features {
            h.update(v.to_le_bytes());
        }
        for l in &self.labels {
            h.update(l.to_le_bytes());
        }
        hex(&h.finalize())
    }

    /// The rows at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> TabularDataset {
        let mut features = Vec::with_capacity(indices.len() * self.n_features);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            features.extend_from_slice(self.row(i));
            labels.push(self.labels[i]);
        }
        TabularDataset {
            n_features: self.n_features,
            n_classes: self.n_classes,
            features,
            labels,
        }
    }

    /// Seeded shuffle then split: `(first, rest)` with `round(len * fraction)` rows in `rest`.
    pub fn split(&self, fraction: f32, seed: u64) -> (TabularDataset, TabularDataset) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let n_rest = ((self.len() as f32) * fraction).round() as usize;
        let n_rest = n_rest.min(self.len().saturating_sub(1));
        let (rest, first) = idx.split_at(n_rest);
        (self.subset(first), self.subset(rest))
    }

    /// Appends the rows of `other` (same shape required).
    pub fn concat(&self, other: &TabularDataset) -> Result<TabularDataset> {
        if other.n_features != self.n_features || other.n_classes != self.n_classes {
            return Err(Error::ShapeMismatch {
                what: "concat datasets".into(),
                expected: format!("{} features, {} classes", self.n_features, self.n_classes),
                got: format!("{} features, {} classes", other.n_features, other.n_classes),
            });
        }
        let mut out = self.clone();
        out.features.extend_from_slice(&other.features);
        out.labels.extend_from_slice(&other.labels);
        Ok(out)
    }

    /// Per-class row counts.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.n_classes];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        counts
    }
}

/// A bounded, seeded reservoir of past rows mixed into new training data against forgetting.
#[derive(Debug, Clone)]
pub struct ReplayBuffer {
    capacity_rows: usize,
    seen_rows: u64,
    rows: Option<TabularDataset>,
    rng: ChaCha8Rng,
}

impl ReplayBuffer {
    /// An empty buffer keeping at most `capacity_rows` rows (reservoir sampling, seeded).
    pub fn new(capacity_rows: usize, seed: u64) -> Self {
        Self {
            capacity_rows,
            seen_rows: 0,
            rows: None,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Offers every row of `data` to the reservoir; each row seen so far is kept with equal
    /// probability, so old distributions stay represented after many updates.
    pub fn add(&mut self, data: &TabularDataset) -> Result<()> {
        use rand::Rng;
        data.validate()?;
        let buf = self.rows.get_or_insert_with(|| TabularDataset {
            n_features: data.n_features,
            n_classes: data.n_classes,
            features: Vec::new(),
            labels: Vec::new(),
        });
        if buf.n_features != data.n_features || buf.n_classes != data.n_classes {
            return Err(Error::ShapeMismatch {
                what: "replay buffer rows".into(),
                expected: format!("{} features", buf.n_features),
                got: format!("{} features", data.n_features),
            });
        }
        let nf = data.n_features;
        for i in 0..data.len() {
            self.seen_rows += 1;
            if buf.len() < self.capacity_rows {
                buf.features.extend_from_slice(data.row(i));
                buf.labels.push(data.labels[i]);
            } else {
                let j = self.rng.gen_range(0..self.seen_rows) as usize;
                if j < self.capacity_rows {
                    buf.features[j * nf..(j + 1) * nf].copy_from_slice(data.row(i));
                    buf.labels[j] = data.labels[i];
                }
            }
        }
        Ok(())
    }

    /// Most rows the buffer keeps.
    pub fn capacity(&self) -> usize {
        self.capacity_rows
    }

    /// Rows currently held.
    pub fn len(&self) -> usize {
        self.rows.as_ref().map_or(0, TabularDataset::len)
    }

    /// True when nothing has been added yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `new_data` plus up to `replay_fraction * new_data.len()` buffered rows (seeded pick).
    pub fn mix(
        &mut self,
        new_data: &TabularDataset,
        replay_fraction: f32,
    ) -> Result<TabularDataset> {
        new_data.validate()?;
        let Some(buf) = &self.rows else {
            return Ok(new_data.clone());
        };
        let want = ((new_data.len() as f32) * replay_fraction).round() as usize;
        let mut idx: Vec<usize> = (0..buf.len()).collect();
        idx.shuffle(&mut self.rng);
        idx.truncate(want.min(buf.len()));
        new_data.concat(&buf.subset(&idx))
    }
}

/// Rejects flat feature buffers that are not whole rows or hold NaN/inf.
pub(crate) fn check_features(features: &[f32], n_features: usize) -> Result<usize> {
    if n_features == 0 {
        return Err(Error::InvalidConfig {
            field: "n_features",
            reason: "must be at least 1".into(),
        });
    }
    if !features.len().is_multiple_of(n_features) {
        return Err(Error::FeatureCount {
            expected: n_features,
            got: features.len() % n_features,
            what: "flat buffer length is not a multiple of n_features (remainder shown)",
        });
    }
    if let Some(pos) = features.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            row: pos / n_features,
            column: pos % n_features,
            value: features[pos],
        });
    }
    Ok(features.len() / n_features)
}

/// Per-feature mean and standard deviation fitted on training rows; stored with the model so
/// callers always pass raw features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fits in f64 so large datasets do not lose precision; constant features get std 1.
    pub fn fit(data: &TabularDataset) -> Self {
        let nf = data.n_features;
        // Zero columns means nothing to standardise (and `chunks_exact(0)` would panic).
        if nf == 0 {
            return Self::identity(0);
        }
        let n = data.len().max(1) as f64;
        let mut sum = vec![0f64; nf];
        let mut sq = vec![0f64; nf];
        for row in data.features.chunks_exact(nf) {
            for (j, &v) in row.iter().enumerate() {
                sum[j] += v as f64;
                sq[j] += (v as f64) * (v as f64);
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| {
                let var = (s / n - m * m).max(0.0);
                let sd = var.sqrt();
                if sd < 1e-6 {
                    1.0
                } else {
                    sd as f32
                }
            })
            .collect();
        Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        }
    }

    /// Checks that means are finite and standard deviations finite and positive: a loaded
    /// artifact with a zero std would turn every prediction into NaN.
    pub fn validate(&self) -> Result<()> {
        let bad_mean = self.mean.iter().position(|m| !m.is_finite());
        let bad_std = self.std.iter().position(|s| !(s.is_finite() && *s > 0.0));
        if self.mean.len() != self.std.len() || bad_mean.is_some() || bad_std.is_some() {
            return Err(Error::ArtifactMismatch {
                reason: format!(
                    "standardiser invalid: {} means, {} stds, bad mean at {bad_mean:?}, bad std at {bad_std:?}",
                    self.mean.len(),
                    self.std.len()
                ),
            });
        }
        Ok(())
    }

    /// Identity transform for `n_features` columns.
    pub fn identity(n_features: usize) -> Self {
        Self {
            mean: vec![0.0; n_features],
            std: vec![1.0; n_features],
        }
    }

    /// Standardised copy of a flat row-major buffer.
    pub fn apply(&self, features: &[f32]) -> Vec<f32> {
        let nf = self.mean.len();
        if nf == 0 {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(features.len());
        for row in features.chunks_exact(nf) {
            for ((v, m), s) in row.iter().zip(&self.mean).zip(&self.std) {
                out.push((v - m) / s);
            }
        }
        out
    }
}

/// Lower-case hex of a byte slice.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 of bytes as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

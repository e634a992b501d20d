//! The crate's one error type. Every bad input is a variant with the numbers that made it
//! bad, so callers (agents writing evidence into the log) can report it without parsing text.

/// Everything that can go wrong in `ledgerloop-models`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dataset or a batch had no rows.
    #[error("empty dataset: {what}")]
    EmptyDataset { what: &'static str },
    /// A row had the wrong number of features, or a flat buffer is not a whole number of rows.
    #[error("wrong feature count: expected {expected}, got {got} ({what})")]
    FeatureCount {
        expected: usize,
        got: usize,
        what: &'static str,
    },
    /// A feature value was NaN or infinite.
    #[error("non-finite feature at row {row}, column {column}: {value}")]
    NonFinite {
        row: usize,
        column: usize,
        value: f32,
    },
    /// A label was outside `0..n_classes`.
    #[error("unknown label {label} at row {row}: model has {n_classes} classes")]
    UnknownLabel {
        label: u32,
        row: usize,
        n_classes: usize,
    },
    /// Two things that must agree in shape or size did not.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    ShapeMismatch {
        what: String,
        expected: String,
        got: String,
    },
    /// A configuration value was out of its valid range.
    #[error("invalid config `{field}`: {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    /// The weights' SHA-256 did not match the manifest: the artifact was altered or mixed up.
    #[error("artifact checksum mismatch: manifest says {expected}, weights hash to {actual}")]
    ChecksumMismatch { expected: String, actual: String },
    /// The artifact is readable but not what the caller asked for, or is internally inconsistent.
    #[error("artifact mismatch: {reason}")]
    ArtifactMismatch { reason: String },
    /// A tensor the manifest promises is absent from the weights file.
    #[error("artifact is missing tensor `{name}`")]
    MissingTensor { name: String },
    /// Training diverged (loss became NaN or infinite).
    #[error("training diverged at epoch {epoch}: loss {loss}")]
    Diverged { epoch: usize, loss: f64 },
    /// An id (user, item) that the model cannot answer for and has no fallback.
    #[error("unknown {what} id {id}")]
    UnknownId { what: &'static str, id: u32 },
    /// The safetensors container itself could not be parsed or written.
    #[error("safetensors: {0}")]
    Safetensors(#[from] safetensors::SafeTensorError),
    /// The manifest JSON could not be parsed or written.
    #[error("manifest json: {0}")]
    Json(#[from] serde_json::Error),
    /// Reading or writing an artifact file failed.
    #[error("io on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// candle reported an error (shapes, dtypes); a bug here rather than bad input.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

//! The crate's error type.

use std::path::PathBuf;

/// Everything a caller can get wrong or the file system can refuse.
#[derive(Debug, thiserror::Error)]
pub enum TernaryError {
    /// A group size of 0.
    #[error("group size must be positive, got {0}")]
    InvalidGroupSize(usize),
    /// A weight is NaN or ±∞.
    #[error("weight {index} is not finite")]
    NonFinite {
        /// Its flat index.
        index: usize,
    },
    /// A projected weight is not `s·q` with `q ∈ {−1, 0, +1}` within the tolerance.
    #[error("weight {index} is not ternary: W_q/s = {ratio}")]
    NotTernary {
        /// Its flat index.
        index: usize,
        /// `Ŵ/s` at that weight.
        ratio: f32,
    },
    /// A packed code is 3, the reserved value.
    #[error("packed weight {index} uses the reserved code 3")]
    ReservedCode {
        /// Flat index of the weight.
        index: usize,
    },
    /// A packed f16 scale is not `mean|W|` of its latent group (beyond one f16 step).
    #[error("group {group}: stored scale {stored} is not mean|W| = {mean_abs}")]
    ScaleMismatch {
        /// Index of the group.
        group: usize,
        /// The scale stored in the packed file.
        stored: f32,
        /// `mean|W|` of the latent group.
        mean_abs: f32,
    },
    /// A packed code is not the code the latent weights project to.
    #[error("weight {index}: stored code {stored}, the latent weights give {expected}")]
    CodeMismatch {
        /// Flat index of the weight.
        index: usize,
        /// The code stored.
        stored: i8,
        /// The code of the latent weight: ±1 where `|W/s| > 0.5`, else 0.
        expected: i8,
    },
    /// An array has the wrong shape.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A model or training configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The loss became NaN or infinite.
    #[error("training diverged at step {step}: loss {loss}")]
    Diverged {
        /// The step at which it did.
        step: usize,
        /// The loss.
        loss: f64,
    },
    /// The corpus is unusable (e.g. too small for the split and windows).
    #[error("corpus: {0}")]
    Corpus(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing an `.npz` archive failed.
    #[error("{path}: {message}")]
    Npz {
        /// The archive.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Serialising or parsing JSON failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

//! The crate's error type.

use std::path::PathBuf;

/// Everything a caller can get wrong or the file system can refuse.
#[derive(Debug, thiserror::Error)]
pub enum TernaryError {
    #[error("group size must be positive, got {0}")]
    InvalidGroupSize(usize),
    #[error("weight {index} is not finite")]
    NonFinite { index: usize },
    #[error("weight {index} is not ternary: W_q/s = {ratio}")]
    NotTernary { index: usize, ratio: f32 },
    #[error("packed weight {index} uses the reserved code 3")]
    ReservedCode { index: usize },
    #[error("group {group}: stored scale {stored} is not mean|W| = {mean_abs}")]
    ScaleMismatch {
        group: usize,
        stored: f32,
        mean_abs: f32,
    },
    #[error("weight {index}: stored code {stored}, the latent weights give {expected}")]
    CodeMismatch {
        index: usize,
        stored: i8,
        expected: i8,
    },
    #[error("shape mismatch: {0}")]
    Shape(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("training diverged at step {step}: loss {loss}")]
    Diverged { step: usize, loss: f64 },
    #[error("corpus: {0}")]
    Corpus(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Npz { path: PathBuf, message: String },
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

//! What can go wrong with inputs a caller controls.

use thiserror::Error;

/// Invalid inputs to [`crate::layer_norm_forward`] or [`crate::layer_norm_backward`].
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LayerNormError {
    /// A tensor's shape does not fit the others.
    #[error("{name} has shape {got:?}, expected {expected:?}")]
    ShapeMismatch {
        /// Which argument: `gamma`, `beta` or `dy`.
        name: &'static str,
        /// The shape it must have.
        expected: Vec<usize>,
        /// The shape it has.
        got: Vec<usize>,
    },
    /// The normalised axis is empty: mean and variance are undefined.
    #[error("the normalised axis D is empty")]
    EmptyFeatureAxis,
    /// ε must be finite and positive: it is what keeps constant rows finite.
    #[error("eps must be finite and > 0, got {0}")]
    InvalidEps(f64),
}

//! What a caller can get wrong, reported instead of panicking.

/// Invalid arguments to the attention functions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttentionError {
    /// The tile size is 0.
    #[error("tile size must be at least 1")]
    ZeroTile,
    /// D = 0: there is nothing to attend with and 1/√D is infinite.
    #[error("head dimension D must be at least 1 (the scores are scaled by 1/sqrt(D))")]
    EmptyHeadDim,
    /// An input or upstream gradient does not have the shape of `q`.
    #[error("{name} has shape {actual:?}, expected {expected:?} (from the shape of q)")]
    ShapeMismatch {
        /// Which array: `k`, `v`, `o`, `d_o` or `lse`.
        name: &'static str,
        /// The shape of `q`, or its (B, H, N) prefix for `lse`.
        expected: Vec<usize>,
        /// The shape it has.
        actual: Vec<usize>,
    },
}

/// Checks that every named array has the `expected` shape.
pub(crate) fn check_shapes(
    expected: &[usize],
    arrays: &[(&'static str, &[usize])],
) -> Result<(), AttentionError> {
    match arrays.iter().find(|(_, shape)| *shape != expected) {
        Some(&(name, actual)) => Err(AttentionError::ShapeMismatch {
            name,
            expected: expected.to_vec(),
            actual: actual.to_vec(),
        }),
        None => Ok(()),
    }
}

//! What a caller can get wrong, reported instead of panicking.

/// Invalid arguments to the attention functions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttentionError {
    #[error("tile size must be at least 1")]
    ZeroTile,
    #[error("head dimension D must be at least 1 (the scores are scaled by 1/sqrt(D))")]
    EmptyHeadDim,
    #[error("{name} has shape {actual:?}, expected {expected:?} (from the shape of q)")]
    ShapeMismatch {
        name: &'static str,
        expected: Vec<usize>,
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

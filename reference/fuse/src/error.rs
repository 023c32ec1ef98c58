//! What can go wrong on the CPU side: bad shapes and inputs a caller can give.

/// Errors of the CPU reference (shape and input checks).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FuseError {
    /// `k` must select at least one and at most `vocab` entries per row.
    #[error("k = {k} is outside 1..=vocab (vocab = {vocab})")]
    InvalidK {
        /// The `k` asked for.
        k: usize,
        /// Columns per row.
        vocab: usize,
    },
    /// The flat logits buffer does not hold `rows × vocab` values.
    #[error("logits hold {len} values but rows × vocab = {rows} × {vocab}")]
    ShapeMismatch {
        /// Length of the flat buffer.
        len: usize,
        /// Rows asked for.
        rows: usize,
        /// Columns per row.
        vocab: usize,
    },
    /// NaN and +inf have no softmax: the reference refuses them instead of returning NaN.
    #[error(
        "logit at row {row}, column {column} is {value}: only finite values and -inf are defined"
    )]
    UnsupportedLogit {
        /// Row of the offending logit.
        row: usize,
        /// Its column.
        column: usize,
        /// The logit: NaN or +inf.
        value: f32,
    },
}

/// Checks the shape shared by every implementation: `logits` is `[rows, vocab]`, `1 <= k <= vocab`.
pub fn check_shape(logits: &[f32], rows: usize, vocab: usize, k: usize) -> Result<(), FuseError> {
    if k == 0 || k > vocab {
        return Err(FuseError::InvalidK { k, vocab });
    }
    if rows.checked_mul(vocab) != Some(logits.len()) {
        return Err(FuseError::ShapeMismatch {
            len: logits.len(),
            rows,
            vocab,
        });
    }
    Ok(())
}

/// Rejects NaN and +inf (−inf is allowed: it is a probability of exactly 0).
pub(crate) fn check_logit(row: usize, column: usize, value: f32) -> Result<(), FuseError> {
    if value.is_nan() || value == f32::INFINITY {
        return Err(FuseError::UnsupportedLogit { row, column, value });
    }
    Ok(())
}

//! What can go wrong with inputs a caller controls.

use thiserror::Error;

/// Invalid use of a [`crate::KvCache`] or of [`crate::full_causal_attention`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KvCacheError {
    /// A dimension of the cache is zero (or the block size is).
    #[error("invalid cache configuration: {0} must be positive")]
    ZeroDimension(&'static str),
    /// The sequence id is not a slot of this cache.
    #[error("unknown sequence {seq}: this cache has slots 0..{slots}")]
    UnknownSequence {
        /// The sequence id asked for.
        seq: usize,
        /// Number of slots; valid ids are `0..slots`.
        slots: usize,
    },
    /// The append would take the sequence past `max_len`.
    #[error("sequence {seq} holds {len} tokens; {appending} more would exceed max_len {max_len}")]
    CapacityExceeded {
        /// The sequence appended to.
        seq: usize,
        /// Tokens it holds already.
        len: usize,
        /// Tokens the append adds.
        appending: usize,
        /// Most tokens a sequence may hold.
        max_len: usize,
    },
    /// The paged cache's pool has too few free blocks for the append.
    #[error("block pool exhausted: {needed} blocks needed, {available} available")]
    PoolExhausted {
        /// Blocks the append would allocate.
        needed: usize,
        /// Blocks free in the pool.
        available: usize,
    },
    /// An array's shape does not fit the cache or the other arguments.
    #[error("{name} has shape {got:?}, expected {expected:?}")]
    ShapeMismatch {
        /// Which argument is misshapen.
        name: &'static str,
        /// The shape it must have.
        expected: Vec<usize>,
        /// The shape it has.
        got: Vec<usize>,
    },
    /// Attention over a sequence with no cached tokens is undefined (softmax of nothing).
    #[error("sequence {seq} has no cached tokens to attend over")]
    EmptySequence {
        /// The empty sequence.
        seq: usize,
    },
    /// A batched call names one sequence twice: one token per sequence per step.
    #[error("sequence {seq} appears more than once in one batched call")]
    DuplicateSequence {
        /// The sequence named twice.
        seq: usize,
    },
}

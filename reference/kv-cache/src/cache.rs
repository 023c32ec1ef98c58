//! The contract every cache layout implements, and the batched per-step operations built on it.

use ndarray::{Array3, ArrayView3, Axis, s};

use crate::attention::attend_cached;
use crate::bytes_per_token;
use crate::error::KvCacheError;

/// A sequence is named by the cache slot it occupies, `0..slots`.
pub type SeqId = usize;

/// The shape of a cache: how many sequences, heads, the head size and the per-sequence limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheDims {
    /// Sequences that can be cached at once (the batch capacity).
    pub slots: usize,
    /// Attention heads H.
    pub heads: usize,
    /// Size d of each head's key, value and query vectors.
    pub head_dim: usize,
    /// Most tokens one sequence may hold.
    pub max_len: usize,
}

impl CacheDims {
    /// Every dimension must be positive.
    ///
    /// # Errors
    /// [`KvCacheError::ZeroDimension`] naming the first zero one.
    pub fn validate(&self) -> Result<(), KvCacheError> {
        for (name, value) in [
            ("slots", self.slots),
            ("heads", self.heads),
            ("head_dim", self.head_dim),
            ("max_len", self.max_len),
        ] {
            if value == 0 {
                return Err(KvCacheError::ZeroDimension(name));
            }
        }
        Ok(())
    }

    /// [`bytes_per_token`] for f64 storage.
    pub fn bytes_per_token(&self) -> usize {
        bytes_per_token(self.heads, self.head_dim, size_of::<f64>())
    }

    /// `seq` as a slot index, or [`KvCacheError::UnknownSequence`].
    pub(crate) fn check_seq(&self, seq: SeqId) -> Result<usize, KvCacheError> {
        if seq < self.slots {
            Ok(seq)
        } else {
            Err(KvCacheError::UnknownSequence {
                seq,
                slots: self.slots,
            })
        }
    }

    /// Checks that `keys` and `values` are both (n, H, d) and returns n.
    pub(crate) fn check_token_block(
        &self,
        keys: &ArrayView3<'_, f64>,
        values: &ArrayView3<'_, f64>,
    ) -> Result<usize, KvCacheError> {
        let tokens = keys.len_of(Axis(0));
        let expected = [tokens, self.heads, self.head_dim];
        check_shape("keys", keys.shape(), &expected)?;
        check_shape("values", values.shape(), &expected)?;
        Ok(tokens)
    }
}

/// A run of cached tokens that are contiguous in memory: keys and values, each (H, n, d).
#[derive(Debug, Clone)]
pub struct KvSegment<'a> {
    /// Keys of the run, (H, n, d).
    pub keys: ArrayView3<'a, f64>,
    /// Values of the run, (H, n, d).
    pub values: ArrayView3<'a, f64>,
}

/// A KV cache for one attention layer, whatever its memory layout.
///
/// The required methods are the layout; the provided ones ([`KvCache::append`],
/// [`KvCache::attend`]) are one decoding step for a batch, identical for every layout.
pub trait KvCache {
    /// The cache's dimensions.
    fn dims(&self) -> CacheDims;

    /// Tokens cached for `seq`; 0 for a slot no sequence has used since its last release.
    ///
    /// # Errors
    /// [`KvCacheError::UnknownSequence`].
    fn seq_len(&self, seq: SeqId) -> Result<usize, KvCacheError>;

    /// Whether appending `tokens` to each `(seq, tokens)` would succeed, all together; the
    /// sequences must be distinct.
    ///
    /// # Errors
    /// Unknown sequence, past `max_len`, or (paged) too few free blocks.
    fn check_append(&self, appends: &[(SeqId, usize)]) -> Result<(), KvCacheError>;

    /// Appends n tokens to `seq`: `keys` and `values` are (n, H, d) — one token while decoding,
    /// a whole prompt at once while prefilling. Nothing is written if it fails.
    ///
    /// # Errors
    /// As [`KvCache::check_append`], or shapes other than (n, H, d).
    fn append_tokens(
        &mut self,
        seq: SeqId,
        keys: ArrayView3<'_, f64>,
        values: ArrayView3<'_, f64>,
    ) -> Result<(), KvCacheError>;

    /// The cached keys and values of `seq` in token order, as contiguous runs; empty for an
    /// empty sequence.
    ///
    /// # Errors
    /// [`KvCacheError::UnknownSequence`].
    fn segments(&self, seq: SeqId) -> Result<Vec<KvSegment<'_>>, KvCacheError>;

    /// Forgets `seq`'s tokens so the slot can take a new sequence (and, paged, returns its blocks
    /// to the pool). Releasing an empty slot does nothing.
    ///
    /// # Errors
    /// [`KvCacheError::UnknownSequence`].
    fn release(&mut self, seq: SeqId) -> Result<(), KvCacheError>;

    /// Bytes of key/value storage this cache holds right now.
    fn bytes_held(&self) -> usize;

    /// One decoding step's update: appends one token to each of `seqs` (distinct), with `keys`
    /// and `values` (n, H, d) where row i belongs to `seqs[i]`. All or nothing.
    ///
    /// # Errors
    /// Shapes other than (len(seqs), H, d), a repeated sequence, or any
    /// [`KvCache::check_append`] error.
    fn append(
        &mut self,
        seqs: &[SeqId],
        keys: ArrayView3<'_, f64>,
        values: ArrayView3<'_, f64>,
    ) -> Result<(), KvCacheError> {
        let dims = self.dims();
        let expected = [seqs.len(), dims.heads, dims.head_dim];
        check_shape("keys", keys.shape(), &expected)?;
        check_shape("values", values.shape(), &expected)?;
        check_distinct(seqs)?;
        let appends: Vec<(SeqId, usize)> = seqs.iter().map(|&seq| (seq, 1)).collect();
        self.check_append(&appends)?;
        for (row, &seq) in seqs.iter().enumerate() {
            let token = s![row..row + 1, .., ..];
            self.append_tokens(seq, keys.slice(token), values.slice(token))?;
        }
        Ok(())
    }

    /// One decoding step's attention: row i of the result (n, H, d) is, for every head,
    /// `softmax(qᵢ·Kᵀ/√d)·V` over the tokens cached for `seqs[i]` — its own prefix only.
    ///
    /// # Errors
    /// `queries` not (len(seqs), H, d), an unknown sequence, or one with no cached tokens.
    fn attend(
        &self,
        seqs: &[SeqId],
        queries: ArrayView3<'_, f64>,
    ) -> Result<Array3<f64>, KvCacheError> {
        let dims = self.dims();
        check_shape(
            "queries",
            queries.shape(),
            &[seqs.len(), dims.heads, dims.head_dim],
        )?;
        let mut outputs = Array3::zeros(queries.raw_dim());
        for ((&seq, query), output) in seqs
            .iter()
            .zip(queries.outer_iter())
            .zip(outputs.outer_iter_mut())
        {
            let segments = self.segments(seq)?;
            if segments.is_empty() {
                return Err(KvCacheError::EmptySequence { seq });
            }
            attend_cached(query, &segments, output);
        }
        Ok(outputs)
    }
}

pub(crate) fn check_shape(
    name: &'static str,
    got: &[usize],
    expected: &[usize],
) -> Result<(), KvCacheError> {
    if got == expected {
        Ok(())
    } else {
        Err(KvCacheError::ShapeMismatch {
            name,
            expected: expected.to_vec(),
            got: got.to_vec(),
        })
    }
}

fn check_distinct(seqs: &[SeqId]) -> Result<(), KvCacheError> {
    for (i, &seq) in seqs.iter().enumerate() {
        if seqs[..i].contains(&seq) {
            return Err(KvCacheError::DuplicateSequence { seq });
        }
    }
    Ok(())
}

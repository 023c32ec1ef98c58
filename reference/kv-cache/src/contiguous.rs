//! Contiguous layout: one preallocated `max_len` region per sequence slot.

use ndarray::{Array4, ArrayView3, s};

use crate::cache::{CacheDims, KvCache, KvSegment, SeqId};
use crate::error::KvCacheError;

/// Keys and values each stored as `(slots, H, max_len, d)`, with a length counter per slot.
///
/// Appending is a copy into position `len`; attention for (sequence, head) reads one
/// contiguous `(len, d)` matrix. Everything is allocated up front: the cache holds
/// `slots · max_len ·` [`crate::bytes_per_token`] bytes whatever the sequences' lengths.
#[derive(Debug, Clone)]
pub struct ContiguousKvCache {
    dims: CacheDims,
    keys: Array4<f64>,
    values: Array4<f64>,
    lens: Vec<usize>,
}

impl ContiguousKvCache {
    /// An empty cache with every slot free.
    ///
    /// # Errors
    /// A zero dimension.
    pub fn new(dims: CacheDims) -> Result<Self, KvCacheError> {
        dims.validate()?;
        let shape = (dims.slots, dims.heads, dims.max_len, dims.head_dim);
        Ok(Self {
            dims,
            keys: Array4::zeros(shape),
            values: Array4::zeros(shape),
            lens: vec![0; dims.slots],
        })
    }
}

impl KvCache for ContiguousKvCache {
    fn dims(&self) -> CacheDims {
        self.dims
    }

    fn seq_len(&self, seq: SeqId) -> Result<usize, KvCacheError> {
        Ok(self.lens[self.dims.check_seq(seq)?])
    }

    fn check_append(&self, appends: &[(SeqId, usize)]) -> Result<(), KvCacheError> {
        for &(seq, appending) in appends {
            let len = self.seq_len(seq)?;
            if len + appending > self.dims.max_len {
                return Err(KvCacheError::CapacityExceeded {
                    seq,
                    len,
                    appending,
                    max_len: self.dims.max_len,
                });
            }
        }
        Ok(())
    }

    fn append_tokens(
        &mut self,
        seq: SeqId,
        keys: ArrayView3<'_, f64>,
        values: ArrayView3<'_, f64>,
    ) -> Result<(), KvCacheError> {
        let tokens = self.dims.check_token_block(&keys, &values)?;
        self.check_append(&[(seq, tokens)])?;
        let len = self.lens[seq];
        // Input is token-major (n, H, d); storage is head-major (H, max_len, d).
        let positions = s![seq, .., len..len + tokens, ..];
        let token_major = [1, 0, 2];
        self.keys
            .slice_mut(positions)
            .assign(&keys.permuted_axes(token_major));
        self.values
            .slice_mut(positions)
            .assign(&values.permuted_axes(token_major));
        self.lens[seq] += tokens;
        Ok(())
    }

    fn segments(&self, seq: SeqId) -> Result<Vec<KvSegment<'_>>, KvCacheError> {
        let len = self.seq_len(seq)?;
        if len == 0 {
            return Ok(Vec::new());
        }
        let cached = s![seq, .., ..len, ..];
        Ok(vec![KvSegment {
            keys: self.keys.slice(cached),
            values: self.values.slice(cached),
        }])
    }

    fn release(&mut self, seq: SeqId) -> Result<(), KvCacheError> {
        // The stale rows stay; every read is bounded by the length, so they are never seen.
        self.lens[self.dims.check_seq(seq)?] = 0;
        Ok(())
    }

    fn bytes_held(&self) -> usize {
        (self.keys.len() + self.values.len()) * size_of::<f64>()
    }
}

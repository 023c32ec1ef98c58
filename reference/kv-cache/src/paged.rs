//! Paged layout: fixed-size blocks from a shared pool, one block table per sequence.

use ndarray::{Array3, ArrayView3, Axis, s};

use crate::cache::{CacheDims, KvCache, KvSegment, SeqId};
use crate::error::KvCacheError;

/// Index of a physical block in the pool.
pub type BlockId = usize;

/// `block_size` tokens of keys and of values, each stored head-major as (H, block_size, d).
#[derive(Debug, Clone)]
struct Block {
    keys: Array3<f64>,
    values: Array3<f64>,
}

/// Token `p` of a sequence lives in physical block `block_table[p / block_size]`, row
/// `p % block_size`.
///
/// Blocks are materialised the first time the pool needs them, handed out when a sequence
/// crosses a block boundary, and returned to a free list (and reused first) when a sequence is
/// released. Memory held is `Σ ⌈lenᵢ / block_size⌉` blocks (plus free ones kept for reuse):
/// at most one partly used block per sequence, however different the lengths.
#[derive(Debug, Clone)]
pub struct PagedKvCache {
    dims: CacheDims,
    block_size: usize,
    /// Most blocks the pool may ever materialise.
    pool_capacity: usize,
    blocks: Vec<Block>,
    free_blocks: Vec<BlockId>,
    block_tables: Vec<Vec<BlockId>>,
    lens: Vec<usize>,
}

impl PagedKvCache {
    /// A cache whose pool can hold every slot at `max_len` (so it never runs out), though it
    /// only materialises the blocks actually used.
    ///
    /// # Errors
    /// A zero dimension or block size.
    pub fn new(dims: CacheDims, block_size: usize) -> Result<Self, KvCacheError> {
        if block_size == 0 {
            return Err(KvCacheError::ZeroDimension("block_size"));
        }
        let worst_case = dims.slots * dims.max_len.div_ceil(block_size);
        Self::with_pool_capacity(dims, block_size, worst_case)
    }

    /// A cache whose pool holds at most `pool_blocks` blocks, shared by all sequences: fewer
    /// than the worst case oversubscribes memory, betting that not every sequence reaches
    /// `max_len` at once; an append that finds the pool empty fails with
    /// [`KvCacheError::PoolExhausted`].
    ///
    /// # Errors
    /// A zero dimension, block size or pool size.
    pub fn with_pool_capacity(
        dims: CacheDims,
        block_size: usize,
        pool_blocks: usize,
    ) -> Result<Self, KvCacheError> {
        dims.validate()?;
        for (name, value) in [("block_size", block_size), ("pool_blocks", pool_blocks)] {
            if value == 0 {
                return Err(KvCacheError::ZeroDimension(name));
            }
        }
        Ok(Self {
            dims,
            block_size,
            pool_capacity: pool_blocks,
            blocks: Vec::new(),
            free_blocks: Vec::new(),
            block_tables: vec![Vec::new(); dims.slots],
            lens: vec![0; dims.slots],
        })
    }

    /// Tokens per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// The physical blocks of `seq`, in token order.
    ///
    /// # Errors
    /// [`KvCacheError::UnknownSequence`].
    pub fn block_table(&self, seq: SeqId) -> Result<&[BlockId], KvCacheError> {
        Ok(&self.block_tables[self.dims.check_seq(seq)?])
    }

    /// Blocks held by sequences now: `Σᵢ ⌈lenᵢ / block_size⌉`.
    pub fn blocks_in_use(&self) -> usize {
        self.blocks.len() - self.free_blocks.len()
    }

    /// Blocks materialised so far, in use or free for reuse.
    pub fn blocks_allocated(&self) -> usize {
        self.blocks.len()
    }

    /// Bytes of the blocks held by sequences (excluding free blocks kept for reuse).
    pub fn bytes_in_use(&self) -> usize {
        self.blocks_in_use() * self.block_bytes()
    }

    fn block_bytes(&self) -> usize {
        self.block_size * self.dims.bytes_per_token()
    }

    /// Blocks the pool can still hand out: free ones plus those not yet materialised.
    fn available_blocks(&self) -> usize {
        self.free_blocks.len() + (self.pool_capacity - self.blocks.len())
    }

    /// A block for a sequence that just crossed a block boundary: a freed one if any, else a
    /// new one. Callers check [`Self::available_blocks`] first.
    fn take_block(&mut self) -> BlockId {
        if let Some(block) = self.free_blocks.pop() {
            return block;
        }
        let shape = (self.dims.heads, self.block_size, self.dims.head_dim);
        self.blocks.push(Block {
            keys: Array3::zeros(shape),
            values: Array3::zeros(shape),
        });
        self.blocks.len() - 1
    }
}

impl KvCache for PagedKvCache {
    fn dims(&self) -> CacheDims {
        self.dims
    }

    fn seq_len(&self, seq: SeqId) -> Result<usize, KvCacheError> {
        Ok(self.lens[self.dims.check_seq(seq)?])
    }

    fn check_append(&self, appends: &[(SeqId, usize)]) -> Result<(), KvCacheError> {
        let mut blocks_needed = 0;
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
            blocks_needed +=
                (len + appending).div_ceil(self.block_size) - self.block_tables[seq].len();
        }
        let available = self.available_blocks();
        if blocks_needed > available {
            return Err(KvCacheError::PoolExhausted {
                needed: blocks_needed,
                available,
            });
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
        for (key, value) in keys.outer_iter().zip(values.outer_iter()) {
            let position = self.lens[seq];
            let row = position % self.block_size;
            if row == 0 {
                let block = self.take_block();
                self.block_tables[seq].push(block);
            }
            let block = &mut self.blocks[self.block_tables[seq][position / self.block_size]];
            block.keys.index_axis_mut(Axis(1), row).assign(&key);
            block.values.index_axis_mut(Axis(1), row).assign(&value);
            self.lens[seq] += 1;
        }
        Ok(())
    }

    fn segments(&self, seq: SeqId) -> Result<Vec<KvSegment<'_>>, KvCacheError> {
        let len = self.seq_len(seq)?;
        Ok(self.block_tables[seq]
            .iter()
            .enumerate()
            .map(|(logical, &physical)| {
                // Every block is full except possibly the last.
                let used = (len - logical * self.block_size).min(self.block_size);
                let block = &self.blocks[physical];
                KvSegment {
                    keys: block.keys.slice(s![.., ..used, ..]),
                    values: block.values.slice(s![.., ..used, ..]),
                }
            })
            .collect())
    }

    fn release(&mut self, seq: SeqId) -> Result<(), KvCacheError> {
        let slot = self.dims.check_seq(seq)?;
        self.free_blocks.append(&mut self.block_tables[slot]);
        self.lens[slot] = 0;
        Ok(())
    }

    fn bytes_held(&self) -> usize {
        self.blocks.len() * self.block_bytes()
    }
}

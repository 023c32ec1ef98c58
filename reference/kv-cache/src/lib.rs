//! KV cache for autoregressive multi-head attention with batched, variable-length sequences.
//!
//! # Why a cache
//!
//! Decoding token `t` needs `softmax(q_t Kᵀ/√d) V` over the keys and values of tokens `0..=t`.
//! Those of tokens `< t` do not change, so they are computed once, stored, and each step only
//! projects the new token and appends its `k_t, v_t` — per step O(t·H·d) work for the attention
//! instead of recomputing all t projections and the O(t²) attention matrix.
//!
//! # Layouts (behind one trait, [`KvCache`])
//!
//! * [`ContiguousKvCache`]: one slot per sequence, preallocated for `max_len` tokens, keys and
//!   values each `(slots, H, max_len, d)`; a sequence's length is a counter. Head-major, so
//!   the keys one head attends over are one contiguous `(len, d)` matrix.
//! * [`PagedKvCache`]: fixed-size blocks of `block_size` tokens, each `(H, block_size, d)` for
//!   keys and for values, taken from a shared pool on demand; a per-sequence *block table*
//!   maps logical block `p / block_size` to a physical block. Released sequences return their
//!   blocks to the pool for reuse.
//!
//! A sequence is named by its slot, `0..slots`; a sequence joins late simply by receiving its
//! first token late, and [`KvCache::release`] frees the slot for the next one.
//!
//! # Update and attention, per step
//!
//! [`KvCache::append`] writes one new token's `k, v` (H, d) at position `len` of each listed
//! sequence, then [`KvCache::attend`] computes, per sequence and head, the numerically stable
//! `softmax(q·Kᵀ/√d − max)·V` over exactly that sequence's `len` cached tokens — no padding
//! is ever read, so nothing needs masking, and one sequence never sees another's tokens.
//!
//! # Memory growth
//!
//! A token costs [`bytes_per_token`]`(H, d, itemsize) = 2·H·d·itemsize` per layer (keys and
//! values), so a sequence of `t` tokens needs `2·H·d·itemsize·t` bytes: **linear in t**
//! (the attention *work* per step is linear in t too, quadratic summed over a whole
//! generation). Example: 32 layers, H = 32, d = 128, f16: 16 KiB per token per layer, 512 KiB
//! per token for the model, 2 GiB for one 4096-token sequence.
//!
//! * Contiguous: holds `slots · max_len · bytes_per_token` from the start, whatever the actual
//!   lengths — the waste is `Σᵢ (max_len − lenᵢ)` tokens' worth, large when lengths vary.
//! * Paged: holds `Σᵢ ⌈lenᵢ / block_size⌉ · block_size · bytes_per_token`, so the waste is
//!   **at most one partly filled block per sequence**, `< block_size` tokens each, plus the
//!   block tables (`⌈len/block_size⌉` indices per sequence).
//!
//! # Optimisations beyond this reference
//!
//! Paged blocks (here) end fragmentation and allow sharing a common prompt prefix's blocks
//! between sequences (copy-on-write); quantising cached k/v to int8/fp8 with per-block scales
//! halves or quarters the bytes; grouped-query attention stores `H_kv < H` heads; chunked
//! prefill appends a long prompt in pieces; sliding windows bound t.
//!
//! # GPU mapping
//!
//! One thread block per (sequence, head) — or per (sequence, head, chunk of blocks) with a
//! final reduction for long contexts (split-K, "flash decoding") — loads `q` into registers,
//! streams that head's key blocks through shared memory following the block table, keeps a
//! running max and sum (online softmax) so the scores never leave the chip, and accumulates
//! `p·V` the same way. Decoding is memory-bound: every step reads the whole cache once, so
//! the cache's bytes — not FLOPs — set the speed.

#![warn(missing_docs)]

mod attention;
mod cache;
mod contiguous;
mod error;
mod naive;
mod paged;

pub use cache::{CacheDims, KvCache, KvSegment, SeqId};
pub use contiguous::ContiguousKvCache;
pub use error::KvCacheError;
pub use naive::full_causal_attention;
pub use paged::{BlockId, PagedKvCache};

/// Bytes one token occupies in the cache of one attention layer: a key and a value vector per
/// head, `2 · heads · head_dim · itemsize`.
pub const fn bytes_per_token(heads: usize, head_dim: usize, itemsize: usize) -> usize {
    2 * heads * head_dim * itemsize
}

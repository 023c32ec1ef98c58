//! Batched incremental decoding through the contiguous and the paged cache: tokens/s and bytes
//! held, then bytes held when the sequences' lengths differ.
//!
//! ```text
//! cargo bench -p kv-cache                     # batch 8, H = 8, d = 64, 4096 steps
//! KV_BENCH_STEPS=1024 cargo bench -p kv-cache # shorter run
//! KV_BENCH_BLOCK=64 cargo bench -p kv-cache   # paged block size (default 16)
//! ```
//!
//! Every step appends one token to each of the 8 sequences and attends one query per sequence
//! over its whole prefix, so the work per step grows linearly and the whole run quadratically
//! with the number of steps. f64, one thread.

use std::time::{Duration, Instant};

use kv_cache::{CacheDims, ContiguousKvCache, KvCache, PagedKvCache, SeqId};
use ndarray::{Array3, Axis};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

const BATCH: usize = 8;
const HEADS: usize = 8;
const HEAD_DIM: usize = 64;
/// Tokens per paged block unless `KV_BENCH_BLOCK` says otherwise.
const DEFAULT_BLOCK_SIZE: usize = 16;
/// Distinct random tokens the run cycles through, so no RNG runs inside the timed loop.
const TOKEN_POOL: usize = 64;

fn main() {
    let steps: usize = std::env::var("KV_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4096);
    let block_size: usize = std::env::var("KV_BENCH_BLOCK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_BLOCK_SIZE);
    let dims = CacheDims {
        slots: BATCH,
        heads: HEADS,
        head_dim: HEAD_DIM,
        max_len: steps,
    };
    let token_bytes = dims.bytes_per_token();
    println!(
        "decode {steps} steps, batch {BATCH}, H = {HEADS}, d = {HEAD_DIM}, f64, paged block {block_size}; \
         {token_bytes} bytes per token"
    );
    println!(
        "{:>11} {:>10} {:>10} {:>10} {:>12} {:>12} {:>16}",
        "layout", "append s", "attend s", "tokens/s", "MiB held", "MiB tokens", "held / tokens"
    );
    let token_mib = (BATCH * steps * token_bytes) as f64 / MIB;
    for (name, mut cache) in layouts(dims, block_size) {
        let (append, attend) = decode(cache.as_mut(), steps);
        let seconds = (append + attend).as_secs_f64();
        let held_mib = cache.bytes_held() as f64 / MIB;
        println!(
            "{name:>11} {:>10.2} {:>10.2} {:>10.0} {held_mib:>12.1} {token_mib:>12.1} {:>16.3}",
            append.as_secs_f64(),
            attend.as_secs_f64(),
            (BATCH * steps) as f64 / seconds,
            held_mib / token_mib,
        );
    }

    println!();
    println!("bytes held with staggered lengths (sequence i holds {steps}·(i+1)/{BATCH} tokens):");
    let lengths: Vec<usize> = (0..BATCH).map(|i| steps * (i + 1) / BATCH).collect();
    let cached: usize = lengths.iter().sum();
    println!(
        "{:>11} {:>12} {:>12} {:>16}",
        "layout", "MiB held", "MiB tokens", "held / tokens"
    );
    for (name, mut cache) in layouts(dims, block_size) {
        fill(cache.as_mut(), &lengths);
        println!(
            "{name:>11} {:>12.1} {:>12.1} {:>16.3}",
            cache.bytes_held() as f64 / MIB,
            (cached * token_bytes) as f64 / MIB,
            cache.bytes_held() as f64 / (cached * token_bytes) as f64,
        );
    }
}

const MIB: f64 = 1024.0 * 1024.0;

fn layouts(dims: CacheDims, block_size: usize) -> [(&'static str, Box<dyn KvCache>); 2] {
    [
        (
            "contiguous",
            Box::new(ContiguousKvCache::new(dims).expect("benchmark dimensions are positive")),
        ),
        (
            "paged",
            Box::new(
                PagedKvCache::new(dims, block_size).expect("benchmark dimensions are positive"),
            ),
        ),
    ]
}

/// Random (BATCH, H, d) tokens to cycle through.
fn token_pool(seed: u64) -> Vec<Array3<f64>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..TOKEN_POOL)
        .map(|_| {
            Array3::from_shape_simple_fn((BATCH, HEADS, HEAD_DIM), || rng.sample(StandardNormal))
        })
        .collect()
}

/// `steps` decoding steps for the whole batch; returns the time spent appending and attending.
fn decode(cache: &mut dyn KvCache, steps: usize) -> (Duration, Duration) {
    let (keys, values, queries) = (token_pool(1), token_pool(2), token_pool(3));
    let seqs: Vec<SeqId> = (0..BATCH).collect();
    let (mut append, mut attend) = (Duration::ZERO, Duration::ZERO);
    for step in 0..steps {
        let token = step % TOKEN_POOL;
        let start = Instant::now();
        cache
            .append(&seqs, keys[token].view(), values[token].view())
            .expect("max_len is the number of steps");
        append += start.elapsed();
        let start = Instant::now();
        let outputs = cache
            .attend(&seqs, queries[token].view())
            .expect("every sequence holds a token");
        attend += start.elapsed();
        std::hint::black_box(outputs);
    }
    (append, attend)
}

/// Appends `lengths[i]` tokens to sequence i, as a prompt, without attending.
fn fill(cache: &mut dyn KvCache, lengths: &[usize]) {
    let token = token_pool(4).swap_remove(0);
    for (seq, &len) in lengths.iter().enumerate() {
        let one = token.index_axis(Axis(0), seq).insert_axis(Axis(0));
        let prompt = one
            .broadcast((len, HEADS, HEAD_DIM))
            .expect("broadcast along tokens");
        cache
            .append_tokens(seq, prompt, prompt)
            .expect("lengths are at most max_len");
    }
}

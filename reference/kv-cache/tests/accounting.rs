//! Paged block accounting, bytes held, and the errors a caller can provoke.

use kv_cache::{
    CacheDims, ContiguousKvCache, KvCache, KvCacheError, PagedKvCache, bytes_per_token,
};
use ndarray::Array3;

const DIMS: CacheDims = CacheDims {
    slots: 3,
    heads: 4,
    head_dim: 2,
    max_len: 10,
};

/// n tokens of keys (or values) whose entries are all `fill`.
fn tokens(n: usize, fill: f64) -> Array3<f64> {
    Array3::from_elem((n, DIMS.heads, DIMS.head_dim), fill)
}

fn append(cache: &mut dyn KvCache, seq: usize, n: usize) -> Result<(), KvCacheError> {
    cache.append_tokens(seq, tokens(n, 1.0).view(), tokens(n, 2.0).view())
}

fn layouts() -> Vec<Box<dyn KvCache>> {
    vec![
        Box::new(ContiguousKvCache::new(DIMS).unwrap()),
        Box::new(PagedKvCache::new(DIMS, 4).unwrap()),
    ]
}

#[test]
fn bytes_per_token_counts_keys_and_values_of_every_head() {
    assert_eq!(bytes_per_token(8, 64, 8), 2 * 8 * 64 * 8);
    assert_eq!(bytes_per_token(32, 128, 2), 16 * 1024);
    assert_eq!(DIMS.bytes_per_token(), 2 * 4 * 2 * 8);
}

#[test]
fn paged_blocks_in_use_are_the_ceiling_of_length_over_block_size() {
    let mut cache = PagedKvCache::new(DIMS, 4).unwrap();
    let block_bytes = 4 * DIMS.bytes_per_token();
    for (seq, n) in [(0, 1), (1, 4), (2, 5), (0, 3), (0, 1), (2, 4)] {
        append(&mut cache, seq, n).unwrap();
        let mut expected_total = 0;
        for seq in 0..DIMS.slots {
            let expected = cache.seq_len(seq).unwrap().div_ceil(4);
            assert_eq!(cache.block_table(seq).unwrap().len(), expected);
            expected_total += expected;
        }
        assert_eq!(cache.blocks_in_use(), expected_total);
        assert_eq!(cache.bytes_held(), expected_total * block_bytes);
    }
    // Lengths 5, 4, 9: at most one partly used block per sequence.
    let cached: usize = (0..3).map(|seq| cache.seq_len(seq).unwrap()).sum();
    assert!(cache.bytes_held() < (cached + 3 * 4) * DIMS.bytes_per_token());
}

#[test]
fn released_blocks_are_reused_before_new_ones() {
    let mut cache = PagedKvCache::new(DIMS, 4).unwrap();
    append(&mut cache, 0, 9).unwrap();
    append(&mut cache, 1, 2).unwrap();
    let released: Vec<usize> = cache.block_table(0).unwrap().to_vec();
    assert_eq!((cache.blocks_allocated(), cache.blocks_in_use()), (4, 4));

    cache.release(0).unwrap();
    assert_eq!(cache.seq_len(0).unwrap(), 0);
    assert!(cache.block_table(0).unwrap().is_empty());
    assert_eq!((cache.blocks_allocated(), cache.blocks_in_use()), (4, 1));
    assert_eq!(cache.bytes_in_use(), 4 * DIMS.bytes_per_token());

    append(&mut cache, 2, 10).unwrap();
    let reused = cache.block_table(2).unwrap();
    assert_eq!(
        cache.blocks_allocated(),
        4,
        "no new block while freed ones remain"
    );
    assert!(reused.iter().all(|block| released.contains(block)));
    assert_eq!(cache.blocks_in_use(), 4);
}

#[test]
fn contiguous_cache_holds_every_slot_at_max_len_from_the_start() {
    let mut cache = ContiguousKvCache::new(DIMS).unwrap();
    let full = DIMS.slots * DIMS.max_len * DIMS.bytes_per_token();
    assert_eq!(cache.bytes_held(), full);
    append(&mut cache, 1, 7).unwrap();
    assert_eq!(cache.bytes_held(), full);
}

#[test]
fn appending_past_max_len_fails_and_writes_nothing() {
    for mut cache in layouts() {
        append(cache.as_mut(), 0, 8).unwrap();
        assert_eq!(
            append(cache.as_mut(), 0, 3),
            Err(KvCacheError::CapacityExceeded {
                seq: 0,
                len: 8,
                appending: 3,
                max_len: 10
            })
        );
        append(cache.as_mut(), 0, 2).unwrap();
        assert!(matches!(
            cache.append(&[1, 0], tokens(2, 0.0).view(), tokens(2, 0.0).view()),
            Err(KvCacheError::CapacityExceeded { seq: 0, .. })
        ));
        assert_eq!(
            cache.seq_len(1).unwrap(),
            0,
            "a failed batched append is all or nothing"
        );
    }
}

#[test]
fn unknown_and_empty_sequences_are_errors() {
    let unknown = KvCacheError::UnknownSequence { seq: 3, slots: 3 };
    for mut cache in layouts() {
        assert_eq!(append(cache.as_mut(), 3, 1), Err(unknown.clone()));
        assert_eq!(cache.seq_len(3), Err(unknown.clone()));
        assert_eq!(cache.release(3), Err(unknown.clone()));
        assert_eq!(
            cache.attend(&[3], tokens(1, 0.0).view()).unwrap_err(),
            unknown
        );
        assert_eq!(
            cache.attend(&[1], tokens(1, 0.0).view()).unwrap_err(),
            KvCacheError::EmptySequence { seq: 1 }
        );
        cache.release(1).unwrap(); // releasing an empty slot is harmless
    }
}

#[test]
fn shape_mismatches_are_errors() {
    let wrong_heads = Array3::<f64>::zeros((1, DIMS.heads + 1, DIMS.head_dim));
    let wrong_dim = Array3::<f64>::zeros((1, DIMS.heads, DIMS.head_dim + 1));
    for mut cache in layouts() {
        let is_shape_error = |r: Result<(), KvCacheError>, which: &str| matches!(r, Err(KvCacheError::ShapeMismatch { name, .. }) if name == which);
        let seq = 0;
        assert!(is_shape_error(
            cache.append_tokens(seq, wrong_heads.view(), tokens(1, 0.0).view()),
            "keys"
        ));
        assert!(is_shape_error(
            cache.append_tokens(seq, tokens(1, 0.0).view(), tokens(2, 0.0).view()),
            "values"
        ));
        // Two sequences listed, one token of k/v given.
        assert!(is_shape_error(
            cache.append(&[0, 1], tokens(1, 0.0).view(), tokens(1, 0.0).view()),
            "keys"
        ));
        assert_eq!(
            cache.append(&[1, 1], tokens(2, 0.0).view(), tokens(2, 0.0).view()),
            Err(KvCacheError::DuplicateSequence { seq: 1 })
        );
        append(cache.as_mut(), 0, 1).unwrap();
        assert!(matches!(
            cache.attend(&[0], wrong_dim.view()),
            Err(KvCacheError::ShapeMismatch {
                name: "queries",
                ..
            })
        ));
        assert_eq!(cache.seq_len(0).unwrap(), 1);
    }
    let q = tokens(2, 0.0);
    assert!(matches!(
        kv_cache::full_causal_attention(q.view(), tokens(3, 0.0).view(), q.view()),
        Err(KvCacheError::ShapeMismatch { name: "k", .. })
    ));
}

#[test]
fn exhausted_pool_fails_all_or_nothing() {
    let mut cache = PagedKvCache::with_pool_capacity(DIMS, 4, 3).unwrap();
    append(&mut cache, 0, 8).unwrap(); // 2 blocks
    append(&mut cache, 1, 4).unwrap(); // 1 block: pool now empty
    assert_eq!(
        cache.append(&[1, 2], tokens(2, 0.0).view(), tokens(2, 0.0).view()),
        Err(KvCacheError::PoolExhausted {
            needed: 2,
            available: 0
        })
    );
    assert_eq!(
        (cache.seq_len(1).unwrap(), cache.seq_len(2).unwrap()),
        (4, 0)
    );
    cache.release(0).unwrap();
    cache
        .append(&[1, 2], tokens(2, 0.0).view(), tokens(2, 0.0).view())
        .unwrap();
    assert_eq!(cache.blocks_allocated(), 3);
}

#[test]
fn zero_dimensions_are_rejected() {
    let zero_heads = CacheDims { heads: 0, ..DIMS };
    assert_eq!(
        ContiguousKvCache::new(zero_heads).unwrap_err(),
        KvCacheError::ZeroDimension("heads")
    );
    assert_eq!(
        PagedKvCache::new(DIMS, 0).unwrap_err(),
        KvCacheError::ZeroDimension("block_size")
    );
    assert_eq!(
        PagedKvCache::with_pool_capacity(DIMS, 2, 0).unwrap_err(),
        KvCacheError::ZeroDimension("pool_blocks")
    );
}

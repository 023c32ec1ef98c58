//! The one-pass CPU algorithm against the naive full softmax + sort, plus the edge cases the
//! prompt's traps are about (−inf, equal logits, magnitude 1e4) computed by hand.

use fuse::online_softmax::OnlineSoftmax;
use fuse::top_k::{Candidate, TopKBuffer};
use fuse::{FuseError, TopK, fused_softmax_topk, naive_softmax_topk};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn random_logits(rng: &mut StdRng, len: usize, scale: f32) -> Vec<f32> {
    (0..len)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * scale)
        .collect()
}

fn assert_agrees_with_naive(logits: &[f32], rows: usize, vocab: usize, k: usize) -> TopK {
    let fused = fused_softmax_topk(logits, rows, vocab, k).expect("valid input");
    let naive = naive_softmax_topk(logits, rows, vocab, k).expect("valid input");
    if let Some(mismatch) = naive.first_mismatch(&fused, 1e-9, 1e-5) {
        panic!("vocab {vocab}, k {k}: {mismatch}");
    }
    fused
}

#[test]
fn matches_naive_on_random_rows_up_to_qwen_vocab() {
    let mut rng = StdRng::seed_from_u64(6);
    for &(rows, vocab) in &[(5, 1), (7, 9), (6, 1000), (3, 50257), (2, 151_936)] {
        let logits = random_logits(&mut rng, rows * vocab, 8.0);
        for &k in &[1, 5, 50, 256] {
            if k <= vocab {
                assert_agrees_with_naive(&logits, rows, vocab, k);
            }
        }
    }
}

#[test]
fn k_equal_to_vocab_is_the_whole_sorted_softmax() {
    let logits = [0.5, -1.0, 2.0, 0.5];
    let top = assert_agrees_with_naive(&logits, 1, 4, 4);
    assert_eq!(top.indices, vec![2, 0, 3, 1]);
    let total: f32 = top.probs.iter().sum();
    assert!((total - 1.0).abs() < 1e-6, "probabilities sum to {total}");
}

#[test]
fn magnitude_1e4_is_stable_and_exact() {
    // softmax over {1e4, 1e4 − 1} is {1/(1+e⁻¹), e⁻¹/(1+e⁻¹)}; everything else underflows to 0.
    let logits = [1e4, -1e4, 1e4 - 1.0, 0.0, -5e3];
    let top = assert_agrees_with_naive(&logits, 1, 5, 4);
    assert_eq!(
        top.indices,
        vec![0, 2, 3, 4],
        "order by logit even where probabilities underflow"
    );
    let e = (-1.0f64).exp();
    assert!((f64::from(top.probs[0]) - 1.0 / (1.0 + e)).abs() < 1e-7);
    assert!((f64::from(top.probs[1]) - e / (1.0 + e)).abs() < 1e-7);
    assert_eq!(&top.probs[2..], &[0.0, 0.0]);

    let mut rng = StdRng::seed_from_u64(4);
    let wide = random_logits(&mut rng, 4 * 3000, 1e4);
    assert_agrees_with_naive(&wide, 4, 3000, 50);
}

#[test]
fn neg_inf_entries_have_probability_zero_and_rank_last() {
    let inf = f32::NEG_INFINITY;
    let logits = [inf, 1.0, inf, 1.0f32.ln_1p(), inf];
    let top = assert_agrees_with_naive(&logits, 1, 5, 4);
    // Finite logits 1 and ln 2: softmax {e/(e+2), 2/(e+2)}.
    assert_eq!(
        top.indices,
        vec![1, 3, 0, 2],
        "−inf ties go to the lower index"
    );
    let e = std::f64::consts::E;
    assert!((f64::from(top.probs[0]) - e / (e + 2.0)).abs() < 1e-7);
    assert!((f64::from(top.probs[1]) - 2.0 / (e + 2.0)).abs() < 1e-7);
    assert_eq!(&top.probs[2..], &[0.0, 0.0]);

    let mut rng = StdRng::seed_from_u64(5);
    let mut sparse = random_logits(&mut rng, 3 * 2000, 5.0);
    for x in sparse.iter_mut() {
        if rng.random::<f32>() < 0.9 {
            *x = inf;
        }
    }
    assert_agrees_with_naive(&sparse, 3, 2000, 256);
}

#[test]
fn all_neg_inf_row_is_uniform_over_the_first_columns() {
    let logits = vec![f32::NEG_INFINITY; 10];
    let top = assert_agrees_with_naive(&logits, 1, 10, 3);
    assert_eq!(top.indices, vec![0, 1, 2]);
    assert_eq!(top.probs, vec![0.1; 3]);
}

#[test]
fn equal_logits_tie_by_lower_index_and_zero_signs_tie() {
    let top = assert_agrees_with_naive(&[7.5; 8], 1, 8, 5);
    assert_eq!(top.indices, vec![0, 1, 2, 3, 4]);
    assert!(top.probs.iter().all(|&p| (p - 0.125).abs() < 1e-7));

    // −0.0 == +0.0: the lower index wins whichever sign it carries.
    let top = assert_agrees_with_naive(&[-1.0, 0.0, -0.0, -2.0], 1, 4, 2);
    assert_eq!(top.indices, vec![1, 2]);
    let top = assert_agrees_with_naive(&[-1.0, -0.0, 0.0, -2.0], 1, 4, 2);
    assert_eq!(top.indices, vec![1, 2]);
}

#[test]
fn rejects_bad_shapes_and_undefined_logits() {
    let logits = [0.0; 6];
    assert_eq!(
        fused_softmax_topk(&logits, 2, 3, 4),
        Err(FuseError::InvalidK { k: 4, vocab: 3 })
    );
    assert_eq!(
        fused_softmax_topk(&logits, 2, 3, 0),
        Err(FuseError::InvalidK { k: 0, vocab: 3 })
    );
    assert_eq!(
        fused_softmax_topk(&logits, 4, 3, 1),
        Err(FuseError::ShapeMismatch {
            len: 6,
            rows: 4,
            vocab: 3
        })
    );
    for bad in [f32::NAN, f32::INFINITY] {
        let logits = [0.0, 1.0, 2.0, bad];
        let expected = FuseError::UnsupportedLogit {
            row: 1,
            column: 1,
            value: bad,
        };
        for result in [
            fused_softmax_topk(&logits, 2, 2, 1),
            naive_softmax_topk(&logits, 2, 2, 1),
        ] {
            match result {
                Err(FuseError::UnsupportedLogit { row, column, .. }) => {
                    assert_eq!((row, column), (1, 1))
                }
                other => panic!("expected {expected:?}, got {other:?}"),
            }
        }
    }
}

#[test]
fn online_softmax_merge_equals_one_pass_and_rescales_downwards() {
    let mut rng = StdRng::seed_from_u64(7);
    let x = random_logits(&mut rng, 1000, 30.0);
    let mut whole = OnlineSoftmax::new();
    x.iter().for_each(|&v| whole.push(v));
    // Split like threads of a block: strided slices, merged pairwise.
    let parts: Vec<OnlineSoftmax> = (0..8)
        .map(|t| {
            let mut part = OnlineSoftmax::new();
            x.iter().skip(t).step_by(8).for_each(|&v| part.push(v));
            part
        })
        .collect();
    let merged = parts
        .into_iter()
        .reduce(OnlineSoftmax::merge)
        .expect("eight parts");
    assert_eq!(merged.max, whole.max);
    assert!((merged.sum - whole.sum).abs() <= 1e-12 * whole.sum);

    // Hand-computed: {0, 2} gives m = 2, l = e⁻² + 1; merging with the empty state changes nothing.
    let mut state = OnlineSoftmax::new();
    state.push(0.0);
    state.push(2.0);
    assert_eq!(state.max, 2.0);
    assert!((state.sum - ((-2.0f64).exp() + 1.0)).abs() < 1e-15);
    assert_eq!(state.merge(OnlineSoftmax::new()), state);
    assert_eq!(
        OnlineSoftmax::new().merge(OnlineSoftmax::new()),
        OnlineSoftmax::new()
    );
}

#[test]
fn top_k_buffer_keeps_exactly_the_sorted_prefix() {
    let mut rng = StdRng::seed_from_u64(8);
    // Few distinct values so that ties are frequent.
    let values: Vec<f32> = (0..500).map(|_| rng.random_range(0..20) as f32).collect();
    let mut buffer = TopKBuffer::new(37);
    for (index, &value) in values.iter().enumerate() {
        buffer.offer(Candidate { value, index });
    }
    let mut sorted: Vec<usize> = (0..values.len()).collect();
    sorted.sort_by(|&a, &b| values[b].partial_cmp(&values[a]).unwrap().then(a.cmp(&b)));
    let kept: Vec<usize> = buffer.best_first().iter().map(|c| c.index).collect();
    assert_eq!(kept, sorted[..37]);
}

//! Incremental decoding through the cache against causal attention recomputed from scratch,
//! for batches whose sequences join late, have different lengths and reuse released slots.

use kv_cache::{CacheDims, ContiguousKvCache, KvCache, PagedKvCache, SeqId, full_causal_attention};
use ndarray::{Array2, Array3, Axis, array, s, stack};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

const HEADS: usize = 4;
/// Not a multiple of 8, so the dot product's tail path is exercised too.
const HEAD_DIM: usize = 12;
const MAX_LEN: usize = 40;
const SLOTS: usize = 4;
const DIMS: CacheDims = CacheDims {
    slots: SLOTS,
    heads: HEADS,
    head_dim: HEAD_DIM,
    max_len: MAX_LEN,
};

/// One sequence of the schedule: it occupies `slot` from `join_step`, prefills `prompt_len`
/// tokens at once, then decodes one token per step until it holds `q.len_of(Axis(0))` tokens,
/// and is then released.
struct SequencePlan {
    slot: SeqId,
    join_step: usize,
    prompt_len: usize,
    q: Array3<f64>,
    k: Array3<f64>,
    v: Array3<f64>,
}

impl SequencePlan {
    fn new(rng: &mut StdRng, slot: SeqId, join_step: usize, prompt_len: usize, len: usize) -> Self {
        let mut normal =
            || Array3::from_shape_simple_fn((len, HEADS, HEAD_DIM), || rng.sample(StandardNormal));
        Self {
            slot,
            join_step,
            prompt_len,
            q: normal(),
            k: normal(),
            v: normal(),
        }
    }

    fn len(&self) -> usize {
        self.q.len_of(Axis(0))
    }
}

/// Sequences with different lengths and start times; slot 1 is released and reused, slot 2
/// starts with a prompt, slot 3 joins last.
fn mixed_schedule(seed: u64) -> Vec<SequencePlan> {
    let mut rng = StdRng::seed_from_u64(seed);
    vec![
        SequencePlan::new(&mut rng, 0, 0, 1, 30),
        SequencePlan::new(&mut rng, 1, 0, 1, 7),
        SequencePlan::new(&mut rng, 2, 3, 5, 21),
        SequencePlan::new(&mut rng, 1, 9, 3, 17),
        SequencePlan::new(&mut rng, 3, 12, 1, 12),
    ]
}

/// Runs the schedule step by step; returns, per plan, the attention output (H, d) recorded at
/// every position from the end of its prompt on (earlier positions are `None`).
fn decode(cache: &mut dyn KvCache, plans: &[SequencePlan]) -> Vec<Vec<Option<Array2<f64>>>> {
    let mut outputs: Vec<Vec<Option<Array2<f64>>>> =
        plans.iter().map(|plan| vec![None; plan.len()]).collect();
    let mut step = 0;
    while outputs.iter().any(|o| o.last().unwrap().is_none()) {
        let mut decoding = Vec::new();
        let mut active = Vec::new();
        for (index, plan) in plans.iter().enumerate() {
            if plan.join_step == step {
                let prompt = s![..plan.prompt_len, .., ..];
                cache
                    .append_tokens(plan.slot, plan.k.slice(prompt), plan.v.slice(prompt))
                    .unwrap();
                active.push(index);
            } else if plan.join_step < step && cache_holds_plan(cache, plan, &outputs[index]) {
                decoding.push(index);
                active.push(index);
            }
        }
        if !decoding.is_empty() {
            let slots: Vec<SeqId> = decoding.iter().map(|&i| plans[i].slot).collect();
            let row_of = |array: fn(&SequencePlan) -> &Array3<f64>| {
                let rows: Vec<_> = decoding
                    .iter()
                    .map(|&i| {
                        array(&plans[i]).index_axis(Axis(0), cache.seq_len(plans[i].slot).unwrap())
                    })
                    .collect();
                stack(Axis(0), &rows).unwrap()
            };
            let (keys, values) = (row_of(|p| &p.k), row_of(|p| &p.v));
            cache.append(&slots, keys.view(), values.view()).unwrap();
        }
        if !active.is_empty() {
            let slots: Vec<SeqId> = active.iter().map(|&i| plans[i].slot).collect();
            let positions: Vec<usize> = slots
                .iter()
                .map(|&slot| cache.seq_len(slot).unwrap() - 1)
                .collect();
            let queries: Vec<_> = active
                .iter()
                .zip(&positions)
                .map(|(&i, &t)| plans[i].q.index_axis(Axis(0), t))
                .collect();
            let attended = cache
                .attend(&slots, stack(Axis(0), &queries).unwrap().view())
                .unwrap();
            for ((&i, &t), output) in active.iter().zip(&positions).zip(attended.outer_iter()) {
                outputs[i][t] = Some(output.to_owned());
                if t + 1 == plans[i].len() {
                    cache.release(plans[i].slot).unwrap();
                }
            }
        }
        step += 1;
    }
    outputs
}

/// Whether `plan` is the sequence currently in its slot and still has tokens to decode.
fn cache_holds_plan(
    cache: &dyn KvCache,
    plan: &SequencePlan,
    outputs: &[Option<Array2<f64>>],
) -> bool {
    let started = outputs[plan.prompt_len - 1].is_some();
    let finished = outputs.last().unwrap().is_some();
    started && !finished && cache.seq_len(plan.slot).unwrap() < plan.len()
}

fn max_abs_difference(a: &Array2<f64>, b: ndarray::ArrayView2<f64>) -> f64 {
    (a - &b)
        .iter()
        .fold(0.0, |worst: f64, d| worst.max(d.abs()))
}

fn assert_matches_full_recomputation(cache: &mut dyn KvCache, plans: &[SequencePlan]) {
    let outputs = decode(cache, plans);
    for (plan, outputs) in plans.iter().zip(&outputs) {
        let expected = full_causal_attention(plan.q.view(), plan.k.view(), plan.v.view()).unwrap();
        for (t, output) in outputs.iter().enumerate().skip(plan.prompt_len - 1) {
            let output = output
                .as_ref()
                .expect("every position after the prompt is decoded");
            let error = max_abs_difference(output, expected.index_axis(Axis(0), t));
            assert!(
                error < 1e-9,
                "slot {} position {t}: error {error:e}",
                plan.slot
            );
        }
    }
}

#[test]
fn contiguous_decoding_equals_full_causal_attention_at_every_step() {
    let mut cache = ContiguousKvCache::new(DIMS).unwrap();
    assert_matches_full_recomputation(&mut cache, &mixed_schedule(1));
}

#[test]
fn paged_decoding_equals_full_causal_attention_at_every_step() {
    for block_size in [1, 4, 7, MAX_LEN] {
        let mut cache = PagedKvCache::new(DIMS, block_size).unwrap();
        assert_matches_full_recomputation(&mut cache, &mixed_schedule(2));
    }
}

#[test]
fn large_scores_stay_stable() {
    let mut plans = mixed_schedule(3);
    for plan in &mut plans {
        plan.q *= 300.0; // scores of order 10⁴: exp without the max shift overflows
    }
    assert_matches_full_recomputation(&mut ContiguousKvCache::new(DIMS).unwrap(), &plans);
    assert_matches_full_recomputation(&mut PagedKvCache::new(DIMS, 4).unwrap(), &plans);
}

#[test]
fn each_sequence_decodes_the_same_alone_as_in_the_batch() {
    let plans = mixed_schedule(4);
    let batched = decode(&mut PagedKvCache::new(DIMS, 4).unwrap(), &plans);
    for (index, plan) in plans.iter().enumerate() {
        let alone = SequencePlan {
            join_step: 0,
            q: plan.q.clone(),
            k: plan.k.clone(),
            v: plan.v.clone(),
            ..*plan
        };
        let alone = decode(&mut PagedKvCache::new(DIMS, 4).unwrap(), &[alone]);
        assert_eq!(alone[0], batched[index], "slot {} differs", plan.slot);
    }
}

#[test]
fn contiguous_and_paged_layouts_agree() {
    let plans = mixed_schedule(5);
    let contiguous = decode(&mut ContiguousKvCache::new(DIMS).unwrap(), &plans);
    let paged = decode(&mut PagedKvCache::new(DIMS, 3).unwrap(), &plans);
    for (c, p) in contiguous.iter().flatten().zip(paged.iter().flatten()) {
        if let (Some(c), Some(p)) = (c, p) {
            assert!(max_abs_difference(c, p.view()) < 1e-12);
        }
    }
}

#[test]
fn full_causal_attention_matches_hand_computed_case() {
    // T = 2, H = 2, d = 1 (so √d = 1). Head 0: at t = 1 the scores are 0 and ln 3, weights
    // 1/4 and 3/4. Head 1: equal keys, so equal weights.
    let q = array![[[1.0], [2.0]], [[1.0], [2.0]]];
    let k = array![[[0.0], [5.0]], [[3.0_f64.ln()], [5.0]]];
    let v = array![[[4.0], [1.0]], [[8.0], [3.0]]];
    let out = full_causal_attention(q.view(), k.view(), v.view()).unwrap();
    let expected = array![[[4.0], [1.0]], [[(4.0 + 3.0 * 8.0) / 4.0], [2.0]]];
    assert!((&out - &expected).iter().all(|d| d.abs() < 1e-12), "{out}");
}

//! Hidden cases, drawn at grade time from the seed: decoding schedules whose shapes are fixed
//! per criterion (each aims at a trap) and whose values are random.

use kv_cache::CacheDims;
use ndarray::{Array3, Array4, Axis};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand_distr::StandardNormal;

use crate::candidate::StepInputs;

fn normal_array(rng: &mut StdRng, shape: (usize, usize, usize)) -> Array3<f64> {
    Array3::from_shape_simple_fn(shape, || rng.sample(StandardNormal))
}

/// One sequence: the cache slot it lives in, the step its first token arrives at, and its
/// queries, keys and values, each `(len, H, d)`.
#[derive(Debug, Clone)]
pub struct Sequence {
    pub slot: usize,
    pub start: usize,
    pub q: Array3<f64>,
    pub k: Array3<f64>,
    pub v: Array3<f64>,
}

impl Sequence {
    pub fn len(&self) -> usize {
        self.q.dim().0
    }

    /// Random q, k, v with entries N(0, 1).
    pub fn random(
        rng: &mut StdRng,
        slot: usize,
        start: usize,
        len: usize,
        dims: CacheDims,
    ) -> Self {
        let shape = (len, dims.heads, dims.head_dim);
        Self {
            slot,
            start,
            q: normal_array(rng, shape),
            k: normal_array(rng, shape),
            v: normal_array(rng, shape),
        }
    }

    /// Whether the sequence receives a token at global step `step`, and which of its own.
    pub fn token_at(&self, step: usize) -> Option<usize> {
        (step >= self.start && step < self.start + self.len()).then(|| step - self.start)
    }
}

/// Sequences decoded together in one cache: at each step every sequence that has started and
/// not finished gets one token, listed in an order drawn per step (the contract binds row i to
/// `seq_ids[i]`, whatever the order).
#[derive(Debug, Clone)]
pub struct Schedule {
    pub dims: CacheDims,
    pub sequences: Vec<Sequence>,
    /// Per step, indices into `sequences` in the order they are listed in the calls.
    pub order: Vec<Vec<usize>>,
}

impl Schedule {
    /// `slots` and `heads × head_dim` of the cache; each sequence as (slot, start, length).
    /// `max_len` is the schedule's number of steps: room enough that a cache which mixes up
    /// slots shows wrong numbers rather than overflowing a slot.
    pub fn new(
        rng: &mut StdRng,
        slots: usize,
        heads: usize,
        head_dim: usize,
        sequences: &[(usize, usize, usize)],
    ) -> Self {
        let steps = sequences
            .iter()
            .map(|&(_, start, len)| start + len)
            .max()
            .unwrap_or(1);
        let dims = CacheDims {
            slots,
            heads,
            head_dim,
            max_len: steps,
        };
        let sequences: Vec<Sequence> = sequences
            .iter()
            .map(|&(slot, start, len)| Sequence::random(rng, slot, start, len, dims))
            .collect();
        let order = (0..steps)
            .map(|step| {
                let mut active: Vec<usize> = (0..sequences.len())
                    .filter(|&i| sequences[i].token_at(step).is_some())
                    .collect();
                active.shuffle(rng);
                active
            })
            .collect();
        Self {
            dims,
            sequences,
            order,
        }
    }

    /// `B=5 H=4 d=8, slot:start+len 3:0+9 0:2+14 …`, for evidence.
    pub fn describe(&self) -> String {
        let runs: Vec<String> = self
            .sequences
            .iter()
            .map(|s| format!("{}:{}+{}", s.slot, s.start, s.len()))
            .collect();
        format!(
            "B={} H={} d={}, sequences slot:start+length {}",
            self.dims.slots,
            self.dims.heads,
            self.dims.head_dim,
            runs.join(" ")
        )
    }
}

/// Queries whose heads differ in sharpness: head h's queries are scaled by (h + 1)/2, so a
/// cache that mixes up heads (or attends over the concatenation of heads) cannot agree.
pub fn sharpen_heads(sequence: &mut Sequence) {
    for (h, mut head) in sequence.q.axis_iter_mut(Axis(1)).enumerate() {
        head.mapv_inplace(|x| x * (h as f64 + 1.0) / 2.0);
    }
}

/// Keys of the first `early` tokens aligned with every query, so those tokens carry most of
/// the attention at every later step: a cache that lost them, or never kept them, is far off.
///
/// Per head a unit direction u; queries and early keys become `0.3·noise + a·u` with
/// a² = 4√d, so an early token scores ≈ a²/√d = 4 against every query, the others ≈ N(0, 1).
pub fn early_tokens_dominate(rng: &mut StdRng, sequence: &mut Sequence, early: usize) {
    let (_, heads, head_dim) = sequence.q.dim();
    let mut direction = normal_array(rng, (1, heads, head_dim));
    for mut head in direction.lanes_mut(Axis(2)) {
        let norm = head.dot(&head).sqrt();
        head.mapv_inplace(|x| x / norm);
    }
    let amplitude = 2.0 * (head_dim as f64).powf(0.25);
    let aligned = |noise: f64, h: usize, c: usize| 0.3 * noise + amplitude * direction[(0, h, c)];
    for ((t, h, c), q) in sequence.q.indexed_iter_mut() {
        *q = aligned(*q, h, c);
        if t < early {
            sequence.k[(t, h, c)] = aligned(sequence.k[(t, h, c)], h, c);
        }
    }
}

/// A batch of `n` sequences in slots 0..n, all decoding from step 0 for `steps` tokens:
/// `(T, n, H, d)` queries, keys and values.
pub fn uniform_batch(
    rng: &mut StdRng,
    steps: usize,
    n: usize,
    heads: usize,
    head_dim: usize,
) -> StepInputs {
    let shape = (steps, n, heads, head_dim);
    let mut draw = || Array4::from_shape_simple_fn(shape, || rng.sample(StandardNormal));
    StepInputs {
        queries: draw(),
        keys: draw(),
        values: draw(),
    }
}

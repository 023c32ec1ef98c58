//! The criteria, each a function of a candidate. Expected outputs come from the reference
//! crate: its naive causal attention recomputed over each whole sequence, or, for the long
//! decodes, its cache prefilled with a sequence's first t tokens and attended by token t.

use std::time::Duration;

use judge_core::seed::for_criterion;
use judge_core::{Scorecard, Verdict};
use judge_submission::compare::{describe_error, max_relative_error};
use kv_cache::{CacheDims, ContiguousKvCache, KvCache, bytes_per_token, full_causal_attention};
use ndarray::{Array3, ArrayD, Axis, s};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::candidate::{KvCandidate, StepInputs};
use crate::cases::{self, Schedule, Sequence};
use crate::ids;

/// The bound on the relative error of every attention output (f64 throughout).
const TOLERANCE: f64 = 1e-9;
/// Held bytes may exceed the tokens' own 2·H·d·8 bytes each by this factor (allocation
/// rounding, amortised growth, Python objects).
const HELD_FACTOR: f64 = 3.0;
/// A step may allocate at most this fraction of the cache. Attention scores are 1/d of a
/// sequence's keys; a step that copies or re-concatenates the cache allocates all of it.
const STEP_FRACTION: f64 = 0.10;
/// The time limit of the 4096-token decode.
const LONG_RUN_LIMIT: Duration = Duration::from_secs(30);
/// The memory run is not about speed; this only bounds it.
const MEMORY_RUN_LIMIT: Duration = Duration::from_secs(90);
/// Cached values are f64.
const ITEMSIZE: usize = 8;

/// Decides every auto criterion of the challenge except the shared ones.
pub fn decide_all(candidate: &mut dyn KvCandidate, seed: u64, card: &mut Scorecard) {
    card.check(ids::MATCHES, || {
        matches_recompute(candidate, &staggered_batch(seed))
    });
    card.check(ids::CROSS_TALK, || cross_talk(candidate, seed));
    card.check(ids::MULTI_HEAD, || {
        matches_recompute(candidate, &multi_head(seed))
    });
    card.check(ids::CACHED_PAST, || cached_past(candidate, seed));
    card.check(ids::MEMORY, || memory(candidate, seed));
    // Last: a decode that hangs past the per-call limit stops the worker for good.
    card.check(ids::LONG_RUN, || long_run(candidate, seed));
}

/// Four sequences of different lengths in scattered slots of a 5-slot cache, starting at
/// different steps, so the set of active sequences changes from step to step.
fn staggered_batch(seed: u64) -> Schedule {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::MATCHES));
    Schedule::new(
        &mut rng,
        5,
        4,
        8,
        &[(3, 0, 9), (0, 2, 14), (4, 6, 5), (1, 3, 11)],
    )
}

/// One sequence, H = 8 heads whose queries differ in scale.
fn multi_head(seed: u64) -> Schedule {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::MULTI_HEAD));
    let mut schedule = Schedule::new(&mut rng, 1, 8, 4, &[(0, 0, 24)]);
    cases::sharpen_heads(&mut schedule.sequences[0]);
    schedule
}

/// Runs `schedule` in a fresh cache — every sequence, or only the one at index `only` — and
/// returns each sequence's outputs `(len, H, d)` (zeros for sequences not run).
fn run_schedule(
    candidate: &mut dyn KvCandidate,
    schedule: &Schedule,
    only: Option<usize>,
) -> Result<Vec<Array3<f64>>, Verdict> {
    let dims = schedule.dims;
    let mut outputs: Vec<Array3<f64>> = schedule
        .sequences
        .iter()
        .map(|seq| Array3::zeros(seq.q.raw_dim()))
        .collect();
    candidate.create(dims)?;
    for (step, order) in schedule.order.iter().enumerate() {
        let active: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| only.is_none_or(|o| o == i))
            .collect();
        if active.is_empty() {
            continue;
        }
        let sequences: Vec<_> = active.iter().map(|&i| &schedule.sequences[i]).collect();
        let tokens: Vec<usize> = sequences
            .iter()
            .map(|seq| {
                seq.token_at(step)
                    .expect("the order lists active sequences")
            })
            .collect();
        let gather = |part: fn(&Sequence) -> &Array3<f64>| {
            Array3::from_shape_fn((active.len(), dims.heads, dims.head_dim), |(r, h, c)| {
                part(sequences[r])[(tokens[r], h, c)]
            })
        };
        let (q, k, v) = (gather(|s| &s.q), gather(|s| &s.k), gather(|s| &s.v));
        let slots: Vec<usize> = sequences.iter().map(|seq| seq.slot).collect();
        let at_step = |verdict: Verdict| verdict.in_context(format!("step {step}"));
        candidate.append(&slots, &k, &v).map_err(at_step)?;
        let out = candidate.attend(&slots, &q).map_err(at_step)?;
        if out.shape() != q.shape() {
            return Err(Verdict::fail(format!(
                "step {step}: attend returned shape {:?}, expected {:?}",
                out.shape(),
                q.shape()
            )));
        }
        for (r, &i) in active.iter().enumerate() {
            outputs[i]
                .index_axis_mut(Axis(0), tokens[r])
                .assign(&out.index_axis(Axis(0), r));
        }
    }
    Ok(outputs)
}

/// Token by token, the largest relative error of `got` against `expected` (both
/// `(len, H, d)`), or the first token beyond `TOLERANCE`, described.
fn compare_tokens(got: &Array3<f64>, expected: &Array3<f64>) -> Result<f64, String> {
    let mut worst = 0.0f64;
    for (t, (got, expected)) in got.outer_iter().zip(expected.outer_iter()).enumerate() {
        match max_relative_error(got.into_dyn(), expected.into_dyn()) {
            Ok(error) if error <= TOLERANCE => worst = worst.max(error),
            Ok(error) => return Err(format!("token {t}: {}", describe_error(error, TOLERANCE))),
            Err(mismatch) => return Err(format!("token {t}: {mismatch}")),
        }
    }
    Ok(worst)
}

/// Causal attention over a whole sequence, recomputed from scratch: the expected output of
/// every step.
fn recomputed(sequence: &Sequence) -> Array3<f64> {
    full_causal_attention(sequence.q.view(), sequence.k.view(), sequence.v.view())
        .expect("hidden sequences have matching shapes")
}

/// Every sequence's output at every step against full causal attention recomputed over that
/// sequence alone.
fn matches_recompute(candidate: &mut dyn KvCandidate, schedule: &Schedule) -> Verdict {
    let outputs = match run_schedule(candidate, schedule, None) {
        Ok(outputs) => outputs,
        Err(verdict) => return verdict.in_context(schedule.describe()),
    };
    let mut worst = 0.0f64;
    for (sequence, got) in schedule.sequences.iter().zip(&outputs) {
        match compare_tokens(got, &recomputed(sequence)) {
            Ok(error) => worst = worst.max(error),
            Err(miss) => {
                return Verdict::fail(format!(
                    "{}: slot {} (from step {}), {miss}",
                    schedule.describe(),
                    sequence.slot,
                    sequence.start
                ));
            }
        }
    }
    Verdict::pass(format!(
        "{} steps, {}: {}",
        schedule.order.len(),
        schedule.describe(),
        describe_error(worst, TOLERANCE)
    ))
}

/// The batch against each of its sequences decoded alone in a fresh cache, by the same
/// candidate: whatever its arithmetic, a sequence's outputs must not depend on its neighbours.
fn cross_talk(candidate: &mut dyn KvCandidate, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::CROSS_TALK));
    let schedule = Schedule::new(&mut rng, 3, 4, 8, &[(0, 0, 8), (1, 3, 12), (2, 5, 6)]);
    let batched = match run_schedule(candidate, &schedule, None) {
        Ok(outputs) => outputs,
        Err(verdict) => return verdict.in_context(format!("batched, {}", schedule.describe())),
    };
    let mut worst = 0.0f64;
    for (i, sequence) in schedule.sequences.iter().enumerate() {
        let alone = match run_schedule(candidate, &schedule, Some(i)) {
            Ok(outputs) => outputs,
            Err(verdict) => return verdict.in_context(format!("slot {} alone", sequence.slot)),
        };
        match compare_tokens(&batched[i], &alone[i]) {
            Ok(error) => worst = worst.max(error),
            Err(miss) => {
                return Verdict::fail(format!(
                    "{}: slot {} in the batch vs decoded alone, {miss}",
                    schedule.describe(),
                    sequence.slot
                ));
            }
        }
    }
    Verdict::pass(format!(
        "{}: each sequence batched = alone, {}",
        schedule.describe(),
        describe_error(worst, TOLERANCE)
    ))
}

/// The grader hands each token's k and v to the cache once, at its own step, and never again:
/// a step can only attend over past tokens the cache kept. Here the first tokens carry most
/// of the attention at every later step, so the outputs tell whether they were kept; the
/// evidence says how far off an answer from the newest token alone would be.
fn cached_past(candidate: &mut dyn KvCandidate, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::CACHED_PAST));
    let mut schedule = Schedule::new(&mut rng, 1, 4, 16, &[(0, 0, 48)]);
    cases::early_tokens_dominate(&mut rng, &mut schedule.sequences[0], 4);
    let sequence = &schedule.sequences[0];
    let expected = recomputed(sequence);
    let newest_only = max_relative_error(sequence.v.view().into_dyn(), expected.view().into_dyn())
        .expect("same shapes, finite values");
    let outputs = match run_schedule(candidate, &schedule, None) {
        Ok(outputs) => outputs,
        Err(verdict) => return verdict,
    };
    let tokens = sequence.len();
    match compare_tokens(&outputs[0], &expected) {
        Ok(error) => Verdict::pass(format!(
            "{tokens} tokens, each k/v supplied once: every step matches attention over all \
             cached tokens, {}; the newest token alone would be off by {newest_only:.1e}",
            describe_error(error, TOLERANCE)
        )),
        Err(miss) => Verdict::fail(format!(
            "{tokens} tokens, the first 4 dominating every later step: {miss}"
        )),
    }
}

/// Bytes the tokens themselves need: 2·H·d·8 per token and sequence.
fn token_bytes(dims: CacheDims, sequences: usize, tokens: usize) -> f64 {
    (bytes_per_token(dims.heads, dims.head_dim, ITEMSIZE) * sequences * tokens) as f64
}

fn mebibytes(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / f64::from(1u32 << 20))
}

/// A fixed batch decoded inside the candidate: a slot per sequence, `max_len` = the run.
fn uniform_dims(steps: &StepInputs) -> (CacheDims, Vec<usize>) {
    let (t, n, heads, head_dim) = steps.queries.dim();
    let dims = CacheDims {
        slots: n,
        heads,
        head_dim,
        max_len: t,
    };
    (dims, (0..n).collect())
}

/// What a memory or speed criterion is worth only with the right answer: the outputs at a
/// few steps, against the reference cache prefilled with each sequence's first t + 1 tokens.
fn wrong_outputs(steps: &StepInputs, outputs: &ArrayD<f64>) -> Option<Verdict> {
    let expected_shape = steps.queries.shape();
    if outputs.shape() != expected_shape {
        return Some(Verdict::fail(format!(
            "outputs of shape {:?}, expected {expected_shape:?}",
            outputs.shape()
        )));
    }
    let (total, n, heads, head_dim) = steps.queries.dim();
    let sampled = [
        0,
        1,
        total / 8,
        total / 4,
        total / 2,
        3 * total / 4,
        total - 2,
        total - 1,
    ];
    for t in sampled.into_iter().filter(|&t| t < total) {
        for row in 0..n {
            let dims = CacheDims {
                slots: 1,
                heads,
                head_dim,
                max_len: t + 1,
            };
            let mut cache = ContiguousKvCache::new(dims).expect("positive dimensions");
            cache
                .append_tokens(
                    0,
                    steps.keys.slice(s![..=t, row, .., ..]),
                    steps.values.slice(s![..=t, row, .., ..]),
                )
                .expect("t + 1 tokens fit max_len = t + 1");
            let expected = cache
                .attend(&[0], steps.queries.slice(s![t..=t, row, .., ..]))
                .expect("one query for one non-empty sequence");
            let got = outputs.slice(s![t..=t, row, .., ..]);
            match max_relative_error(got.into_dyn(), expected.view().into_dyn()) {
                Ok(error) if error <= TOLERANCE => {}
                Ok(error) => {
                    return Some(Verdict::fail(format!(
                        "wrong output at step {t}, sequence {row}: {}",
                        describe_error(error, TOLERANCE)
                    )));
                }
                Err(mismatch) => {
                    return Some(Verdict::fail(format!(
                        "step {t}, sequence {row}: {mismatch}"
                    )));
                }
            }
        }
    }
    None
}

/// Resident memory a decode may add beyond what the cache holds and its steps allocate (the
/// pages the interpreter, the probe and the allocator touch for themselves).
const RESIDENT_SLACK_BYTES: f64 = judge_submission::memory::RESIDENT_SLACK_BYTES as f64;

/// Memory over a 1024-token decode of 2 sequences (H = 4, d = 64, max_len = 1024): what the
/// cache holds at the end against the tokens' own bytes, and what each step of the second half
/// allocates on top of it against the cache's size at that step. Both are the probe's
/// tracemalloc figures, taken inside the submission's process; they are corroborated by the
/// most memory the whole decode added, measured outside it, which may not exceed what the
/// bounds allow together (within [`RESIDENT_SLACK_BYTES`]).
fn memory(candidate: &mut dyn KvCandidate, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::MEMORY));
    let steps = cases::uniform_batch(&mut rng, 1024, 2, 4, 64);
    let (dims, seqs) = uniform_dims(&steps);
    let total = steps.steps();
    let run = match candidate.decode(dims, &seqs, &steps, true, MEMORY_RUN_LIMIT) {
        Ok(run) => run,
        Err(verdict) => return verdict,
    };
    let Some(outputs) = run.outputs else {
        return Verdict::fail(format!(
            "stopped after {} of {total} steps: {:.0} s",
            run.completed, run.seconds
        ));
    };
    if let Some(wrong) = wrong_outputs(&steps, &outputs) {
        return wrong;
    }
    let Some(outside) = run.outside_peak_bytes else {
        return Verdict::fail("no trustworthy measurement: the judge could not measure the decode");
    };
    let outside_limit =
        (HELD_FACTOR + STEP_FRACTION) * token_bytes(dims, seqs.len(), total) + RESIDENT_SLACK_BYTES;
    let corroborated = outside as f64 <= outside_limit;
    let corroboration = format!(
        "measured by the judge: {} of working memory beyond the decode's arrays (bound {})",
        mebibytes(outside as f64),
        mebibytes(outside_limit)
    );
    let (Some(held), Some(step)) = (run.held_bytes, run.step_bytes) else {
        return Verdict::fail(format!(
            "no trustworthy measurement: tracemalloc was stopped during the run; {corroboration}"
        ));
    };
    let n = seqs.len();
    let held_at = |t: usize| held[t - 1] as f64;
    let held_ratio = held_at(total) / token_bytes(dims, n, total);
    let (worst_step, step_ratio) = (total / 2..total)
        .map(|t| (t, step[t] as f64 / token_bytes(dims, n, t + 1)))
        .fold(
            (0, 0.0f64),
            |worst, now| if now.1 > worst.1 { now } else { worst },
        );
    let evidence = format!(
        "n={n} H={} d={} max_len={total}: holds {} / {} / {} after {} / {} / {total} tokens, \
         {held_ratio:.2}× the tokens' 2·n·H·t·d·8 (bound {HELD_FACTOR}×); the heaviest step of \
         the second half (t = {worst_step}) allocates {:.1}% of the cache (bound {:.0}%); \
         {corroboration}",
        dims.heads,
        dims.head_dim,
        mebibytes(held_at(total / 4)),
        mebibytes(held_at(total / 2)),
        mebibytes(held_at(total)),
        total / 4,
        total / 2,
        100.0 * step_ratio,
        100.0 * STEP_FRACTION,
    );
    Verdict::check(
        held_ratio <= HELD_FACTOR && step_ratio <= STEP_FRACTION && corroborated,
        evidence,
    )
}

/// What the judge's clock may add to a decode beyond the probe's own timing: moving the step
/// inputs in and the outputs back.
const TRANSFER_ALLOWANCE_SECONDS: f64 = 5.0;

/// 4096 tokens for each of 2 sequences (H = 4, d = 16) within [`LONG_RUN_LIMIT`]: per-step work
/// that grows faster than the cache (recomputing the past) does not finish. The probe times the
/// run in the worker; the judge's clock bounds that figure from outside.
fn long_run(candidate: &mut dyn KvCandidate, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::LONG_RUN));
    let steps = cases::uniform_batch(&mut rng, 4096, 2, 4, 16);
    let (dims, seqs) = uniform_dims(&steps);
    let total = steps.steps();
    let limit = LONG_RUN_LIMIT.as_secs();
    let run = match candidate.decode(dims, &seqs, &steps, false, LONG_RUN_LIMIT) {
        Ok(run) => run,
        Err(verdict) => return verdict,
    };
    let Some(outputs) = run.outputs else {
        return Verdict::fail(format!(
            "stopped after {} of {total} steps at {:.1} s: over the {limit} s limit",
            run.completed, run.seconds
        ));
    };
    if let Some(wrong) = wrong_outputs(&steps, &outputs) {
        return wrong;
    }
    let judge_limit = LONG_RUN_LIMIT.as_secs_f64() + TRANSFER_ALLOWANCE_SECONDS;
    Verdict::check(
        run.judge_seconds <= judge_limit,
        format!(
            "{total} steps × {} sequences in {:.1} s (limit {limit} s); {:.1} s on the judge's \
             clock (limit {judge_limit:.0} s with the transfers)",
            seqs.len(),
            run.seconds,
            run.judge_seconds
        ),
    )
}

//! The criteria, each a function of a candidate. Expected values come from the reference (the
//! mask, the targeted steps) and from autoregressive greedy decoding of the target (every
//! generation), both computed in this process.

use dflash_verify::fixtures::random_tree_parents;
use dflash_verify::{DraftTree, greedy_generate};
use judge_core::seed::for_criterion;
use judge_core::{Scorecard, Verdict};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::candidate::{Reference, Target, TreeVerifier};
use crate::cases::{self, Step, greedy_after, other_than, random_prompt};
use crate::ids;

/// Decides every auto criterion of the challenge except the shared ones.
pub fn decide_all(candidate: &mut dyn TreeVerifier, seed: u64, card: &mut Scorecard) {
    card.check(ids::TREE_MASK, || tree_mask(candidate, seed));
    card.check(ids::GOLDEN, || golden(candidate, seed));
    card.check(ids::THREE_ROOTS, || three_roots(candidate, seed));
    card.check(ids::SUBTREE, || {
        let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::SUBTREE));
        let target = Target::new(rng.random());
        let steps = cases::subtree_steps(&mut rng, &target);
        steps_match_reference(candidate, &target, &steps)
            .and_then(|verdict| subtree_generation(candidate, &target, &mut rng).map(|()| verdict))
            .unwrap_or_else(|failed| failed)
    });
    card.check(ids::REPLACEMENT, || {
        let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::REPLACEMENT));
        let target = Target::new(rng.random());
        let steps = cases::replacement_steps(&mut rng, &target);
        steps_match_reference(candidate, &target, &steps).unwrap_or_else(|failed| failed)
    });
    card.check(ids::MULTI_STEP, || multi_step(candidate, seed));
    card.check(ids::ONE_FORWARD, || one_forward(candidate, seed));
}

/// `prompt 3`, `node 2 (parent 0)`: what a mask row or column stands for.
fn describe_position(position: usize, prompt_len: usize, parents: &[i64]) -> String {
    match position.checked_sub(prompt_len) {
        None => format!("prompt {position}"),
        Some(node) => format!("node {node} (parent {})", parents[node]),
    }
}

/// The mask must equal rules a)–e) exactly on random trees and prompt lengths 1–40.
fn tree_mask(candidate: &mut dyn TreeVerifier, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::TREE_MASK));
    let cases: Vec<(usize, Vec<i64>)> = (0..12)
        .map(|case| {
            let prompt_len = match case {
                0 => 1,
                1 => 40,
                _ => rng.random_range(1..=40),
            };
            let (depth, branching) = (rng.random_range(1..=5), rng.random_range(1..=3));
            (prompt_len, random_tree_parents(&mut rng, depth, branching))
        })
        .collect();
    for (prompt_len, parents) in &cases {
        let what = format!("P={prompt_len}, tree parents {parents:?}");
        let got = match candidate.build_tree_mask(*prompt_len, parents) {
            Ok(mask) => mask,
            Err(verdict) => return verdict.in_context(&what),
        };
        let expected = Reference
            .build_tree_mask(*prompt_len, parents)
            .unwrap_or_else(|v| panic!("the reference refused a hidden tree: {}", v.detail()));
        if got.dim() != expected.dim() {
            return Verdict::fail(format!(
                "{what}: mask of shape {:?}, expected {:?}",
                got.dim(),
                expected.dim()
            ));
        }
        if let Some(((i, j), &allowed)) = expected
            .indexed_iter()
            .find(|&(index, &allowed)| got[index] != allowed)
        {
            return Verdict::fail(format!(
                "{what}: M[{i}, {j}] is {}, expected {allowed}: row {} {} column {}",
                !allowed,
                describe_position(i, *prompt_len, parents),
                if allowed { "must see" } else { "must not see" },
                describe_position(j, *prompt_len, parents),
            ));
        }
    }
    Verdict::pass(format!(
        "{} random trees: every entry equals rules a)–e)",
        cases.len()
    ))
}

/// Drafts one tree per cycle, given the sequence so far.
type Draft<'a> = dyn FnMut(&[u32]) -> DraftTree + 'a;

/// How much of each cycle's answer is determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Steps {
    /// Only the generated sequence: readings may accept different paths (one stops at the
    /// first mismatching node, another tries its next sibling).
    SequenceOnly,
    /// Every right reading accepts the same path — chains, all-right trees, trees whose right
    /// children come first — so each cycle must return the reference's answer: a verification
    /// that ignores the draft and emits one greedy token per cycle fails here.
    Exact,
}

/// Speculative decoding driven by the grader, as in the prompt's loop: draft a tree for the
/// sequence so far, verify it, append `accepted_tokens` and `new_token`, until `max_tokens`.
/// Returns the number of cycles, or a FAIL at the first token that differs from autoregressive
/// greedy decoding of the target (or, with [`Steps::Exact`], at the first cycle whose answer
/// differs from the reference's).
fn generation_equals_greedy(
    candidate: &mut dyn TreeVerifier,
    target: &Target,
    prompt: &[u32],
    max_tokens: usize,
    draft: &mut Draft<'_>,
    steps: Steps,
) -> Result<usize, Verdict> {
    let what = format!(
        "target seed {}, prompt length {}",
        target.seed,
        prompt.len()
    );
    let greedy = greedy_generate(target.model.as_ref(), prompt, max_tokens)
        .expect("hidden prompts are valid for the target");
    let mut generated = prompt.to_vec();
    let mut cycles = 0;
    while generated.len() < max_tokens {
        let tree = draft(&generated);
        let step = candidate
            .verify_and_accept(target, &generated, &tree.tokens, &tree.parents)
            .map_err(|verdict| verdict.in_context(format!("{what}, cycle {}", cycles + 1)))?;
        cycles += 1;
        let start = generated.len();
        generated.extend(&step.accepted);
        generated.push(step.new_token);
        let end = generated.len().min(max_tokens);
        if let Some(position) = (start..end).find(|&i| generated[i] != greedy[i]) {
            return Err(Verdict::fail(format!(
                "{what}, cycle {cycles} ({} tree nodes, parents {}): generated token {} is {}, \
                 greedy decoding gives {} (returned accepted {:?}, new token {})",
                tree.tokens.len(),
                short(&tree.parents),
                position - prompt.len(),
                generated[position],
                greedy[position],
                step.accepted,
                step.new_token
            )));
        }
        if steps == Steps::Exact {
            let context = &generated[..start];
            let expected = Reference
                .verify_and_accept(target, context, &tree.tokens, &tree.parents)
                .unwrap_or_else(|v| panic!("the reference refused a hidden step: {}", v.detail()));
            if (&step.accepted, step.new_token) != (&expected.accepted, expected.new_token) {
                return Err(Verdict::fail(format!(
                    "{what}, cycle {cycles} ({} tree nodes, parents {}): returned ({:?}, {}),                      but the tree's accepted path gives ({:?}, {}) — the draft was not used",
                    tree.tokens.len(),
                    short(&tree.parents),
                    step.accepted,
                    step.new_token,
                    expected.accepted,
                    expected.new_token
                )));
            }
        }
    }
    Ok(cycles)
}

/// A list for evidence, shortened past 16 entries.
fn short<T: std::fmt::Debug>(items: &[T]) -> String {
    if items.len() > 16 {
        format!("{:?}…(+{})", &items[..16], items.len() - 16)
    } else {
        format!("{items:?}")
    }
}

/// The golden test: random prompts (P 1–40), random trees (depth ≤ 5, branching ≤ 3) mixing
/// right and wrong tokens at several rates, 10–14 new tokens each.
fn golden(candidate: &mut dyn TreeVerifier, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::GOLDEN));
    let target = Target::new(rng.random());
    let (mut cycles, mut emitted) = (0, 0);
    for (case, right_probability) in [0.3, 0.6, 0.9, 1.0, 0.5, 0.8].into_iter().enumerate() {
        let prompt_len = if case == 0 {
            1
        } else {
            rng.random_range(2..=40)
        };
        let prompt = random_prompt(&mut rng, prompt_len..=prompt_len);
        let new_tokens = rng.random_range(10..=14);
        let draft_rng = &mut rng;
        let mut draft = |context: &[u32]| {
            let (depth, branching) = (draft_rng.random_range(1..=5), draft_rng.random_range(1..=3));
            cases::mixed_draft(
                draft_rng,
                &target,
                context,
                depth,
                branching,
                right_probability,
            )
        };
        // All-right trees leave one path to accept whatever the reading.
        let steps = if right_probability == 1.0 {
            Steps::Exact
        } else {
            Steps::SequenceOnly
        };
        match generation_equals_greedy(
            candidate,
            &target,
            &prompt,
            prompt_len + new_tokens,
            &mut draft,
            steps,
        ) {
            Ok(n) => cycles += n,
            Err(verdict) => return verdict,
        }
        emitted += new_tokens;
    }
    Verdict::pass(format!(
        "6 prompts: {emitted} tokens in {cycles} cycles, all equal to greedy decoding"
    ))
}

/// The prompt's Test 1: prompt [10, 20, 30], three roots and no depth 2, the right token at
/// root 0, 1, 2 or nowhere (siblings of an accepted root are alternatives, not rejections).
fn three_roots(candidate: &mut dyn TreeVerifier, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::THREE_ROOTS));
    let target = Target::new(rng.random());
    let prompt = [10, 20, 30];
    for right_at in [Some(0), Some(1), Some(2), None] {
        let mut draft = |context: &[u32]| {
            let right = greedy_after(&target, context);
            DraftTree {
                tokens: (0..3u32)
                    .map(|i| {
                        if Some(i) == right_at {
                            right
                        } else {
                            other_than(right, 1 + i)
                        }
                    })
                    .collect(),
                parents: vec![-1, -1, -1],
            }
        };
        // A right root 0 (or none) leaves one answer; a right root 1 or 2 after a wrong root 0
        // may be taken or not, depending on whether the reading tries the next sibling.
        let steps = if matches!(right_at, Some(0) | None) {
            Steps::Exact
        } else {
            Steps::SequenceOnly
        };
        if let Err(verdict) = generation_equals_greedy(
            candidate,
            &target,
            &prompt,
            prompt.len() + 12,
            &mut draft,
            steps,
        ) {
            return verdict.in_context(format!("right root at {right_at:?}"));
        }
    }
    Verdict::pass("right root at 0, 1, 2 and none: 12 tokens each equal greedy decoding")
}

/// Each targeted step must return exactly the reference's `(accepted_tokens, new_token)`: the
/// trees are built so that every right reading accepts the same path.
fn steps_match_reference(
    candidate: &mut dyn TreeVerifier,
    target: &Target,
    steps: &[Step],
) -> Result<Verdict, Verdict> {
    for step in steps {
        let what = format!(
            "{}: prompt length {}, tree tokens {:?}, parents {:?}",
            step.what,
            step.prompt.len(),
            step.tree.tokens,
            step.tree.parents
        );
        let got = candidate
            .verify_and_accept(target, &step.prompt, &step.tree.tokens, &step.tree.parents)
            .map_err(|verdict| verdict.in_context(&what))?;
        let expected = Reference
            .verify_and_accept(target, &step.prompt, &step.tree.tokens, &step.tree.parents)
            .unwrap_or_else(|v| panic!("the reference refused a hidden step: {}", v.detail()));
        if (&got.accepted, got.new_token) != (&expected.accepted, expected.new_token) {
            return Err(Verdict::fail(format!(
                "{what}: returned ({:?}, {}), expected ({:?}, {}) — the target's greedy path \
                 through the tree, then its greedy token",
                got.accepted, got.new_token, expected.accepted, expected.new_token
            )));
        }
    }
    Ok(Verdict::pass(format!(
        "{} trees: accepted tokens and new token equal the target's greedy path",
        steps.len()
    )))
}

/// Generation with drafts whose root is wrong and whose chain below it would match, every
/// cycle (the reference test's draft).
fn subtree_generation(
    candidate: &mut dyn TreeVerifier,
    target: &Target,
    rng: &mut StdRng,
) -> Result<(), Verdict> {
    let prompt = random_prompt(rng, 2..=20);
    let mut draft = |context: &[u32]| {
        let wrong = other_than(greedy_after(target, context), 7);
        let would_match = greedy_after(target, &[context, &[wrong]].concat());
        let deeper = greedy_after(target, &[context, &[wrong, would_match]].concat());
        DraftTree {
            tokens: vec![wrong, would_match, deeper],
            parents: vec![-1, 0, 1],
        }
    };
    generation_equals_greedy(
        candidate,
        target,
        &prompt,
        prompt.len() + 8,
        &mut draft,
        Steps::Exact,
    )
    .map(|_| ())
    .map_err(|verdict| verdict.in_context("generation with would-match subtrees"))
}

/// The prompt's Test 3: chain drafts (depth 3, 70% right), each cycle's output the next one's
/// prompt, at least 3 cycles, equal to greedy decoding.
fn multi_step(candidate: &mut dyn TreeVerifier, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::MULTI_STEP));
    let target = Target::new(rng.random());
    let mut total_cycles = 0;
    for prompt_len in [3, rng.random_range(4..=30)] {
        let prompt = random_prompt(&mut rng, prompt_len..=prompt_len);
        let draft_rng = &mut rng;
        let mut draft = |context: &[u32]| {
            let chain = vec![-1, 0, 1];
            dflash_verify::fixtures::mixed_draft_tree(
                draft_rng,
                target.model.as_ref(),
                context,
                chain,
                0.7,
            )
            .expect("contexts hold validated vocabulary tokens")
        };
        // Chains leave one path to accept.
        match generation_equals_greedy(
            candidate,
            &target,
            &prompt,
            prompt_len + 16,
            &mut draft,
            Steps::Exact,
        ) {
            Ok(cycles) if cycles >= 3 => total_cycles += cycles,
            Ok(cycles) => {
                return Verdict::fail(format!(
                    "prompt length {prompt_len}: 16 tokens in {cycles} cycles; 3 were expected \
                     at most 4 tokens per cycle"
                ));
            }
            Err(verdict) => return verdict,
        }
    }
    Verdict::pass(format!(
        "2 prompts, {total_cycles} cycles of 3-node chains: equal to greedy decoding"
    ))
}

/// Every `verify_and_accept` call must call the target exactly once (any of `model(...)`,
/// `model.forward(...)`, or another method counts as one call).
fn one_forward(candidate: &mut dyn TreeVerifier, seed: u64) -> Verdict {
    let mut rng = StdRng::seed_from_u64(for_criterion(seed, ids::ONE_FORWARD));
    let target = Target::new(rng.random());
    for _ in 0..4 {
        let prompt = random_prompt(&mut rng, 1..=30);
        let tree = cases::mixed_draft(&mut rng, &target, &prompt, 4, 3, 0.6);
        let what = format!(
            "prompt length {}, tree of {} nodes",
            prompt.len(),
            tree.tokens.len()
        );
        let step = match candidate.verify_and_accept(&target, &prompt, &tree.tokens, &tree.parents)
        {
            Ok(step) => step,
            Err(verdict) => return verdict.in_context(&what),
        };
        if step.target_calls != 1 {
            return Verdict::fail(format!(
                "{what}: {} calls on the target model, expected exactly 1",
                step.target_calls
            ));
        }
    }
    Verdict::pass("4 trees: one target call per verification")
}

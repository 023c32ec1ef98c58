//! Hidden cases, drawn at grade time from the seed: the target's weights, prompts, tree shapes
//! and which draft tokens are right. Targeted trees are built from the target's own greedy
//! tokens, so each trap is armed whatever the seed.

use std::ops::RangeInclusive;

use dflash_verify::DraftTree;
use dflash_verify::fixtures::{mixed_draft_tree, random_tree_parents};
use rand::Rng;
use rand::rngs::StdRng;
use tiny_lm::{LanguageModel, VOCAB_SIZE, argmax};

use crate::candidate::Target;

/// Random tokens, of a length drawn from `lengths`.
pub fn random_prompt(rng: &mut StdRng, lengths: RangeInclusive<usize>) -> Vec<u32> {
    let len = rng.random_range(lengths);
    (0..len)
        .map(|_| rng.random_range(0..VOCAB_SIZE as u32))
        .collect()
}

/// The target's greedy token after `context`.
pub fn greedy_after(target: &Target, context: &[u32]) -> u32 {
    let logits = target
        .model
        .next_token_logits(context)
        .expect("contexts hold validated vocabulary tokens");
    argmax(logits.view()).expect("a vocabulary has tokens") as u32
}

/// A token other than `token` (a wrong draft), `offset` apart so siblings differ.
pub fn other_than(token: u32, offset: u32) -> u32 {
    (token + offset) % VOCAB_SIZE as u32
}

/// A draft over a random tree shape (depth ≤ `max_depth`, branching ≤ `max_branching`) whose
/// nodes carry, with probability `right_probability`, the target's greedy token after their own
/// path, else a wrong one — so right nodes under wrong ancestors (the invalidation trap) occur.
pub fn mixed_draft(
    rng: &mut StdRng,
    target: &Target,
    context: &[u32],
    max_depth: usize,
    max_branching: usize,
    right_probability: f64,
) -> DraftTree {
    let parents = random_tree_parents(rng, max_depth, max_branching);
    mixed_draft_tree(
        rng,
        target.model.as_ref(),
        context,
        parents,
        right_probability,
    )
    .expect("contexts hold validated vocabulary tokens and the probability lies in [0, 1]")
}

/// One verification call on a fixed tree.
#[derive(Debug, Clone)]
pub struct Step {
    pub prompt: Vec<u32>,
    pub tree: DraftTree,
    /// What the tree is built to test, for evidence.
    pub what: &'static str,
}

/// Trees with a rejected node whose subtree "would match": each of its descendants carries the
/// target's greedy token after ITS OWN path through the wrong node. Right children precede
/// their wrong siblings, so every right reading accepts the same path.
pub fn subtree_steps(rng: &mut StdRng, target: &Target) -> Vec<Step> {
    let mut steps = Vec::new();

    // The prompt's Test 2: a wrong root whose children would match.
    let prompt = random_prompt(rng, 2..=12);
    let g0 = greedy_after(target, &prompt);
    let wrong = other_than(g0, 7);
    let would_match = greedy_after(target, &[prompt.as_slice(), &[wrong]].concat());
    let deeper = greedy_after(target, &[prompt.as_slice(), &[wrong, would_match]].concat());
    steps.push(Step {
        prompt,
        tree: DraftTree {
            tokens: vec![wrong, would_match, other_than(would_match, 3), deeper],
            parents: vec![-1, 0, 0, 1],
        },
        what: "wrong root, children that would match",
    });

    // A right root, then a wrong child whose chain would match.
    let prompt = random_prompt(rng, 1..=30);
    let g0 = greedy_after(target, &prompt);
    let g1 = greedy_after(target, &[prompt.as_slice(), &[g0]].concat());
    let wrong = other_than(g1, 11);
    let path = [prompt.as_slice(), &[g0, wrong]].concat();
    let would_match = greedy_after(target, &path);
    let deeper = greedy_after(target, &[path.as_slice(), &[would_match]].concat());
    steps.push(Step {
        prompt,
        tree: DraftTree {
            tokens: vec![g0, wrong, would_match, deeper],
            parents: vec![-1, 0, 1, 2],
        },
        what: "right root, wrong child, a chain below it that would match",
    });

    // A right path g0 → g1 → g2, then a wrong sibling of g1 whose child would match: the walk
    // must not return to the invalid branch after the path.
    let prompt = random_prompt(rng, 1..=30);
    let g0 = greedy_after(target, &prompt);
    let g1 = greedy_after(target, &[prompt.as_slice(), &[g0]].concat());
    let g2 = greedy_after(target, &[prompt.as_slice(), &[g0, g1]].concat());
    let wrong = other_than(g1, 5);
    let would_match = greedy_after(target, &[prompt.as_slice(), &[g0, wrong]].concat());
    steps.push(Step {
        prompt,
        tree: DraftTree {
            tokens: vec![g0, g1, g2, wrong, would_match],
            parents: vec![-1, 0, 1, 0, 3],
        },
        what: "right path beside a wrong branch that would match",
    });
    steps
}

/// Chains right for `depth` nodes, then a wrong node and a child that would match after it:
/// the new token must be the target's greedy token at the rejected position.
pub fn replacement_steps(rng: &mut StdRng, target: &Target) -> Vec<Step> {
    (0..4)
        .map(|depth| {
            let prompt = random_prompt(rng, 1..=30);
            let mut path = prompt.clone();
            for _ in 0..depth {
                path.push(greedy_after(target, &path));
            }
            let wrong = other_than(greedy_after(target, &path), 1 + depth as u32);
            path.push(wrong);
            let would_match = greedy_after(target, &path);
            let mut tokens = path[prompt.len()..].to_vec();
            tokens.push(would_match);
            let parents = (0..tokens.len() as i64).map(|i| i - 1).collect();
            Step {
                prompt,
                tree: DraftTree { tokens, parents },
                what: "a chain rejected part way",
            }
        })
        .collect()
}

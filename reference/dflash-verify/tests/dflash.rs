//! The prompt's tests and traps. Expectations come from independent constructions: an ancestor
//! walk for the mask, autoregressive greedy decoding for every token.

use std::cell::Cell;

use dflash_verify::{
    DraftTree, TreeError, VerifyError, accept_greedy_path, build_tree_mask,
    fixtures::{FixtureError, mixed_draft_tree, random_tree_parents},
    greedy_generate, speculative_generate, verify_and_accept,
};
use ndarray::{Array2, ArrayView2, array};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tiny_lm::{LanguageModel, ModelError, TinyLm, VOCAB_SIZE, argmax};

/// Counts every `logits` call (the causal conveniences go through it too).
struct CountingModel<'a> {
    inner: &'a dyn LanguageModel,
    logits_calls: Cell<usize>,
}

impl<'a> CountingModel<'a> {
    fn new(inner: &'a dyn LanguageModel) -> Self {
        CountingModel {
            inner,
            logits_calls: Cell::new(0),
        }
    }
}

impl LanguageModel for CountingModel<'_> {
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }
    fn logits(
        &self,
        tokens: &[u32],
        mask: ArrayView2<'_, bool>,
    ) -> Result<Array2<f64>, ModelError> {
        self.logits_calls.set(self.logits_calls.get() + 1);
        self.inner.logits(tokens, mask)
    }
}

fn ancestors(tree_parents: &[i64], node: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut parent = tree_parents[node];
    while parent >= 0 {
        out.push(parent as usize);
        parent = tree_parents[parent as usize];
    }
    out
}

/// The mask straight from rules a)–e), one entry at a time.
fn mask_by_ancestor_walk(p: usize, tree_parents: &[i64]) -> Array2<bool> {
    let len = p + tree_parents.len();
    Array2::from_shape_fn((len, len), |(i, j)| match (i < p, j < p) {
        (true, _) => j <= i,
        (false, true) => true,
        (false, false) => i == j || ancestors(tree_parents, i - p).contains(&(j - p)),
    })
}

fn random_tokens(rng: &mut StdRng, len: usize) -> Vec<u32> {
    (0..len)
        .map(|_| rng.random_range(0..VOCAB_SIZE as u32))
        .collect()
}

/// The `n` greedy tokens after `context`.
fn greedy_continuation(model: &dyn LanguageModel, context: &[u32], n: usize) -> Vec<u32> {
    greedy_generate(model, context, context.len() + n).unwrap()[context.len()..].to_vec()
}

fn other_than(token: u32, offset: u32) -> u32 {
    (token + offset) % VOCAB_SIZE as u32
}

fn greedy_after(model: &dyn LanguageModel, context: &[u32]) -> u32 {
    argmax(model.next_token_logits(context).unwrap().view()).unwrap() as u32
}

#[test]
fn mask_matches_an_ancestor_walk_on_random_trees() {
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..300 {
        let (depth, branching, p) = (
            rng.random_range(1..=5),
            rng.random_range(1..=3),
            rng.random_range(1..=40),
        );
        let parents = random_tree_parents(&mut rng, depth, branching);
        assert_eq!(
            build_tree_mask(p, &parents).unwrap(),
            mask_by_ancestor_walk(p, &parents)
        );
    }
}

#[test]
fn mask_of_a_small_tree_by_hand() {
    // P = 2; roots 0 and 1; 2 is a child of 0, 3 of 2, 4 of 1.
    let t = true;
    let f = false;
    let expected = array![
        [t, f, f, f, f, f, f],
        [t, t, f, f, f, f, f],
        [t, t, t, f, f, f, f],
        [t, t, f, t, f, f, f],
        [t, t, t, f, t, f, f],
        [t, t, t, f, t, t, f],
        [t, t, f, t, f, f, t],
    ];
    assert_eq!(build_tree_mask(2, &[-1, -1, 0, 2, 1]).unwrap(), expected);
}

#[test]
fn bad_trees_and_inputs_are_errors() {
    assert_eq!(
        build_tree_mask(3, &[0]),
        Err(TreeError::BadParent { node: 0, parent: 0 })
    );
    assert_eq!(
        build_tree_mask(3, &[-1, 2, -1]),
        Err(TreeError::BadParent { node: 1, parent: 2 })
    );
    assert_eq!(
        build_tree_mask(3, &[-1, -2]),
        Err(TreeError::BadParent {
            node: 1,
            parent: -2
        })
    );
    let model = TinyLm::random(0);
    assert_eq!(
        verify_and_accept(&[], &[1], &[-1], &model),
        Err(VerifyError::EmptyPrompt)
    );
    assert_eq!(
        verify_and_accept(&[1], &[1, 2], &[-1], &model),
        Err(VerifyError::TreeLength {
            tokens: 2,
            parents: 1
        })
    );
    assert!(matches!(
        verify_and_accept(&[1], &[1000], &[-1], &model),
        Err(VerifyError::Model(ModelError::TokenOutOfRange { .. }))
    ));
    assert!(matches!(
        accept_greedy_path(2, &[1], &[-1], Array2::zeros((2, 5)).view()),
        Err(VerifyError::LogitsShape { .. })
    ));
    let mut rng = StdRng::seed_from_u64(0);
    assert_eq!(
        mixed_draft_tree(&mut rng, &model, &[1], vec![-1], 1.5),
        Err(FixtureError::Probability(1.5))
    );
}

#[test]
fn tree_rows_equal_the_autoregressive_logits_of_their_paths() {
    // Why the target must be position-free: under the tree mask, row P+i sees exactly
    // prompt + path(i), so it must equal the causal last row of that sequence.
    let model = TinyLm::random(2);
    let mut rng = StdRng::seed_from_u64(2);
    for _ in 0..8 {
        let prompt_len = rng.random_range(1..=20);
        let prompt = random_tokens(&mut rng, prompt_len);
        let parents = random_tree_parents(&mut rng, 4, 3);
        let tokens = random_tokens(&mut rng, parents.len());
        let mask = build_tree_mask(prompt.len(), &parents).unwrap();
        let logits = model
            .logits(&[prompt.as_slice(), &tokens].concat(), mask.view())
            .unwrap();
        for node in 0..parents.len() {
            let mut path: Vec<usize> = ancestors(&parents, node);
            path.reverse();
            path.push(node);
            let sequence: Vec<u32> = prompt
                .iter()
                .copied()
                .chain(path.iter().map(|&k| tokens[k]))
                .collect();
            let expected = model.next_token_logits(&sequence).unwrap();
            let diff = (&logits.row(prompt.len() + node) - &expected)
                .abs()
                .fold(0.0f64, |m, &d| m.max(d));
            assert!(diff < 1e-10, "node {node}: {diff}");
        }
    }
}

#[test]
fn the_trap_row_p_plus_i_predicts_the_children_not_node_i() {
    // A chain drafted from the target's own greedy continuation g1 g2 g3: row P−1 predicts g1,
    // row P+i predicts g_{i+2}. Reading node i's prediction at P+i would reject right drafts.
    let mut rng = StdRng::seed_from_u64(3);
    let mut p_plus_i_would_reject = 0;
    for seed in 0..10 {
        let model = TinyLm::random(seed);
        let prompt = random_tokens(&mut rng, 5);
        let g = greedy_continuation(&model, &prompt, 4);
        let parents = [-1, 0, 1];
        let mask = build_tree_mask(prompt.len(), &parents).unwrap();
        let logits = model
            .logits(&[prompt.as_slice(), &g[..3]].concat(), mask.view())
            .unwrap();
        let row_argmax = |r: usize| argmax(logits.row(r)).unwrap() as u32;
        assert_eq!(row_argmax(prompt.len() - 1), g[0]);
        for i in 0..3 {
            assert_eq!(row_argmax(prompt.len() + i), g[i + 1]);
        }
        p_plus_i_would_reject += usize::from(row_argmax(prompt.len()) != g[0]);
        assert_eq!(
            verify_and_accept(&prompt, &g[..3], &parents, &model).unwrap(),
            (g[..3].to_vec(), g[3])
        );
    }
    assert!(
        p_plus_i_would_reject >= 8,
        "only {p_plus_i_would_reject}/10"
    );
}

#[test]
fn basic_three_roots_match_autoregressive() {
    // The prompt's Test 1: prompt [10, 20, 30], three roots, no depth 2. The right root (if
    // any) sits at each index in turn; a single verification accepts it and adds the bonus.
    let model = TinyLm::random(4);
    let prompt = [10, 20, 30];
    let g = greedy_continuation(&model, &prompt, 2);
    for right_at in [Some(0), Some(1), Some(2), None] {
        let tokens: Vec<u32> = (0..3)
            .map(|i| {
                if Some(i) == right_at {
                    g[0]
                } else {
                    other_than(g[0], 1 + i as u32)
                }
            })
            .collect();
        let got = verify_and_accept(&prompt, &tokens, &[-1, -1, -1], &model).unwrap();
        let expected = if right_at.is_some() {
            (vec![g[0]], g[1])
        } else {
            (vec![], g[0])
        };
        assert_eq!(got, expected, "right root at {right_at:?}");

        let mut draft = |context: &[u32]| {
            let right = greedy_after(&model, context);
            let tokens = (0..3)
                .map(|i| {
                    if Some(i) == right_at {
                        right
                    } else {
                        other_than(right, 1 + i as u32)
                    }
                })
                .collect();
            DraftTree {
                tokens,
                parents: vec![-1, -1, -1],
            }
        };
        let speculative = speculative_generate(&model, &prompt, 15, &mut draft).unwrap();
        assert_eq!(speculative, greedy_generate(&model, &prompt, 15).unwrap());
    }
}

#[test]
fn a_rejected_node_invalidates_children_that_would_match() {
    // The prompt's Test 2. Root 0 carries a wrong token w; its children carry the target's
    // greedy token after [prompt, w] — they "would match" the logits at their parent's row —
    // and g2. Both must be skipped: nothing accepted, the new token is g1.
    let model = TinyLm::random(5);
    let prompt = [3, 141, 59, 26];
    let g = greedy_continuation(&model, &prompt, 3);
    let wrong = other_than(g[0], 7);
    let would_match = greedy_after(&model, &[prompt.as_slice(), &[wrong]].concat());
    let (tokens, parents) = (vec![wrong, would_match, g[1]], vec![-1, 0, 0]);

    let logits = model
        .logits(
            &[prompt.as_slice(), &tokens].concat(),
            build_tree_mask(prompt.len(), &parents).unwrap().view(),
        )
        .unwrap();
    assert_eq!(
        argmax(logits.row(prompt.len())).unwrap() as u32,
        would_match,
        "the trap is armed"
    );
    let acceptance = accept_greedy_path(prompt.len(), &tokens, &parents, logits.view()).unwrap();
    assert!(acceptance.accepted_nodes.is_empty());
    assert_eq!(
        verify_and_accept(&prompt, &tokens, &parents, &model).unwrap(),
        (vec![], g[0])
    );

    // A right second root after the invalidated subtree is still taken.
    let (tokens, parents) = (vec![wrong, would_match, g[0], g[1]], vec![-1, 0, -1, 2]);
    let logits = model
        .logits(
            &[prompt.as_slice(), &tokens].concat(),
            build_tree_mask(prompt.len(), &parents).unwrap().view(),
        )
        .unwrap();
    let acceptance = accept_greedy_path(prompt.len(), &tokens, &parents, logits.view()).unwrap();
    assert_eq!(acceptance.accepted_nodes, [2, 3]);
    assert_eq!(
        (acceptance.accepted_tokens, acceptance.new_token),
        (vec![g[0], g[1]], g[2])
    );

    let mut draft = |context: &[u32]| {
        let right = greedy_after(&model, context);
        let wrong = other_than(right, 7);
        let would_match = greedy_after(&model, &[context, &[wrong]].concat());
        DraftTree {
            tokens: vec![wrong, would_match, would_match],
            parents: vec![-1, 0, 1],
        }
    };
    let speculative = speculative_generate(&model, &prompt, 12, &mut draft).unwrap();
    assert_eq!(speculative, greedy_generate(&model, &prompt, 12).unwrap());
}

#[test]
fn rejection_returns_the_targets_replacement_token() {
    // Chain g1 → x (wrong) → y (greedy after [.., g1, x]): accept g1, reject x, replace it by g2,
    // and skip y although it matches its parent's logits.
    let model = TinyLm::random(6);
    let prompt = [77, 78, 79];
    let g = greedy_continuation(&model, &prompt, 2);
    let x = other_than(g[1], 11);
    let y = greedy_after(&model, &[prompt.as_slice(), &[g[0], x]].concat());
    let got = verify_and_accept(&prompt, &[g[0], x, y], &[-1, 0, 1], &model).unwrap();
    assert_eq!(got, (vec![g[0]], g[1]));
}

#[test]
fn a_fully_accepted_path_adds_the_bonus_token() {
    let model = TinyLm::random(7);
    let prompt = [400, 401];
    let g = greedy_continuation(&model, &prompt, 4);
    // A right chain plus a wrong sibling branch at each level.
    let tokens = vec![other_than(g[0], 1), g[0], g[1], other_than(g[1], 2), g[2]];
    let parents = vec![-1, -1, 1, 1, 2];
    let got = verify_and_accept(&prompt, &tokens, &parents, &model).unwrap();
    assert_eq!(got, (g[..3].to_vec(), g[3]));
}

#[test]
fn three_cycles_match_autoregressive() {
    // The prompt's Test 3: each cycle's output is the next cycle's prompt.
    let model = TinyLm::random(8);
    let prompt = [10, 20, 30];
    let mut rng = StdRng::seed_from_u64(8);
    let mut cycles = 0;
    let mut draft = |context: &[u32]| {
        cycles += 1;
        mixed_draft_tree(&mut rng, &model, context, vec![-1, 0, 1], 0.7).unwrap()
    };
    let speculative = speculative_generate(&model, &prompt, 16, &mut draft).unwrap();
    assert!(cycles >= 3, "only {cycles} cycles");
    assert_eq!(speculative, greedy_generate(&model, &prompt, 16).unwrap());
}

#[test]
fn each_verification_is_one_target_forward() {
    let model = TinyLm::random(9);
    let target = CountingModel::new(&model);
    let mut rng = StdRng::seed_from_u64(9);
    let prompt = random_tokens(&mut rng, 6);
    let parents = random_tree_parents(&mut rng, 4, 3);
    let tree = mixed_draft_tree(&mut rng, &model, &prompt, parents, 0.8).unwrap();
    verify_and_accept(&prompt, &tree.tokens, &tree.parents, &target).unwrap();
    assert_eq!(target.logits_calls.get(), 1);

    let target = CountingModel::new(&model);
    let mut cycles = 0;
    let mut draft = |context: &[u32]| {
        cycles += 1;
        let parents = random_tree_parents(&mut rng, 3, 2);
        mixed_draft_tree(&mut rng, &model, context, parents, 0.6).unwrap()
    };
    speculative_generate(&target, &prompt, 30, &mut draft).unwrap();
    assert_eq!(target.logits_calls.get(), cycles);
}

#[test]
fn golden_speculative_equals_autoregressive_on_random_prompts_and_trees() {
    let mut rng = StdRng::seed_from_u64(10);
    let (mut cycles, mut emitted) = (0, 0);
    for case in 0..30u64 {
        let model = TinyLm::random(100 + case);
        let prompt_len = rng.random_range(1..=40);
        let prompt = random_tokens(&mut rng, prompt_len);
        let max_tokens = prompt.len() + rng.random_range(8..=16);
        let right_probability = [0.2, 0.5, 0.8, 1.0][case as usize % 4];
        let mut draft = |context: &[u32]| {
            cycles += 1;
            let (depth, branching) = (rng.random_range(1..=5), rng.random_range(1..=3));
            let parents = random_tree_parents(&mut rng, depth, branching);
            mixed_draft_tree(&mut rng, &model, context, parents, right_probability).unwrap()
        };
        let speculative = speculative_generate(&model, &prompt, max_tokens, &mut draft).unwrap();
        assert_eq!(
            speculative,
            greedy_generate(&model, &prompt, max_tokens).unwrap(),
            "case {case}"
        );
        emitted += max_tokens - prompt.len();
    }
    // The drafts were good enough that cycles emitted several tokens on average.
    println!("{emitted} tokens in {cycles} verification cycles");
    assert!(cycles * 3 < emitted * 2);
}

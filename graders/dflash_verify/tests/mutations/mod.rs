//! The buggy fixtures that are a few-line edit of `tests/fixtures/correct/dflash_verify.py`,
//! kept as those edits instead of ~110-line copies: at test time the correct verifier, its
//! docstring rewritten to name the bug and the edits applied, becomes a fresh submission folder
//! named like the fixture. `grader_testkit::mutated_fixture` asserts that every `find` occurs
//! exactly once, so an edit of `correct` that breaks a mutation fails the tests instead of
//! grading a correct verifier as a buggy one.
//!
//! The other buggy fixture, `no_subtree_invalidation`, is a real folder:
//! examples/buggy-solutions points at it.

use grader_testkit::{FixtureSet, Mutation};

/// The submission file of every fixture.
const FILE: &str = "dflash_verify.py";

/// The first line of the correct verifier's docstring, which a mutation rewrites to name its bug.
const CORRECT_OPENING: &str =
    "\"\"\"DFlash-style tree verification with greedy acceptance, in NumPy. A correct answer.";

pub const MUTATIONS: [Mutation; 4] = [
    Mutation {
        name: "logits_at_p_plus_i",
        edits: &[
            (
                CORRECT_OPENING,
                r#""""Buggy: node i is judged by the logits at its own position P + i (step 4b read literally).

Otherwise the correct answer."#,
            ),
            (
                "predicted = int(np.argmax(logits[row_after(parent)]))",
                "predicted = int(np.argmax(logits[P + i]))  # BUG: the row after node i, not before it",
            ),
        ],
    },
    Mutation {
        name: "mask_sees_siblings",
        edits: &[
            (
                CORRECT_OPENING,
                r#""""Buggy: tree rows are causal over the whole tree, so a node sees earlier siblings and cousins.

Otherwise the correct answer."#,
            ),
            (
                "        if parent < 0:
            mask[row, :P] = True  # b) a root sees the prompt ...
        else:
            mask[row] = mask[P + parent]  # ... a child sees what its parent sees (d: ancestors)
",
                "        mask[row, :row] = True  # BUG: every earlier position, not just the prompt and ancestors
",
            ),
        ],
    },
    Mutation {
        name: "keeps_processing_after_rejection",
        edits: &[
            (
                CORRECT_OPENING,
                r#""""Buggy: a rejected node's replacement is kept as accepted and the loop goes on instead of stopping.

Otherwise the correct answer."#,
            ),
            (
                "        # else: rejected. A later sibling may still carry the target's token.
",
                "        else:
            accepted.append(predicted)  # BUG: the replacement is kept and processing continues
",
            ),
        ],
    },
    Mutation {
        name: "forward_per_node",
        edits: &[
            (
                CORRECT_OPENING,
                r#""""Buggy: one causal target forward per judged node instead of one tree forward per verification.

Otherwise the correct answer."#,
            ),
            (
                "        predicted = int(np.argmax(logits[row_after(parent)]))
",
                "        # BUG: a causal forward of the accepted path for every node judged
        context = list(prompt_tokens) + accepted
        causal = np.tril(np.ones((len(context), len(context)), dtype=bool))
        predicted = int(np.argmax(np.asarray(target_model(context, causal))[-1]))
",
            ),
        ],
    },
];

/// Every fixture: the mutations above, else the real folders of `tests/fixtures`.
pub const FIXTURES: FixtureSet = FixtureSet {
    challenge: "dflash_verify",
    manifest_dir: env!("CARGO_MANIFEST_DIR"),
    file: FILE,
    mutations: &MUTATIONS,
};

/// The bare-prompt answer (`tests/fixtures/bare_prompt`) judging the subtree of a rejected
/// node: graded through its adapter, the subtree trap FAILs as for an answer to the interface.
pub const BARE_PROMPT_NO_SUBTREE_INVALIDATION: Mutation = Mutation {
    name: "bare_prompt_no_subtree_invalidation",
    edits: &[(
        "        if parent in rejected:\n            rejected.add(i)  # subtree invalidation: drafted after a token the target refused\n            continue\n        if parent != last:\n",
        "        if parent != last and parent not in rejected:  # BUG: a rejected node's children are judged\n",
    )],
};

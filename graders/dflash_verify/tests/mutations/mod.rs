//! The buggy fixtures that are a few-line edit of `tests/fixtures/correct/dflash_verify.py`,
//! kept as those edits instead of ~110-line copies: at test time the correct verifier, its
//! docstring rewritten to name the bug and the edits applied, becomes a fresh submission folder
//! named like the fixture. `grader_testkit::mutated_fixture` asserts that every `find` occurs
//! exactly once, so an edit of `correct` that breaks a mutation fails the tests instead of
//! grading a correct verifier as a buggy one.
//!
//! The other buggy fixture, `no_subtree_invalidation`, is a real folder:
//! examples/buggy-solutions points at it.

use std::path::Path;

use grader_dflash_verify::DflashVerifyGrader;
use grader_testkit::{Submission, mutated_fixture, submission_from_dir};
use judge_core::Challenge;

/// The submission file of every fixture.
const FILE: &str = "dflash_verify.py";

/// The first line of the correct verifier's docstring, which a mutation rewrites to name its bug.
const CORRECT_OPENING: &str =
    "\"\"\"DFlash-style tree verification with greedy acceptance, in NumPy. A correct answer.";

/// A buggy verifier: the correct one with `edits` (exact find, replace) applied; the edit where
/// the bug bites carries a `# BUG:` comment.
pub struct Mutation {
    /// The fixture's name.
    pub name: &'static str,
    /// The bug, as the docstring's first line says it.
    pub bug: &'static str,
    pub edits: &'static [(&'static str, &'static str)],
}

pub const MUTATIONS: [Mutation; 4] = [
    Mutation {
        name: "logits_at_p_plus_i",
        bug: "node i is judged by the logits at its own position P + i (step 4b read literally).",
        edits: &[(
            "predicted = int(np.argmax(logits[row_after(parent)]))",
            "predicted = int(np.argmax(logits[P + i]))  # BUG: the row after node i, not before it",
        )],
    },
    Mutation {
        name: "mask_sees_siblings",
        bug: "tree rows are causal over the whole tree, so a node sees earlier siblings and cousins.",
        edits: &[(
            "        if parent < 0:
            mask[row, :P] = True  # b) a root sees the prompt ...
        else:
            mask[row] = mask[P + parent]  # ... a child sees what its parent sees (d: ancestors)
",
            "        mask[row, :row] = True  # BUG: every earlier position, not just the prompt and ancestors
",
        )],
    },
    Mutation {
        name: "keeps_processing_after_rejection",
        bug: "a rejected node's replacement is kept as accepted and the loop goes on instead of stopping.",
        edits: &[(
            "        # else: rejected. A later sibling may still carry the target's token.
",
            "        else:
            accepted.append(predicted)  # BUG: the replacement is kept and processing continues
",
        )],
    },
    Mutation {
        name: "forward_per_node",
        bug: "one causal target forward per judged node instead of one tree forward per verification.",
        edits: &[(
            "        predicted = int(np.argmax(logits[row_after(parent)]))
",
            "        # BUG: a causal forward of the accepted path for every node judged
        context = list(prompt_tokens) + accepted
        causal = np.tril(np.ones((len(context), len(context)), dtype=bool))
        predicted = int(np.argmax(np.asarray(target_model(context, causal))[-1]))
",
        )],
    },
];

impl Mutation {
    /// The mutated verifier alone in a fresh submission folder named like the fixture.
    pub fn submission(&self) -> Submission {
        let opening = format!("\"\"\"Buggy: {}\n\nOtherwise the correct answer.", self.bug);
        let edits: Vec<(&str, &str)> = std::iter::once((CORRECT_OPENING, opening.as_str()))
            .chain(self.edits.iter().copied())
            .collect();
        mutated_fixture(
            DflashVerifyGrader.id().as_str(),
            env!("CARGO_MANIFEST_DIR"),
            "correct",
            self.name,
            FILE,
            &edits,
        )
    }
}

/// The fixture `name`: a mutation of `correct` when [`MUTATIONS`] lists it, else the real folder
/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> Submission {
    let real = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    match MUTATIONS.iter().find(|m| m.name == name) {
        Some(mutation) => {
            assert!(
                !real.exists(),
                "{name} is both a mutation and the folder {}",
                real.display()
            );
            mutation.submission()
        }
        None => submission_from_dir(DflashVerifyGrader.id().as_str(), &real),
    }
}

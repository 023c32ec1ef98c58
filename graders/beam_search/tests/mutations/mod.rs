//! The buggy fixtures that are a few-line edit of `tests/fixtures/correct/beam_search.py`, kept
//! as those edits instead of ~120-line copies: at test time the correct search, its docstring
//! rewritten to name the bug and the edits applied, becomes a fresh submission folder named like
//! the fixture. `grader_testkit::mutated_fixture` asserts that every `find` occurs exactly once,
//! so an edit of `correct` that breaks a mutation fails the tests instead of grading a correct
//! search as a buggy one.
//!
//! The other buggy fixture, `drops_eos_beams`, is a real folder: examples/buggy-solutions points
//! at it.

use std::path::Path;

use grader_beam_search::BeamSearchGrader;
use grader_testkit::{Submission, mutated_fixture, submission_from_dir};
use judge_core::Challenge;

/// The submission file of every fixture.
const FILE: &str = "beam_search.py";

/// The opening of the correct search's docstring, which a mutation rewrites to name its bug.
const CORRECT_OPENING: &str =
    "\"\"\"Batched beam search with EOS retention and a generated-length penalty, in NumPy.

A correct answer.";

/// A buggy search: the correct one with `edits` (exact find, replace) applied; the edit where
/// the bug bites carries a `# BUG:` comment.
pub struct Mutation {
    /// The fixture's name.
    pub name: &'static str,
    /// The bug, as the docstring's first line says it.
    pub bug: &'static str,
    pub edits: &'static [(&'static str, &'static str)],
}

pub const MUTATIONS: [Mutation; 3] = [
    Mutation {
        name: "prompt_in_length",
        bug: "the length penalty counts the prompt tokens too.",
        edits: &[(
            "pool.append(Beam(tokens, logprob, penalized(logprob, len(tokens), alpha),",
            "# BUG: the prompt counts in the length
                    pool.append(Beam(tokens, logprob, penalized(logprob, len(prompts[b]) + len(tokens), alpha),",
        )],
    },
    Mutation {
        name: "shared_beams",
        bug: "one pool for the whole batch; the best K x batch candidates survive, so a confident
prompt takes beam slots from the others.",
        edits: &[
            (
                "        for b, beams in enumerate(items):
            pool = []
",
                "        pool = []  # BUG: one pool shared by every batch item
        for b, beams in enumerate(items):
",
            ),
            ("pool.append(beam)", "pool.append((b, beam))"),
            (
                "pool.append(Beam(tokens, logprob, penalized(logprob, len(tokens), alpha),
                                     int(token) == eos_token_id))",
                "pool.append((b, Beam(tokens, logprob, penalized(logprob, len(tokens), alpha),
                                         int(token) == eos_token_id)))",
            ),
            (
                "            pool.sort(key=lambda beam: beam.score, reverse=True)
            items[b] = pool[:beam_width]
",
                "        pool.sort(key=lambda owned: owned[1].score, reverse=True)
        survivors = pool[:beam_width * len(prompts)]
        items = [[beam for owner, beam in survivors if owner == b] for b in range(len(prompts))]
",
            ),
        ],
    },
    Mutation {
        name: "unsorted_output",
        bug: "the returned hypotheses are ordered by raw log-prob, not by the length-penalised score.",
        edits: &[(
            "sorted(beams, key=lambda beam: beam.score, reverse=True)]",
            "sorted(beams, key=lambda beam: beam.logprob, reverse=True)]  # BUG: raw log-prob",
        )],
    },
];

impl Mutation {
    /// The mutated search alone in a fresh submission folder named like the fixture.
    pub fn submission(&self) -> Submission {
        let opening = format!("\"\"\"Buggy: {}\n\nOtherwise the correct answer.", self.bug);
        let edits: Vec<(&str, &str)> = std::iter::once((CORRECT_OPENING, opening.as_str()))
            .chain(self.edits.iter().copied())
            .collect();
        mutated_fixture(
            BeamSearchGrader.id().as_str(),
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
        None => submission_from_dir(BeamSearchGrader.id().as_str(), &real),
    }
}

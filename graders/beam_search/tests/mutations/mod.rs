//! The buggy fixtures that are a few-line edit of `tests/fixtures/correct/beam_search.py`, kept
//! as those edits instead of ~120-line copies: at test time the correct search, its docstring
//! rewritten to name the bug and the edits applied, becomes a fresh submission folder named like
//! the fixture. `grader_testkit::mutated_fixture` asserts that every `find` occurs exactly once,
//! so an edit of `correct` that breaks a mutation fails the tests instead of grading a correct
//! search as a buggy one.
//!
//! The other buggy fixture, `drops_eos_beams`, is a real folder: examples/buggy-solutions points
//! at it.

use grader_testkit::{FixtureSet, Mutation};

/// The submission file of every fixture.
const FILE: &str = "beam_search.py";

/// The opening of the correct search's docstring, which a mutation rewrites to name its bug.
const CORRECT_OPENING: &str =
    "\"\"\"Batched beam search with EOS retention and a generated-length penalty, in NumPy.

A correct answer.";

pub const MUTATIONS: [Mutation; 3] = [
    Mutation {
        name: "prompt_in_length",
        edits: &[
            (
                CORRECT_OPENING,
                r#""""Buggy: the length penalty counts the prompt tokens too.

Otherwise the correct answer."#,
            ),
            (
                "pool.append(Beam(tokens, logprob, penalized(logprob, len(tokens), alpha),",
                "# BUG: the prompt counts in the length
                    pool.append(Beam(tokens, logprob, penalized(logprob, len(prompts[b]) + len(tokens), alpha),",
            ),
        ],
    },
    Mutation {
        name: "shared_beams",
        edits: &[
            (
                CORRECT_OPENING,
                r#""""Buggy: one pool for the whole batch; the best K x batch candidates survive, so a confident
prompt takes beam slots from the others.

Otherwise the correct answer."#,
            ),
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
        edits: &[
            (
                CORRECT_OPENING,
                r#""""Buggy: the returned hypotheses are ordered by raw log-prob, not by the length-penalised score.

Otherwise the correct answer."#,
            ),
            (
                "sorted(beams, key=lambda beam: beam.score, reverse=True)]",
                "sorted(beams, key=lambda beam: beam.logprob, reverse=True)]  # BUG: raw log-prob",
            ),
        ],
    },
];

/// Every fixture: the mutations above, else the real folders of `tests/fixtures`.
pub const FIXTURES: FixtureSet = FixtureSet {
    challenge: "beam_search",
    manifest_dir: env!("CARGO_MANIFEST_DIR"),
    file: FILE,
    mutations: &MUTATIONS,
};

/// The bare-prompt answer (`tests/fixtures/bare_prompt`) with finished beams dropped: graded
/// through its adapter, the EOS trap must FAIL as it does for an answer to the interface.
pub const BARE_PROMPT_DROPS_EOS_BEAMS: Mutation = Mutation {
    name: "bare_prompt_drops_eos_beams",
    edits: &[(
        "                    pool.append(beam)\n                    continue\n",
        "                    continue  # BUG: a finished beam is dropped instead of competing\n",
    )],
};

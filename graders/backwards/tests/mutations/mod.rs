//! The buggy fixtures that are a few-line edit of `tests/fixtures/correct`, kept as those edits
//! instead of near-copies of `layer_norm.py`: each is applied to the correct file at test time
//! and written into a fresh submission named like the fixture
//! ([`grader_testkit::mutated_fixture`] asserts every `find` occurs exactly once, so an edit of
//! `correct` that breaks a mutation fails the tests instead of silently grading an unmutated
//! file).
//!
//! The other fixtures are real folders: `correct` and `one_pass_variance`
//! (examples/buggy-solutions/backwards points at it).

use grader_testkit::{FixtureSet, Mutation};

/// The submission file of every fixture.
const FILE: &str = "layer_norm.py";

/// The correct file's docstring, which every mutation rewrites to say its bug.
const CORRECT_DOCSTRING: &str =
    r#""""LayerNorm forward and hand-derived backward in NumPy. A correct answer."#;

const MUTATIONS: [Mutation; 3] = [
    Mutation {
        name: "dgamma_wrong_axes",
        edits: &[
            (
                CORRECT_DOCSTRING,
                r#""""LayerNorm forward and hand-derived backward in NumPy, with one bug.

dgamma is summed over the batch axis only (as if x were (N, D)), so it comes out (T, D)
instead of (D,)."#,
            ),
            (
                "    dgamma = (dy * x_hat).sum(axis=(0, 1))",
                r#"    # BUG: sums over axis 0 only, as for (N, D) inputs; T is never reduced.
    dgamma = (dy * x_hat).sum(axis=0)"#,
            ),
        ],
    },
    Mutation {
        name: "dx_missing_term",
        edits: &[
            (
                CORRECT_DOCSTRING,
                r#""""LayerNorm forward and hand-derived backward in NumPy, with one bug.

dx drops the term - x_hat * mean(g * x_hat), the gradient through the variance, as if sigma
did not depend on x."#,
            ),
            (
                "    dx = inv_std * (g - mean_g - x_hat * mean_gx)",
                r#"    # BUG: the term through the variance, - x_hat * mean(g * x_hat), is missing.
    dx = inv_std * (g - mean_g)"#,
            ),
        ],
    },
    Mutation {
        name: "eps_missing",
        edits: &[
            (
                CORRECT_DOCSTRING,
                r#""""LayerNorm forward and hand-derived backward in NumPy, with one bug.

eps is accepted but never added to the variance, so constant rows divide zero by zero."#,
            ),
            (
                "    inv_std = 1.0 / np.sqrt(var + eps)",
                r#"    # BUG: eps is not added to the variance.
    inv_std = 1.0 / np.sqrt(var)"#,
            ),
        ],
    },
];

/// Every fixture: the mutations above, else the real folders of `tests/fixtures`.
pub const FIXTURES: FixtureSet = FixtureSet {
    challenge: "backwards",
    manifest_dir: env!("CARGO_MANIFEST_DIR"),
    file: FILE,
    mutations: &MUTATIONS,
};

/// The bare-prompt answer (`tests/fixtures/bare_prompt`) without the variance term in dx:
/// graded through its adapter, the checks of dx FAIL as they do for an answer to the interface.
pub const BARE_PROMPT_DX_MISSING_TERM: Mutation = Mutation {
    name: "bare_prompt_dx_missing_term",
    edits: &[(
        "    dx = cache.rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True)\n                       - cache.xhat * (dxhat * cache.xhat).mean(axis=-1, keepdims=True))\n",
        "    dx = cache.rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True))  # BUG: no variance term\n",
    )],
};

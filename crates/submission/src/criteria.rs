//! The two criteria every Python grader shares, by id.

use judge_core::Criterion;

/// Id of the shared criterion: no torch, jax, tensorflow or autograd.
pub const NO_FRAMEWORKS: &str = "no_frameworks";
/// Id of the shared criterion: the submission's own tests or demo exit 0.
pub const SELF_TEST: &str = "self_test";

/// The shared "NumPy only" criterion every Python prompt states.
pub fn no_frameworks_criterion() -> Criterion {
    Criterion::auto(
        NO_FRAMEWORKS,
        "uses no PyTorch, JAX, TensorFlow or autograd",
    )
}

/// The shared self-test criterion: the tests the prompt asks the model to write.
pub fn self_test_criterion() -> Criterion {
    Criterion::self_test(SELF_TEST, "its own tests / demo run and exit 0")
}

//! What a grader declares about its Python contract.

use std::time::Duration;

use judge_core::ChallengeId;

/// What a grader declares about its Python contract.
#[derive(Debug, Clone)]
pub struct PythonContract {
    /// The challenge the contract is for.
    pub challenge: ChallengeId,

    /// Names entry discovery looks for; the module defining them is loaded.
    pub names: Vec<&'static str>,
    /// Names the grader cannot work without (a subset of `names`).
    pub required: Vec<&'static str>,
    /// Grader fixture modules (name, Python source) the worker loads before the submission.
    pub fixtures: Vec<(String, String)>,
    /// Limit for one call; hidden cases are small, so this is generous.
    pub call_timeout: Duration,
    /// Which of the submission's scripts make up its self-test.
    pub self_test: SelfTestRule,
}

impl PythonContract {
    /// The common contract: every one of `names` required, no fixture modules, the self-test
    /// made of test files or else every script.
    pub fn new(challenge: ChallengeId, names: &[&'static str], call_timeout: Duration) -> Self {
        PythonContract {
            challenge,
            names: names.to_vec(),
            required: names.to_vec(),
            fixtures: Vec::new(),
            call_timeout,
            self_test: SelfTestRule::TestFilesOrScripts,
        }
    }

    /// With grader fixture modules (name, Python source), loaded before the submission.
    pub fn with_fixtures(self, fixtures: Vec<(String, String)>) -> Self {
        PythonContract { fixtures, ..self }
    }

    /// With no name required by entry loading: for a grader that decides itself which of the
    /// names will do (any one complete pair, say).
    pub fn requiring_none(self) -> Self {
        PythonContract {
            required: Vec::new(),
            ..self
        }
    }
}

/// What counts as a submission's own tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfTestRule {
    /// `test_*.py` / `*_test.py` files, or else every top-level `.py` file run as a program
    /// (the prompts ask for tests inside the solution, under `if __name__ == "__main__":`).
    TestFilesOrScripts,
    /// Only test files: for challenges whose scripts do long work when run (training), so
    /// running them is no test and could take the whole time limit.
    TestFilesOnly,
}

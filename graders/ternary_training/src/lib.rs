//! Grader for `ternary_training`: a ternary-weight Qwen3-style model trained from scratch.
//!
//! A training run is too long to repeat at grading time, so the grader checks what the run left
//! behind (prompts/ternary_training.interface.md) and recomputes every claim it can:
//!
//! - the projection of every ternary layer from its saved latent weights (group 128,
//!   `s = mean|W|`, codes in {−1, 0, +1}), against the codes and scales the run saved — the
//!   run's own verification report is never read;
//! - the layer set from the configuration: a linear map without a ternary form, or one the
//!   configuration implies but the weights lack, is the full-precision escape hatch;
//! - the architecture facts from the configuration and the weight shapes;
//! - the loss trend from the per-step losses;
//! - the validation perplexity through the run's own `score_nll` entry point, on the split it
//!   declares (the only criterion that runs submission code, in the sandbox);
//! - the samples' byte-bigram statistics against the corpus ([`bigram`]).
//!
//! The corpus comes from `--train-data`, else the submission folder's `train_data.txt`, else
//! `./train_data.txt` ([`corpus`]); without one the corpus-dependent criteria are SKIPPED.
//!
//! Python runs only where it must: the self-test runs `test_*.py` / `*_test.py` files only (a
//! training script is not a test), and a submission with neither `score_nll` nor tests starts no
//! worker at all — its framework criterion is then decided by reading its imports.
//!
//! What no artifact can show: which weights the *training* forward pass used. A run that
//! trained a layer in full precision and projected it only when saving passes the projection
//! criteria; the re-scored perplexity (through the run's own scorer) is the check on it.

#![warn(missing_docs)]

pub mod artifacts;
pub mod bigram;
mod candidate;
mod checks;
pub mod corpus;
pub mod npz;
pub mod twin;

use std::path::{Path, PathBuf};
use std::time::Duration;

use judge_core::{
    Challenge, ChallengeId, Criterion, CriterionKind, CriterionResult, GradeContext, Graded,
    Scorecard, Verdict,
};
use judge_submission::{
    NO_FRAMEWORKS, PythonContract, SELF_TEST, decide_reference_shared, grade_python_with,
};

pub use candidate::Scorer;
pub use checks::{
    LOSS_RATIO_BOUND, MIN_SAMPLE_BIGRAMS, MIN_SAMPLES, PERPLEXITY_BOUND, RESCORE_TOLERANCE,
};
use corpus::Corpus;

/// Criterion ids, shared by the checks and the validation tests.
pub mod ids {
    /// The prompt's non-negotiable correctness (weight 3): every saved layer's codes and
    /// scales equal the projection recomputed here from its latent weights (groups of 128,
    /// `s = mean|W|`, codes in {−1, 0, +1}); the run's own verification is never read.
    pub const TERNARY_PROJECTION: &str = "ternary_projection";
    /// Every linear map the configuration implies, embedding and LM head included, has latent
    /// weights and a ternary form, and no other matrix lies beside them: the prompt's "no
    /// high-precision escape hatches" (weight 2).
    pub const ALL_LAYERS_TERNARY: &str = "all_layers_ternary";
    /// The Qwen3 facts the prompt lists (GQA 2:1, SwiGLU, RMSNorm, RoPE, no biases), from the
    /// declared configuration and the shapes of the saved weights.
    pub const ARCHITECTURE: &str = "qwen3_architecture";
    /// The prompt's convergence criterion (weight 2): the mean loss of the last 10% of the
    /// logged steps is at most 0.9 × that of the first 10%; a flat or rising loss means a
    /// wrong STE or learning rate.
    pub const LOSS_DECREASED: &str = "loss_decreased";
    /// The reported validation perplexity is a perplexity (finite, ≥ 1) and under the
    /// prompt's "not astronomical" bound of 100.
    pub const REPORTED_PERPLEXITY: &str = "validation_perplexity_bound";
    /// The run's own `score_nll`, run in the sandbox on the validation split it declares,
    /// agrees with the reported perplexity within 5% (weight 2): the only criterion that runs
    /// submission code, and the check on a figure the artifacts alone cannot confirm.
    pub const RESCORED_PERPLEXITY: &str = "perplexity_rescored";
    /// The prompt's "non-random text": at least 3 samples, from different prompts, whose byte
    /// bigrams are closer to the corpus's than uniform text's ([`crate::bigram`]).
    pub const SAMPLES_NOT_RANDOM: &str = "samples_not_random";
    /// Manual: the prompt's judgment questions, group size 128 over 256 and mean|W| over
    /// max|W|.
    pub const EXPLAINS_CHOICES: &str = "explains_group_and_scale";
    /// Manual: the procedure and hyperparameters, the learning rate that worked, what broke
    /// and how it was fixed.
    pub const EXPLAINS_PROCEDURE: &str = "explains_procedure";
    /// Manual: trained at the scale of the chosen path (Path A: Qwen3-0.6B, ≥ 200 steps; Path
    /// B: 6–8 layers, d_model 512–768, ≥ 4 heads, ≥ 1000 steps, batch ≥ 16).
    pub const TRAINING_SCALE: &str = "training_scale";
    /// Manual: the report the prompt asks for after training (final loss, perplexity,
    /// verification, samples, observations).
    pub const OBSERVATIONS: &str = "reports_observations";
}

/// The optional scoring entry point.
const ENTRY: &str = "score_nll";

/// Scoring a Path-B model on the prompt corpus's validation tenth (~27 kB) in NumPy takes tens
/// of seconds; a Qwen3-0.6B one longer.
const SCORE_TIMEOUT: Duration = Duration::from_secs(300);

/// The criteria decided from the saved artifacts alone (no submission code runs).
const ARTIFACT_CRITERIA: [&str; 6] = [
    ids::TERNARY_PROJECTION,
    ids::ALL_LAYERS_TERNARY,
    ids::ARCHITECTURE,
    ids::LOSS_DECREASED,
    ids::REPORTED_PERPLEXITY,
    ids::SAMPLES_NOT_RANDOM,
];

/// The `ternary_training` grader.
#[derive(Debug, Default)]
pub struct TernaryTrainingGrader;

impl Challenge for TernaryTrainingGrader {
    fn id(&self) -> ChallengeId {
        ChallengeId::TernaryTraining
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn criteria(&self) -> Vec<Criterion> {
        use ids::*;
        vec![
            Criterion::auto(
                TERNARY_PROJECTION,
                "every saved ternary layer: group 128, s = mean|W|, codes in {−1, 0, +1} (recomputed from the latent weights)",
            )
            .with_weight(3),
            Criterion::auto(
                ALL_LAYERS_TERNARY,
                "all linear layers ternary, embedding and LM head included",
            )
            .with_weight(2),
            Criterion::auto(
                ARCHITECTURE,
                "Qwen3 facts: GQA 2:1, SwiGLU, RMSNorm, RoPE, no biases (config and weight shapes)",
            ),
            Criterion::auto(
                LOSS_DECREASED,
                "training loss fell: last 10% of steps ≤ 0.9 × first 10%",
            )
            .with_weight(2),
            Criterion::auto(
                REPORTED_PERPLEXITY,
                "reported validation perplexity finite and < 100",
            ),
            Criterion::auto(
                RESCORED_PERPLEXITY,
                "score_nll on the declared validation split agrees with the report within 5%",
            )
            .with_weight(2),
            Criterion::auto(
                SAMPLES_NOT_RANDOM,
                "samples' byte bigrams closer to the corpus than uniform text's",
            ),
            judge_submission::no_frameworks_criterion(),
            judge_submission::self_test_criterion(),
            Criterion::manual(
                EXPLAINS_CHOICES,
                "explains group size 128 over 256 and mean|W| over max|W|",
            ),
            Criterion::manual(
                EXPLAINS_PROCEDURE,
                "explains the procedure and hyperparameters: learning rate, what broke and how it was fixed",
            ),
            Criterion::manual(
                TRAINING_SCALE,
                "trained at the prompt's scale (Path A: Qwen3-0.6B ≥ 200 steps; Path B: 6–8 layers, d_model 512–768, ≥ 4 heads, ≥ 1000 steps, batch ≥ 16)",
            ),
            Criterion::manual(
                OBSERVATIONS,
                "reports final loss, perplexity, verification, samples and observations",
            ),
        ]
    }

    fn grade_reference(&self, ctx: &GradeContext) -> Graded {
        let corpus = Corpus::for_reference(ctx.train_data.as_deref());
        let mut card = Scorecard::new(&self.criteria());
        let mut notes = Vec::new();
        match &corpus {
            Corpus::Found { bytes, .. } => {
                let text = String::from_utf8_lossy(bytes);
                notes.extend(decide_reference_run(&text, ctx, &corpus, &mut card));
            }
            Corpus::Missing(reason) => decide_ternary(&mut card, &Verdict::skipped(reason)),
            Corpus::Unreadable(reason) | Corpus::Refused(reason) => {
                decide_ternary(&mut card, &Verdict::harness_error(reason.clone()))
            }
        }
        decide_reference_shared(&mut card);
        Graded {
            results: card.finish("the reference run did not reach it"),
            notes,
            ..Graded::default()
        }
    }

    fn grade_submission(&self, dir: &Path, ctx: &GradeContext) -> Graded {
        let criteria = self.criteria();
        let corpus = Corpus::for_submission(ctx.train_data.as_deref(), dir);
        let set = artifacts::ArtifactSet::load(dir);
        let decided = artifact_results(&criteria, &set, &corpus);
        let files = PythonFiles::scan(dir);

        if !files.binds_entry && !files.has_tests {
            return grade_without_python(&criteria, decided, &files);
        }
        let contract = PythonContract {
            challenge: self.id(),
            names: vec![ENTRY],
            required: Vec::new(),
            fixtures: Vec::new(),
            call_timeout: SCORE_TIMEOUT,
            self_test: judge_submission::SelfTestRule::TestFilesOnly,
        };
        // Decided before any submission code runs: the artifact criteria need no Python, and
        // without an entry point or test files there is nothing to re-score or to self-test.
        let mut decided = decided;
        if !files.binds_entry {
            decided.push(result_of(
                &criteria,
                ids::RESCORED_PERPLEXITY,
                no_entry_verdict(),
            ));
        }
        if !files.has_tests {
            decided.push(result_of(&criteria, SELF_TEST, no_tests_verdict()));
        }
        grade_python_with(&contract, &criteria, &decided, dir, ctx, |session, card| {
            let mut python = candidate::Python::new(session);
            checks::decide_rescoring(&set, &corpus, &mut python, card);
        })
    }
}

/// `verdict` for the criterion `id` of `criteria`.
fn result_of(criteria: &[Criterion], id: &str, verdict: Verdict) -> CriterionResult {
    CriterionResult {
        criterion: criteria
            .iter()
            .find(|c| c.id == id)
            .expect("the grader declares it")
            .clone(),
        verdict,
        seconds: 0.0,
    }
}

/// Gives every challenge criterion (all but the shared ones) the same verdict.
fn decide_ternary(card: &mut Scorecard, verdict: &Verdict) {
    for id in ARTIFACT_CRITERIA
        .into_iter()
        .chain([ids::RESCORED_PERPLEXITY])
    {
        card.record(id, verdict.clone(), 0.0);
    }
}

/// Trains the reference's small configuration on `corpus`, saves its artifacts like any run,
/// and grades them through the same checks, with the Rust model as the scorer; then trains its
/// f32 twin ([`twin`]) for the notes. Each run takes about half a minute, so each draws a
/// progress bar where the context allows one. Returns the notes.
fn decide_reference_run(
    corpus_text: &str,
    ctx: &GradeContext,
    corpus: &Corpus,
    card: &mut Scorecard,
) -> Vec<String> {
    let failed = |card: &mut Scorecard, why: String| {
        decide_ternary(card, &Verdict::harness_error(why));
        Vec::new()
    };
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => return failed(card, format!("temporary folder: {e}")),
    };
    let config = ternary::TrainingConfig::small(ctx.seed);
    let summary = match ternary::train(corpus_text, &config, ctx.show_progress) {
        Ok(summary) => summary,
        Err(e) => return failed(card, format!("reference run: {e}")),
    };
    if let Err(e) = ternary::artifacts::save_artifacts(&summary, dir.path()) {
        return failed(card, format!("reference run: {e}"));
    }
    let set = artifacts::ArtifactSet::load(dir.path());
    checks::decide_artifacts(&set, corpus, card);
    match candidate::Reference::load(dir.path()) {
        Ok(mut reference) => checks::decide_rescoring(&set, corpus, &mut reference, card),
        Err(e) => card.record(
            ids::RESCORED_PERPLEXITY,
            Verdict::harness_error(format!("loading the reference run: {e}")),
            0.0,
        ),
    }
    let twin =
        twin::PrecisionTwin::train(corpus_text, &config, &summary.validation, ctx.show_progress);
    vec![match twin {
        Ok(twin) => twin.note(),
        Err(e) => format!("f32 twin not trained: {e}"),
    }]
}

/// The artifact criteria's results, decided in this process before any Python starts.
fn artifact_results(
    criteria: &[Criterion],
    set: &artifacts::ArtifactSet,
    corpus: &Corpus,
) -> Vec<CriterionResult> {
    let mut card = Scorecard::new(criteria);
    checks::decide_artifacts(set, corpus, &mut card);
    card.finish("not an artifact criterion")
        .into_iter()
        .filter(|r| ARTIFACT_CRITERIA.contains(&r.criterion.id.as_str()))
        .collect()
}

fn no_entry_verdict() -> Verdict {
    Verdict::skipped(format!(
        "no .py file defines {ENTRY}(text) -> (total_nll_nats, n_tokens): the reported perplexity cannot be re-scored"
    ))
}

/// This challenge's self-test rule: only `test_*.py` / `*_test.py` files run. The shared rule
/// would otherwise run every `.py` file as a program, and here that means the training script.
fn no_tests_verdict() -> Verdict {
    Verdict::skipped(
        "no test_*.py or *_test.py file; the training scripts are not run as a self-test (they train for hours)",
    )
}

/// The `.py` files of a submission, as far as the grader needs to know them before starting
/// Python.
#[derive(Debug, Default)]
struct PythonFiles {
    files: Vec<PathBuf>,
    /// Some file binds `score_nll` at its top level, as far as a line scan can tell
    /// ([`binds_at_top_level`]).
    binds_entry: bool,
    /// A top-level `test_*.py` or `*_test.py` exists (what the shared self-test runs).
    has_tests: bool,
}

/// How deep the `.py` search goes (the worker's entry discovery searches no deeper).
const MAX_SEARCH_DEPTH: usize = 3;
/// Largest `.py` file read for the scan.
const MAX_SOURCE_BYTES: u64 = 4 << 20;

impl PythonFiles {
    fn scan(dir: &Path) -> Self {
        let mut scan = Self::default();
        scan.walk(dir, 0);
        scan.has_tests = judge_submission::self_test_scripts(dir).iter().any(|p| {
            p.file_stem()
                .map(|s| s.to_string_lossy())
                .is_some_and(|s| s.starts_with("test_") || s.ends_with("_test"))
        });
        scan
    }

    fn walk(&mut self, folder: &Path, depth: usize) {
        let Ok(entries) = std::fs::read_dir(folder) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if hidden || !(meta.is_dir() || meta.is_file()) {
                continue;
            }
            if meta.is_dir() && depth < MAX_SEARCH_DEPTH {
                self.walk(&path, depth + 1);
            } else if path.extension().is_some_and(|e| e == "py") {
                if read_source(&path).is_some_and(|source| binds_at_top_level(&source, ENTRY)) {
                    self.binds_entry = true;
                }
                self.files.push(path);
            }
        }
    }

    /// Imports of a blocked framework in the sources: `import torch`, `from jax import ...`.
    fn framework_imports(&self) -> Vec<String> {
        const BLOCKED: [&str; 4] = ["torch", "jax", "tensorflow", "autograd"];
        let mut found = Vec::new();
        for path in &self.files {
            let Some(source) = read_source(path) else {
                continue;
            };
            for line in source.lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                if let [keyword @ ("import" | "from"), module, ..] = words.as_slice() {
                    let root = module.split(['.', ',']).next().unwrap_or("");
                    if BLOCKED.contains(&root) {
                        found.push(format!("{keyword} {module}"));
                    }
                }
            }
        }
        found.sort();
        found.dedup();
        found
    }
}

/// A submission's `.py` file for the line scans, if it is a regular file of at most
/// [`MAX_SOURCE_BYTES`] (a FIFO named `train.py` must not block the judge).
fn read_source(path: &Path) -> Option<String> {
    judge_core::untrusted_fs::read_capped_string(path, MAX_SOURCE_BYTES).ok()
}

/// Whether `source` binds `name` at module level: `def name`, `name = ...`, or an import that
/// names it (also inside a parenthesised import list). Mentions in comments, strings or
/// function bodies do not count, so a submission that only talks about the entry point is not
/// sent through entry discovery — whose failure would run every `.py` file as a self-test.
fn binds_at_top_level(source: &str, name: &str) -> bool {
    let is_word = |line: &str| {
        line.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|word| word == name)
    };
    let mut in_import_list = false;
    for line in source.lines() {
        if in_import_list {
            if is_word(line.split('#').next().unwrap_or("")) {
                return true;
            }
            in_import_list = !line.contains(')');
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let code = line.split('#').next().unwrap_or("");
        let defines = ["def ", "async def ", "class "].iter().any(|k| {
            code.strip_prefix(k)
                .is_some_and(|rest| rest.trim_start().split(['(', ':', ' ']).next() == Some(name))
        });
        let assigns = code
            .strip_prefix(name)
            .is_some_and(|rest| rest.trim_start().starts_with(['=', ':']));
        let imports = code.starts_with("from ") || code.starts_with("import ");
        if defines || assigns || (imports && is_word(code)) {
            return true;
        }
        in_import_list = imports && code.contains('(') && !code.contains(')');
    }
    false
}

/// A submission with no scoring entry point and no tests: nothing of it needs to run, so no
/// worker starts; the framework criterion is decided from its sources.
fn grade_without_python(
    criteria: &[Criterion],
    decided: Vec<CriterionResult>,
    files: &PythonFiles,
) -> Graded {
    let mut card = Scorecard::new(criteria);
    for result in decided {
        card.record(&result.criterion.id, result.verdict, result.seconds);
    }
    card.record(ids::RESCORED_PERPLEXITY, no_entry_verdict(), 0.0);
    card.record(SELF_TEST, no_tests_verdict(), 0.0);
    let imports = files.framework_imports();
    card.record(
        NO_FRAMEWORKS,
        Verdict::check(
            imports.is_empty(),
            if imports.is_empty() {
                format!(
                    "no import of torch, jax, tensorflow or autograd in {} .py files (read, not run: nothing needed running)",
                    files.files.len()
                )
            } else {
                format!("the sources import {}", imports.join(", "))
            },
        ),
        0.0,
    );
    card.decide_remaining(
        Some(CriterionKind::Manual),
        &Verdict::skipped("manual: needs review"),
    );
    Graded {
        results: card.finish("the grader did not reach it"),
        notes: vec![format!(
            "no Python was started: no .py file mentions {ENTRY} and there is no test_*.py"
        )],
        ..Graded::default()
    }
}

#[cfg(test)]
mod tests {
    use super::binds_at_top_level;

    #[test]
    fn top_level_bindings_count_and_mentions_do_not() {
        let binds = |source: &str| binds_at_top_level(source, "score_nll");
        assert!(binds(
            "import numpy as np\n\ndef score_nll(text):\n    return 0.0, 1\n"
        ));
        assert!(binds("score_nll = make_scorer()\n"));
        assert!(binds("from model import score_nll\n"));
        assert!(binds(
            "from model import (\n    train,\n    score_nll,\n)\n"
        ));
        assert!(!binds("# score_nll is not written yet\n"));
        assert!(!binds("def main():\n    score_nll = 3\n"));
        assert!(!binds("def score_nll_helper(x):\n    pass\n"));
        assert!(!binds("print('no score_nll here')\n"));
        assert!(!binds(
            "from model import (\n    train,\n)\nx = 'score_nll'\n"
        ));
    }
}

//! What every grader's validation tests need: submission folders built from fixture files,
//! grading them, and assertions that say which criterion went wrong and why.
//!
//! The standard a grader is held to: the correct fixture passes every auto criterion, each
//! buggy fixture fails exactly the criterion that names its trap, and null submissions
//! (zeros, the input unchanged, `NotImplementedError`) fail every correctness criterion.

#![warn(missing_docs)]

use std::fs;
use std::path::{Path, PathBuf};

use judge_core::discover::SubmissionDir;
use judge_core::{
    ADAPTER_FILE_NAME, Challenge, CriterionKind, GradeContext, Report, Verdict, session,
};
use judge_runner::{Limits, PythonEnv, Worker, WorkerOptions};
use tempfile::TempDir;

/// A submission laid out as `MODEL/<challenge>/` in a temporary folder.
pub struct Submission {
    _root: TempDir,
    /// The challenge folder; it lives as long as the `Submission`.
    pub dir: PathBuf,
}

/// What a test does when a tool it needs (nvcc, chromium) is missing: say so and skip, unless
/// the tool is named in `JUDGE_REQUIRE_TOOLS` (comma-separated; `.ci/run` sets it for what it
/// installs), where a missing tool fails the test instead of letting it pass silently.
pub fn skip_unless_required(tool: &str, reason: &str) {
    let required = std::env::var("JUDGE_REQUIRE_TOOLS").unwrap_or_default();
    assert!(
        !required.split(',').any(|t| t.trim() == tool),
        "{tool} is required (JUDGE_REQUIRE_TOOLS={required}) but missing: {reason}"
    );
    eprintln!("SKIPPED: {tool} missing: {reason}");
}

/// Writes `files` (relative path, content) into a fresh `fixture-model/<challenge>/`.
pub fn submission(challenge: &str, files: &[(&str, &str)]) -> Submission {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("fixture-model").join(challenge);
    for (path, content) in files {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().expect("file has a parent")).expect("mkdir");
        fs::write(&path, content).expect("write fixture");
    }
    fs::create_dir_all(&dir).expect("mkdir");
    Submission { _root: root, dir }
}

/// Copies a fixture folder (e.g. `tests/fixtures/correct`) into a fresh submission.
pub fn submission_from_dir(challenge: &str, fixture: &Path) -> Submission {
    let mut files = Vec::new();
    for entry in fs::read_dir(fixture).unwrap_or_else(|e| panic!("{}: {e}", fixture.display())) {
        let path = entry.expect("dir entry").path();
        // A GRADE.json left by a manual `judge grade` run is output, not fixture content.
        if path.is_file() && path.file_name().is_some_and(|n| n != "GRADE.json") {
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            files.push((name, fs::read_to_string(&path).expect("fixture is text")));
        }
    }
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_str()))
        .collect();
    submission(challenge, &borrowed)
}

/// A buggy fixture kept as a few exact edits of a correct one instead of a near-copy of it:
/// `<manifest_dir>/tests/fixtures/<correct>/<file>` with each `(find, replace)` of `edits`
/// applied in order, written as the only file of a fresh submission whose temporary folder is
/// named after the fixture `name` (so paths in evidence still say which bug it is). The correct
/// folder's other files (e.g. its own self-test) are not part of a buggy fixture.
///
/// Panics when a `find` does not occur exactly once in the text it edits, so an edit of the
/// correct fixture that breaks a mutation fails the tests instead of silently grading an
/// unmutated file; and when no replacement says `BUG`, so each mutated file names its bug where
/// it bites.
pub fn mutated_fixture(
    challenge: &str,
    manifest_dir: &str,
    correct: &str,
    name: &str,
    file: &str,
    edits: &[(&str, &str)],
) -> Submission {
    let correct_path = Path::new(manifest_dir)
        .join("tests/fixtures")
        .join(correct)
        .join(file);
    let mut source = fs::read_to_string(&correct_path)
        .unwrap_or_else(|e| panic!("{}: {e}", correct_path.display()));
    for (find, replace) in edits {
        let occurrences = source.matches(find).count();
        assert_eq!(
            occurrences,
            1,
            "mutation {name}: {find:?} occurs {occurrences} times in {} (exactly once expected)",
            correct_path.display()
        );
        source = source.replacen(find, replace, 1);
    }
    assert!(
        edits.iter().any(|(_, replace)| replace.contains("BUG")),
        "mutation {name}: no replacement says `BUG` where the bug is"
    );
    let root = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir()
        .expect("temp dir");
    let dir = root.path().join("fixture-model").join(challenge);
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join(file), source).expect("write mutated fixture");
    Submission { _root: root, dir }
}

/// A buggy fixture kept as edits of the correct one (see [`mutated_fixture`]): the first edit
/// usually rewrites the module docstring to say the bug, and the replacement where the bug
/// bites carries a `BUG` comment.
pub struct Mutation {
    /// The fixture's name (the folder it would be).
    pub name: &'static str,
    /// Exact (find, replace) edits of the correct file, applied in order.
    pub edits: &'static [(&'static str, &'static str)],
}

/// A grader's fixtures: the real folders of `<manifest_dir>/tests/fixtures` and the
/// [`Mutation`]s of its `correct` folder's `file`.
pub struct FixtureSet<'a> {
    /// The challenge id the submissions are laid out for.
    pub challenge: &'a str,
    /// The grader crate's `env!("CARGO_MANIFEST_DIR")`.
    pub manifest_dir: &'a str,
    /// The submission file every mutation edits.
    pub file: &'a str,
    /// The buggy fixtures made by editing the correct one instead of kept as folders.
    pub mutations: &'a [Mutation],
}

impl FixtureSet<'_> {
    /// The fixture `name` as a fresh submission: the mutation when [`FixtureSet::mutations`]
    /// lists it, else a copy of the real folder `tests/fixtures/<name>`.
    ///
    /// Panics when `name` is both a mutation and a real folder, so a stale folder cannot hide
    /// behind the mutation that replaced it.
    pub fn fixture(&self, name: &str) -> Submission {
        let real = Path::new(self.manifest_dir)
            .join("tests/fixtures")
            .join(name);
        match self.mutations.iter().find(|m| m.name == name) {
            Some(mutation) => {
                assert!(
                    !real.exists(),
                    "{name} is both a mutation and the folder {}",
                    real.display()
                );
                mutated_fixture(
                    self.challenge,
                    self.manifest_dir,
                    "correct",
                    name,
                    self.file,
                    mutation.edits,
                )
            }
            None => submission_from_dir(self.challenge, &real),
        }
    }
}

/// Grades `submission` with a fixed seed, exactly as `judge grade` would.
pub fn grade(grader: &dyn Challenge, submission: &Submission, seed: u64) -> Report {
    let sub = SubmissionDir {
        model: Some("fixture-model".into()),
        challenge: grader.id(),
        dir: submission.dir.clone(),
    };
    session::grade_submission(grader, &sub, "test-prompt", &GradeContext::with_seed(seed))
}

/// Grades the fixture folder `<manifest_dir>/tests/fixtures/<name>` (a whole submission) as
/// `grader`'s challenge. Pass `env!("CARGO_MANIFEST_DIR")` of the grader crate.
pub fn grade_fixture(grader: &dyn Challenge, manifest_dir: &str, name: &str, seed: u64) -> Report {
    let fixture = Path::new(manifest_dir).join("tests/fixtures").join(name);
    let submission = submission_from_dir(grader.id().as_str(), &fixture);
    grade(grader, &submission, seed)
}

/// Grades the reference, exactly as `judge reference` would.
pub fn grade_reference(grader: &dyn Challenge, seed: u64) -> Report {
    session::grade_reference(grader, "test-prompt", &GradeContext::with_seed(seed))
}

/// Every criterion's id, status and evidence, one per line, for assertion messages.
pub fn describe(report: &Report) -> String {
    report
        .criteria
        .iter()
        .map(|r| {
            format!(
                "  {:<8} {:<28} {}",
                r.verdict.label(),
                r.criterion.id,
                r.verdict.detail()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The verdict of criterion `id`.
fn verdict<'r>(report: &'r Report, id: &str) -> &'r Verdict {
    &report
        .criteria
        .iter()
        .find(|r| r.criterion.id == id)
        .unwrap_or_else(|| panic!("no criterion '{id}' in\n{}", describe(report)))
        .verdict
}

/// The evidence (verdict detail) of criterion `id`.
pub fn evidence<'r>(report: &'r Report, id: &str) -> &'r str {
    verdict(report, id).detail()
}

/// The verdict label (`PASS`, `FAIL`, ...) of criterion `id`.
pub fn status(report: &Report, id: &str) -> &'static str {
    verdict(report, id).label()
}

/// Asserts every auto criterion passed.
pub fn assert_all_auto_pass(report: &Report) {
    let bad: Vec<_> = report
        .criteria
        .iter()
        .filter(|r| r.criterion.kind == CriterionKind::Auto && !r.verdict.is_pass())
        .map(|r| r.criterion.id.as_str())
        .collect();
    assert!(
        bad.is_empty(),
        "auto criteria not passed: {bad:?}\n{}",
        describe(report)
    );
}

/// Asserts what a correct submission earns: every auto criterion passed, its own self-test
/// passed, and entry discovery loaded `entry_file`.
pub fn assert_correct_submission(report: &Report, entry_file: &str) {
    assert_all_auto_pass(report);
    assert_eq!(
        status(report, judge_submission::SELF_TEST),
        "PASS",
        "{}",
        describe(report)
    );
    assert_eq!(
        report
            .submission
            .as_ref()
            .expect("a submission report")
            .entry
            .as_deref(),
        Some(entry_file)
    );
}

/// Asserts the auto criteria in `failing` are FAIL (not ERROR: a trap must be caught by a
/// check, not by a crash) and every other auto criterion is PASS.
pub fn assert_fails_exactly(report: &Report, failing: &[&str]) {
    for id in failing {
        assert_eq!(
            status(report, id),
            "FAIL",
            "'{id}' should FAIL\n{}",
            describe(report)
        );
    }
    let unexpected: Vec<_> = report
        .criteria
        .iter()
        .filter(|r| r.criterion.kind == CriterionKind::Auto)
        .filter(|r| !failing.contains(&r.criterion.id.as_str()) && !r.verdict.is_pass())
        .map(|r| r.criterion.id.as_str())
        .collect();
    assert!(
        unexpected.is_empty(),
        "only {failing:?} should fail, but also {unexpected:?}\n{}",
        describe(report)
    );
}

/// Asserts none of `correctness` passed (a null submission must not score on correctness).
pub fn assert_none_pass(report: &Report, correctness: &[&str]) {
    for id in correctness {
        assert_ne!(
            status(report, id),
            "PASS",
            "'{id}' passed a null submission\n{}",
            describe(report)
        );
    }
}

/// The three null submissions, as Python source defining each function in `functions`.
/// Zeros: an array of zeros shaped like the first array argument. Identity: the first
/// argument unchanged. Raises: `NotImplementedError`.
pub fn null_sources(functions: &[&str]) -> [(&'static str, String); 3] {
    let zeros = "    for a in list(args) + list(kwargs.values()):\n        if isinstance(a, _np.ndarray):\n            return _np.zeros_like(a)\n    return 0\n";
    let identity = "    return args[0] if args else None\n";
    let raises = "    raise NotImplementedError\n";
    [("zeros", zeros), ("identity", identity), ("raises", raises)].map(|(name, body)| {
        let mut source = String::from("import numpy as _np\n\n");
        for function in functions {
            source.push_str(&format!("def {function}(*args, **kwargs):\n{body}\n"));
        }
        (name, source)
    })
}

/// Grades the three null submissions of `functions` ([`null_sources`]), each written to
/// `file_name`: none passes a criterion of `correctness`, and the one that raises is an ERROR
/// on `raising_is_error` (an exception is the submission's failure, not a wrong answer).
pub fn assert_null_submissions_fail(
    grader: &dyn Challenge,
    seed: u64,
    file_name: &str,
    functions: &[&str],
    correctness: &[&str],
    raising_is_error: &str,
) {
    for (kind, source) in null_sources(functions) {
        let sub = submission(grader.id().as_str(), &[(file_name, source.as_str())]);
        let report = grade(grader, &sub, seed);
        assert_none_pass(&report, correctness);
        if kind == "raises" {
            assert_eq!(
                status(&report, raising_is_error),
                "ERROR",
                "{}",
                describe(&report)
            );
        }
    }
}

/// Grades a submission of `files` that lacks a contract name and asserts `criterion` is an
/// ERROR whose evidence names `missing`. Returns the report for further checks.
pub fn assert_missing_entry_is_named(
    grader: &dyn Challenge,
    seed: u64,
    files: &[(&str, &str)],
    criterion: &str,
    missing: &str,
) -> Report {
    let sub = submission(grader.id().as_str(), files);
    let report = grade(grader, &sub, seed);
    assert_eq!(status(&report, criterion), "ERROR", "{}", describe(&report));
    assert!(
        evidence(&report, criterion).contains(missing),
        "'{criterion}' should name `{missing}`\n{}",
        describe(&report)
    );
    // No vacuous points: an answer that could not be called scores nothing, not even for
    // "imports no framework".
    if report
        .criteria
        .iter()
        .any(|r| r.criterion.id == judge_submission::NO_FRAMEWORKS)
    {
        assert_eq!(
            status(&report, judge_submission::NO_FRAMEWORKS),
            "ERROR",
            "{}",
            describe(&report)
        );
    }
    assert_eq!(report.score, 0.0, "{}", describe(&report));
    report
}

/// Grades the bare-prompt fixture `<manifest_dir>/tests/fixtures/<folder>`: an answer written
/// without the interface, with the `judge_adapter.py` that maps it onto the contract. Without
/// its adapter every auto criterion is an ERROR with a contract fault (the interface was not
/// followed, which is not a wrong answer) and it scores 0; with it every auto criterion
/// passes and the report names the adapter. The first auto criterion's evidence without the
/// adapter must contain each of `evidence_says` (what the interface expected, what was found).
pub fn assert_bare_prompt_answer_needs_its_adapter(
    grader: &dyn Challenge,
    manifest_dir: &str,
    folder: &str,
    seed: u64,
    evidence_says: &[&str],
) {
    let fixture = Path::new(manifest_dir).join("tests/fixtures").join(folder);
    let adapted = submission_from_dir(grader.id().as_str(), &fixture);
    assert!(
        adapted.dir.join(ADAPTER_FILE_NAME).is_file(),
        "{} has no {ADAPTER_FILE_NAME}",
        fixture.display()
    );
    let with_adapter = grade(grader, &adapted, seed);
    assert_all_auto_pass(&with_adapter);
    let adapter = with_adapter
        .submission
        .as_ref()
        .and_then(|s| s.adapter.as_ref())
        .unwrap_or_else(|| panic!("no adapter recorded\n{}", describe(&with_adapter)));
    assert_eq!(adapter.path, ADAPTER_FILE_NAME);

    let bare = submission_from_dir(grader.id().as_str(), &fixture);
    fs::remove_file(bare.dir.join(ADAPTER_FILE_NAME)).expect("remove the adapter");
    let without = grade(grader, &bare, seed);
    let not_contract: Vec<_> = without
        .criteria
        .iter()
        .filter(|r| r.criterion.kind == CriterionKind::Auto && !r.verdict.is_contract_fault())
        .map(|r| r.criterion.id.as_str())
        .collect();
    assert!(
        not_contract.is_empty(),
        "without its adapter, {not_contract:?} are not contract ERRORs\n{}",
        describe(&without)
    );
    assert_eq!(without.score, 0.0, "{}", describe(&without));
    assert!(
        without
            .submission
            .as_ref()
            .is_some_and(|s| s.adapter.is_none()),
        "{}",
        describe(&without)
    );
    let first = without
        .criteria
        .iter()
        .find(|r| r.criterion.kind == CriterionKind::Auto)
        .expect("an auto criterion");
    for expected in evidence_says {
        assert!(
            first.verdict.detail().contains(expected),
            "{}: evidence does not say {expected:?}\n{}",
            first.criterion.id,
            describe(&without)
        );
    }
}

/// A buggy bare-prompt answer: the `file` of the bare-prompt fixture `folder` with `edits`
/// applied ([`mutated_fixture`]), beside that fixture's own `judge_adapter.py`, so the bug is
/// graded through the adapter.
pub fn mutated_bare_prompt(
    challenge: &str,
    manifest_dir: &str,
    folder: &str,
    mutation: &Mutation,
    file: &str,
) -> Submission {
    let sub = mutated_fixture(
        challenge,
        manifest_dir,
        folder,
        mutation.name,
        file,
        mutation.edits,
    );
    let adapter = Path::new(manifest_dir)
        .join("tests/fixtures")
        .join(folder)
        .join(ADAPTER_FILE_NAME);
    fs::copy(&adapter, sub.dir.join(ADAPTER_FILE_NAME))
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.display()));
    sub
}

/// A worker with only a grader's fixture modules loaded and no submission, for checking the
/// fixtures themselves (e.g. a NumPy twin against its Rust original) through the bridge. Keep
/// the folder alive as long as the worker.
pub fn fixture_worker(fixtures: Vec<(String, String)>) -> (Worker, TempDir) {
    let env = PythonEnv::resolve(&|_| {}).expect("a Python with NumPy for the bridge");
    let empty = tempfile::tempdir().expect("temporary directory");
    let options = WorkerOptions {
        limits: Limits::default(),
        fixtures,
    };
    let worker = Worker::start(&env, empty.path(), options).expect("worker starts");
    (worker, empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A correct fixture folder `<root>/tests/fixtures/correct/f.py` holding `source`.
    fn correct_fixture(source: &str) -> TempDir {
        let root = tempfile::tempdir().expect("temp dir");
        let correct = root.path().join("tests/fixtures/correct");
        fs::create_dir_all(&correct).expect("mkdir");
        fs::write(correct.join("f.py"), source).expect("write");
        fs::write(correct.join("test_f.py"), "pass\n").expect("write");
        root
    }

    #[test]
    fn mutation_edits_only_the_named_file() {
        let root = correct_fixture("a = 1\nb = a + 1\n");
        let manifest = root.path().to_str().expect("utf-8 path");
        let edits = [("a + 1", "a - 1  # BUG: minus")];
        let sub = mutated_fixture("ch", manifest, "correct", "minus", "f.py", &edits);
        let written = fs::read_to_string(sub.dir.join("f.py")).expect("mutated file");
        assert_eq!(written, "a = 1\nb = a - 1  # BUG: minus\n");
        assert!(!sub.dir.join("test_f.py").exists());
    }

    const MINUS: [Mutation; 1] = [Mutation {
        name: "minus",
        edits: &[("a + 1", "a - 1  # BUG: minus")],
    }];

    #[test]
    fn fixture_set_mutates_listed_names_and_copies_the_rest() {
        let root = correct_fixture("a = 1\nb = a + 1\n");
        let set = FixtureSet {
            challenge: "ch",
            manifest_dir: root.path().to_str().expect("utf-8 path"),
            file: "f.py",
            mutations: &MINUS,
        };
        let minus = set.fixture("minus");
        let written = fs::read_to_string(minus.dir.join("f.py")).expect("mutated file");
        assert_eq!(written, "a = 1\nb = a - 1  # BUG: minus\n");
        let correct = set.fixture("correct");
        assert!(correct.dir.join("test_f.py").exists());
        assert!(correct.dir.ends_with("fixture-model/ch"));
    }

    #[test]
    #[should_panic(expected = "both a mutation and the folder")]
    fn fixture_set_refuses_a_name_that_is_also_a_folder() {
        let root = correct_fixture("a = 1\nb = a + 1\n");
        fs::create_dir_all(root.path().join("tests/fixtures/minus")).expect("mkdir");
        let set = FixtureSet {
            challenge: "ch",
            manifest_dir: root.path().to_str().expect("utf-8 path"),
            file: "f.py",
            mutations: &MINUS,
        };
        set.fixture("minus");
    }

    #[test]
    #[should_panic(expected = "occurs 2 times")]
    fn ambiguous_find_panics() {
        let root = correct_fixture("a = 1\nb = 1\n");
        let manifest = root.path().to_str().expect("utf-8 path");
        mutated_fixture(
            "ch",
            manifest,
            "correct",
            "x",
            "f.py",
            &[("= 1", "= 2  # BUG")],
        );
    }

    #[test]
    #[should_panic(expected = "says `BUG`")]
    fn unmarked_mutation_panics() {
        let root = correct_fixture("a = 1\n");
        let manifest = root.path().to_str().expect("utf-8 path");
        mutated_fixture("ch", manifest, "correct", "x", "f.py", &[("= 1", "= 2")]);
    }
}

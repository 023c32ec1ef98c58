//! The submission's own tests, run in the sandbox as the `self_test` criterion.

use std::path::{Path, PathBuf};
use std::time::Instant;

use judge_core::{Scorecard, Verdict};
use judge_runner::{Limits, PythonEnv, run_script};

use crate::contract::SelfTestRule;
use crate::criteria::SELF_TEST;
use crate::session::time_left;
use crate::verdicts::runner_error_verdict;

/// `test_*.py` or `*_test.py`.
fn is_test_file(path: &Path) -> bool {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    stem.is_some_and(|s| s.starts_with("test_") || s.ends_with("_test"))
}

/// The scripts that make up a submission's own tests: `test_*.py` / `*_test.py` files, or,
/// when there are none, every top-level `.py` file run as a program (prompts ask for tests in
/// the solution file itself, under `if __name__ == "__main__":`).
pub fn self_test_scripts(dir: &Path) -> Vec<PathBuf> {
    let mut python: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "py"))
                .collect()
        })
        .unwrap_or_default();
    // An adapter is glue the judge loads, not one of the submission's programs.
    python.retain(|p| {
        p.file_name()
            .is_none_or(|n| n != judge_core::ADAPTER_FILE_NAME)
    });
    python.sort();
    let tests: Vec<PathBuf> = python.iter().filter(|p| is_test_file(p)).cloned().collect();
    if tests.is_empty() { python } else { tests }
}

pub(crate) fn run_self_tests(
    env: &PythonEnv,
    dir: &Path,
    limits: &Limits,
    deadline: Instant,
    rule: SelfTestRule,
    card: &mut Scorecard,
) {
    if card.is_decided(SELF_TEST) {
        return;
    }
    let started = Instant::now();
    let mut scripts = self_test_scripts(dir);
    if rule == SelfTestRule::TestFilesOnly {
        scripts.retain(|p| is_test_file(p));
        if scripts.is_empty() {
            card.record(
                SELF_TEST,
                Verdict::skipped("no test_*.py files (this challenge's scripts are not run)"),
                0.0,
            );
            return;
        }
    }
    if scripts.is_empty() {
        card.record(SELF_TEST, Verdict::fail("no .py file to run"), 0.0);
        return;
    }
    let mut passed = Vec::new();
    for script in &scripts {
        let name = script
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let limits = match time_left(deadline) {
            Ok(left) => Limits {
                total_timeout: left,
                ..limits.clone()
            },
            Err(verdict) => {
                card.record(SELF_TEST, verdict.in_context(&name), 0.0);
                return;
            }
        };
        let verdict = match run_script(env, dir, script, &limits) {
            Ok(outcome) if outcome.success => {
                passed.push(name);
                continue;
            }
            Ok(outcome) => Verdict::fail(format!(
                "{name}: {}{}",
                outcome.status,
                last_line(&outcome.stderr.tail)
                    .or_else(|| last_line(&outcome.stdout.tail))
                    .map(|l| format!(": {l}"))
                    .unwrap_or_default()
            )),
            Err(error) => runner_error_verdict(&error).in_context(&name),
        };
        card.record(SELF_TEST, verdict, started.elapsed().as_secs_f64());
        return;
    }
    card.record(
        SELF_TEST,
        Verdict::pass(format!("exit 0: {}", passed.join(", "))),
        started.elapsed().as_secs_f64(),
    );
}

fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_tests_are_test_files_or_else_every_script() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("solution.py"), "").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "").unwrap();
        let names = |dir: &Path| -> Vec<String> {
            self_test_scripts(dir)
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(dir.path()), ["solution.py"]);
        std::fs::write(dir.path().join("test_solution.py"), "").unwrap();
        std::fs::write(dir.path().join("grad_test.py"), "").unwrap();
        assert_eq!(names(dir.path()), ["grad_test.py", "test_solution.py"]);
    }
}

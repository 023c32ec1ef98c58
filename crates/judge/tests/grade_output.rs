//! What `judge grade` prints: a line per submission as it finishes (when piped), a closing line
//! for the run, and a reused grade marked as cached in every output.

mod support;

use std::fs;

use support::{judge_command, text};

#[test]
fn results_come_one_line_each_and_a_reused_grade_says_it_is_cached() {
    let dir = tempfile::tempdir().unwrap();
    let cell = dir.path().join("m/backwards");
    fs::create_dir_all(&cell).unwrap();
    let correct = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../graders/backwards/tests/fixtures/correct/layer_norm.py");
    fs::copy(correct, cell.join("layer_norm.py")).unwrap();
    let grade = |extra: &[&str]| {
        let out = judge_command()
            .args(["grade", "m", "--seed", "4"])
            .args(extra)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };

    let first = grade(&[]);
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one line per submission, one for the run:\n{first}"
    );
    assert!(lines[0].starts_with("m/backwards: auto "), "{first}");
    assert!(
        lines[0].contains(" passed") && !lines[0].contains("cached"),
        "{first}"
    );
    assert!(
        lines[1].starts_with("judge grade: 1 submission(s) in ")
            && lines[1].ends_with("1 passed every auto criterion, 0 did not"),
        "{first}"
    );

    let second = grade(&[]);
    assert!(second.contains("(cached: graded "), "{second}");
    assert!(
        second.contains(", seed 4; --force to re-grade)"),
        "{second}"
    );
    assert!(
        second.contains("1 cached (--force to re-grade)"),
        "{second}"
    );

    let json: serde_json::Value = serde_json::from_str(&grade(&["--json"])).unwrap();
    assert_eq!(json[0]["cached"]["seed"], 4, "{json}");
    assert!(json[0]["cached"]["graded_unix"].as_u64().is_some());

    let forced = grade(&["--force"]);
    assert!(!forced.contains("cached"), "{forced}");
}

#[test]
fn an_unanswered_challenge_is_one_no_answer_line_and_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = judge_command()
        .args([
            "scaffold",
            "-n",
            "m",
            "--only",
            "kv,backwards,ternary_training",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let correct = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../graders/backwards/tests/fixtures/correct/layer_norm.py");
    fs::copy(correct, dir.path().join("m/backwards/layer_norm.py")).unwrap();
    let out = judge_command()
        .args(["grade", "m", "--seed", "3"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for id in ["kv", "ternary_training"] {
        assert!(stdout.contains(&format!("m/{id}: no answer")), "{stdout}");
        assert!(!dir.path().join("m").join(id).join("GRADE.json").exists());
    }
    assert!(stdout.contains("m/backwards: auto "), "{stdout}");
    assert!(stdout.contains("judge grade: 1 submission(s)"), "{stdout}");
}

#[test]
fn an_answer_that_cannot_be_called_scores_nothing_not_even_for_importing_no_framework() {
    let dir = tempfile::tempdir().unwrap();
    let cell = dir.path().join("m/kv");
    fs::create_dir_all(&cell).unwrap();
    // A module that loads but defines no `KVCache`: nothing of the contract can be called.
    fs::write(cell.join("kv_cache.py"), "import numpy as np\nCACHE = {}\n").unwrap();
    let out = judge_command()
        .args(["grade", "m", "--seed", "1", "--json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reports[0]["score"], 0.0, "{}", reports[0]);
    let frameworks = reports[0]["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "no_frameworks")
        .unwrap();
    assert_eq!(frameworks["verdict"]["status"], "error", "{frameworks}");
    assert!(
        frameworks["verdict"]["evidence"]
            .as_str()
            .unwrap()
            .contains("nothing to check")
    );
}

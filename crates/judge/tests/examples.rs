//! `judge examples DIR`: real example folders, gradable one challenge at a time and after a copy.

mod support;

use std::path::Path;
use std::process::Output;

fn judge(args: &[&str], cwd: &Path) -> Output {
    support::judge_command()
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the judge binary runs")
}

#[test]
fn examples_are_real_copies_of_the_fixtures_and_grade_one_challenge_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let out = judge(&["examples", "demo"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let correct = dir.path().join("demo/reference-solutions");
    let written = correct.join("backwards/layer_norm.py");
    assert!(!written.is_symlink() && written.is_file());
    assert_eq!(
        std::fs::read(&written).unwrap(),
        std::fs::read(repo.join("graders/backwards/tests/fixtures/correct/layer_norm.py")).unwrap()
    );
    assert!(
        dir.path()
            .join("demo/buggy-solutions/kv/kv_cache.py")
            .is_file()
    );

    // A second run refuses rather than overwrite.
    let again = judge(&["examples", "demo"], dir.path());
    assert_eq!(again.status.code(), Some(1), "{again:?}");

    // Copied elsewhere, one challenge folder grades on its own: correct passes, buggy fails.
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("mine");
    std::fs::create_dir_all(copy.join("backwards")).unwrap();
    std::fs::copy(&written, copy.join("backwards/layer_norm.py")).unwrap();
    let graded = judge(
        &["grade", "mine/backwards", "--out", "grades", "--seed", "3"],
        elsewhere.path(),
    );
    assert_eq!(graded.status.code(), Some(0), "{graded:?}");
    let buggy = judge(
        &[
            "grade",
            dir.path()
                .join("demo/buggy-solutions/backwards")
                .to_str()
                .unwrap(),
            "--out",
            elsewhere.path().join("buggy").to_str().unwrap(),
            "--seed",
            "3",
        ],
        dir.path(),
    );
    assert_eq!(buggy.status.code(), Some(1), "{buggy:?}");
}

#[test]
fn legacy_solutions_pass_through_their_adapters_and_are_marked_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = judge(&["examples", "demo"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let legacy = dir.path().join("demo/legacy-solutions/backwards");
    assert!(legacy.join("judge_adapter.py").is_file());
    let graded = judge(
        &[
            "grade",
            legacy.to_str().unwrap(),
            "--out",
            "grades",
            "--seed",
            "3",
            "--quiet",
        ],
        dir.path(),
    );
    assert_eq!(graded.status.code(), Some(0), "{graded:?}");
    let line = support::text(&graded.stdout);
    assert!(line.contains("via adapter judge_adapter.py"), "{line}");
    let report = judge(&["report", "grades"], dir.path());
    let md = support::text(&report.stdout);
    assert!(md.contains("(via adapter)"), "{md}");
}

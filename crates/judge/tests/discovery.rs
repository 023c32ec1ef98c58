//! A misspelt challenge folder is never silently ignored.

mod support;

use std::fs;

use support::{judge_command, text};

#[test]
fn a_misspelt_challenge_folder_gets_a_warning_with_the_nearest_id() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    fs::create_dir_all(model.join("flash_atention")).unwrap();
    fs::write(model.join("flash_atention/flash_attention.py"), "x = 1\n").unwrap();

    // Alone: an error that lists the valid ids, and the warning naming the likely one.
    let out = judge_command()
        .args(["grade", "m", "--out", "grades"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .contains("flash_atention' is not a challenge folder (did you mean flash_attention?)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: nothing to grade below 'm'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("backwards, fuse, kv, beam_search"),
        "{stderr}"
    );

    // Beside a real challenge: the real one is graded, the typo still warned about.
    fs::create_dir_all(model.join("backwards")).unwrap();
    let correct = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../graders/backwards/tests/fixtures/correct/layer_norm.py");
    fs::copy(correct, model.join("backwards/layer_norm.py")).unwrap();
    let out = judge_command()
        .args(["grade", "m", "--out", "grades", "--seed", "1"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("did you mean flash_attention?"), "{stderr}");
    assert!(dir.path().join("grades/m/backwards/GRADE.json").is_file());
}

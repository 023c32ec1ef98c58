//! `judge grade --adapter FILE` and `--entry FILE` end to end, on the backwards grader's
//! bare-prompt answer (other function names, a named-tuple cache) and its adapter.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use support::{judge_command, text};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../graders/backwards/tests/fixtures")
}

fn judge(args: &[&str]) -> Output {
    judge_command()
        .args(args)
        .output()
        .expect("the judge binary runs")
}

/// Every file below `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(snapshot(&path));
        } else {
            files.insert(path.clone(), fs::read(&path).unwrap());
        }
    }
    files
}

/// One report of `judge grade --json`.
fn graded(args: &[&str]) -> (serde_json::Value, Output) {
    let out = judge(args);
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
    (reports[0].clone(), out)
}

/// (status, fault) of every auto criterion: `("pass", "")`, `("error", "contract")`, ...
fn auto_faults(report: &serde_json::Value) -> Vec<(String, String)> {
    let faults: Vec<(String, String)> = report["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "auto")
        .map(|c| {
            (
                c["verdict"]["status"].as_str().unwrap_or("").to_string(),
                c["verdict"]["fault"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(!faults.is_empty(), "no auto criterion in {report:#}");
    faults
}

/// `ROOT/legacy/backwards` holding the bare-prompt LayerNorm answer without its adapter.
fn bare_backwards(root: &Path) -> PathBuf {
    let folder = root.join("legacy/backwards");
    fs::create_dir_all(&folder).unwrap();
    fs::copy(
        fixtures().join("bare_prompt/layernorm.py"),
        folder.join("layernorm.py"),
    )
    .unwrap();
    folder
}

#[test]
fn an_adapter_from_outside_grades_through_the_scratch_copy_and_is_in_the_fingerprint() {
    let root = tempfile::tempdir().unwrap();
    let folder = bare_backwards(root.path());
    let adapter = root.path().join("adapters/backwards_adapter.py");
    fs::create_dir_all(adapter.parent().unwrap()).unwrap();
    fs::copy(fixtures().join("bare_prompt/judge_adapter.py"), &adapter).unwrap();
    let out_dir = root.path().join("grades");
    let before = snapshot(&folder);
    let base = [
        "grade",
        folder.to_str().unwrap(),
        "--seed",
        "5",
        "--json",
        "--quiet",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let with_adapter: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--adapter", adapter.to_str().unwrap()])
        .collect();

    let (report, out) = graded(&with_adapter);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        auto_faults(&report)
            .iter()
            .all(|(status, _)| status == "pass"),
        "{report:#}"
    );
    let recorded = &report["submission"]["adapter"];
    assert_eq!(recorded["path"], adapter.to_str().unwrap());
    let sha = judge_core::fingerprint::sha256_hex(&fs::read(&adapter).unwrap());
    assert_eq!(recorded["sha256"], sha.as_str());
    assert_eq!(snapshot(&folder), before, "the original folder was changed");
    let adapted_hash = report["fingerprint"]["submission_sha256"].clone();

    // Without it the same folder is graded again: the interface was not followed.
    let (bare, out) = graded(&base);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        bare.get("cached").is_none(),
        "a grade via adapter was reused"
    );
    assert!(bare["submission"].get("adapter").is_none(), "{bare:#}");
    assert!(
        auto_faults(&bare)
            .iter()
            .all(|(status, fault)| status == "error" && fault == "contract"),
        "{bare:#}"
    );
    assert_ne!(bare["fingerprint"]["submission_sha256"], adapted_hash);

    // The same adapter again is up to date; a changed adapter is not.
    let (again, _) = graded(&with_adapter);
    assert!(again.get("cached").is_none(), "the bare grade was reused");
    let (cached, _) = graded(&with_adapter);
    assert!(cached.get("cached").is_some(), "{cached:#}");
    let mut source = fs::read_to_string(&adapter).unwrap();
    source.push_str("# edited\n");
    fs::write(&adapter, source).unwrap();
    let (edited, _) = graded(&with_adapter);
    assert!(
        edited.get("cached").is_none(),
        "a changed adapter was not re-graded"
    );
    assert_ne!(edited["fingerprint"]["submission_sha256"], adapted_hash);
    assert_eq!(snapshot(&folder), before, "the original folder was changed");
}

#[test]
fn the_result_line_marks_a_grade_via_adapter_and_one_that_ignored_the_interface() {
    let root = tempfile::tempdir().unwrap();
    let folder = bare_backwards(root.path());
    let out_dir = root.path().join("grades");
    let args = |extra: &[&str]| -> Output {
        let mut all = vec![
            "grade",
            folder.to_str().unwrap(),
            "--seed",
            "5",
            "--quiet",
            "--force",
            "--out",
            out_dir.to_str().unwrap(),
        ];
        all.extend_from_slice(extra);
        judge(&all)
    };
    let bare = text(&args(&[]).stdout);
    assert!(bare.contains("C! interface not followed"), "{bare}");
    let adapter = fixtures().join("bare_prompt/judge_adapter.py");
    let adapted = text(&args(&["--adapter", adapter.to_str().unwrap()]).stdout);
    assert!(adapted.contains("via adapter "), "{adapted}");
    assert!(!adapted.contains("C!"), "{adapted}");
}

#[test]
fn entry_picks_the_file_when_several_define_the_contract() {
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("m/backwards");
    fs::create_dir_all(&folder).unwrap();
    let correct = fs::read_to_string(fixtures().join("correct/layer_norm.py")).unwrap();
    let buggy = correct.replace(
        "    dx = inv_std * (g - mean_g - x_hat * mean_gx)",
        "    dx = inv_std * (g - mean_g)",
    );
    assert_ne!(buggy, correct);
    fs::write(folder.join("backwards.py"), &correct).unwrap();
    fs::write(folder.join("draft.py"), &buggy).unwrap();
    let run = |extra: &[&str]| {
        let mut all = vec![
            "grade",
            folder.to_str().unwrap(),
            "--seed",
            "5",
            "--json",
            "--quiet",
            "--force",
        ];
        all.extend_from_slice(extra);
        graded(&all).0
    };
    let chosen = run(&[]);
    assert_eq!(chosen["submission"]["entry"], "backwards.py");
    let picked = run(&["--entry", "draft.py"]);
    assert_eq!(picked["submission"]["entry"], "draft.py", "{picked:#}");
    assert!(
        auto_faults(&picked)
            .iter()
            .any(|(status, _)| status == "fail"),
        "{picked:#}"
    );
}

//! `judge report` end to end: the real binary over a temporary folder of GRADE.json files.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use judge_core::report::{Fingerprint, Totals, score};
use judge_core::{CandidateKind, ChallengeId, Criterion, CriterionResult, Report, Verdict};

fn judge(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_judge"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("the judge binary runs")
}

/// A report with `passed` of `total` equally weighted auto criteria passing.
fn report(model: &str, challenge: ChallengeId, passed: usize, total: usize) -> Report {
    let criteria: Vec<CriterionResult> = (0..total)
        .map(|i| CriterionResult {
            criterion: Criterion::auto(&format!("c{i}"), &format!("criterion {i}")),
            verdict: if i < passed {
                Verdict::pass("ok")
            } else {
                Verdict::fail(format!("wrong <b>{i}</b>"))
            },
            seconds: 0.0,
        })
        .collect();
    Report {
        schema: judge_core::SCHEMA_VERSION,
        judge_version: "0.1.0".into(),
        challenge,
        model: Some(model.into()),
        candidate: CandidateKind::Submission,
        submission: None,
        fingerprint: Fingerprint {
            prompt_sha256: "aa".repeat(32),
            grader_version: format!("{challenge}/1"),
            submission_sha256: "bb".repeat(32),
            seed: 1,
        },
        environment: BTreeMap::new(),
        notes: vec![],
        started_unix: 100,
        seconds: 0.1,
        totals: Totals::of(&criteria),
        score: score(&criteria),
        criteria,
    }
}

/// Two models: `good` passes everything on two challenges, `half` half of one; plus one
/// malformed file that must be listed, not fatal.
fn reports(root: &Path) {
    let put = |model: &str, id: ChallengeId, passed, total| {
        report(model, id, passed, total)
            .write_atomic(&root.join(model).join(id.as_str()).join("GRADE.json"))
            .unwrap();
    };
    put("good", ChallengeId::Backwards, 2, 2);
    put("good", ChallengeId::Kv, 4, 4);
    put("half", ChallengeId::Kv, 1, 2);
    fs::create_dir_all(root.join("half/fuse")).unwrap();
    fs::write(root.join("half/fuse/GRADE.json"), "{\"schema\": 1").unwrap();
}

#[test]
fn markdown_goes_to_stdout_by_default_and_problems_do_not_fail_it() {
    let dir = tempfile::tempdir().unwrap();
    reports(dir.path());
    let out = judge(&["report", "."], dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(
        md.contains("| challenge | difficulty | good | half |"),
        "{md}"
    );
    assert!(md.contains("| kv | MEDIUM | 100% A | 50% D |"), "{md}");
    // good: (1 + 1) / 8 = 25%; half: 0.5 / 8 = 6%.
    assert!(
        md.contains("| **total** | | **25% F** | **6% F** |"),
        "{md}"
    );
    assert!(md.contains("half/fuse/GRADE.json — malformed"), "{md}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("1 problem(s)"), "{stderr}");
}

#[test]
fn json_is_the_documented_matrix() {
    let dir = tempfile::tempdir().unwrap();
    reports(dir.path());
    let out = judge(&["report", ".", "--format", "json"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["models"], serde_json::json!(["good", "half"]));
    assert_eq!(v["totals"][0]["score"], 0.25);
    assert_eq!(v["totals"][1]["rank"], 2);
    assert_eq!(v["cells"].as_array().unwrap().len(), 3);
    assert_eq!(v["problems"][0]["kind"], "malformed");
}

#[test]
fn html_is_written_atomically_to_out_and_its_path_printed() {
    let dir = tempfile::tempdir().unwrap();
    reports(dir.path());
    let target = dir.path().join("site/matrix.html");
    let out = judge(
        &[
            "report",
            ".",
            "--format",
            "html",
            "--out",
            target.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        target.display().to_string()
    );
    let html = fs::read_to_string(&target).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("id=\"cell-half-kv\""));
    assert!(html.contains("wrong &lt;b&gt;1&lt;/b&gt;"));
    let leftovers: Vec<_> = fs::read_dir(target.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
}

#[test]
fn a_missing_or_empty_root_exits_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = judge(&["report", "nope"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("does not exist")
    );

    fs::create_dir_all(dir.path().join("empty/m/kv")).unwrap();
    let out = judge(&["report", "empty"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("no GRADE.json")
    );

    let out = judge(&["report", "empty", "--format", "pdf"], dir.path());
    assert_eq!(out.status.code(), Some(2), "clap rejects an unknown format");
}

//! `judge report` end to end: the real binary over a temporary folder of GRADE.json files.
//! Totals here use `--strict` (today's leaderboard arithmetic: missing = 0 over all challenges);
//! scoring over what ran is tested in judge-report's tests/matrix.rs.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};

use judge_core::ChallengeId;
use support::{judge_command, put, put_unsigned, report, text};

fn judge(args: &[&str], cwd: &Path) -> Output {
    judge_command()
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the judge binary runs")
}

/// Two models: `good` passes everything on two challenges, `bad` nothing on one; plus one
/// malformed file that must be listed, not fatal. Signed with the test key.
fn reports(root: &Path) {
    put(
        root,
        "good/backwards",
        &report("good", ChallengeId::Backwards, true),
    );
    put(root, "good/kv", &report("good", ChallengeId::Kv, true));
    put(root, "bad/kv", &report("bad", ChallengeId::Kv, false));
    fs::create_dir_all(root.join("bad/fuse")).unwrap();
    fs::write(root.join("bad/fuse/GRADE.json"), "{\"schema\": 1").unwrap();
}

#[test]
fn markdown_goes_to_stdout_by_default_and_problems_do_not_fail_it() {
    let dir = tempfile::tempdir().unwrap();
    reports(dir.path());
    let out = judge(&["report", ".", "--strict"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(
        md.contains("| challenge | difficulty | good | bad |"),
        "{md}"
    );
    assert!(md.contains("| kv | MEDIUM | 100% A | 0% F |"), "{md}");
    // good: (1 + 1) / 8 = 25%; bad: 0.
    assert!(
        md.contains("| **total** | | **25% F** | **0% F** |"),
        "{md}"
    );
    assert!(md.contains("bad/fuse/GRADE.json — malformed"), "{md}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("1 problem(s)"), "{stderr}");
}

#[test]
fn json_is_the_documented_matrix() {
    let dir = tempfile::tempdir().unwrap();
    reports(dir.path());
    let out = judge(&["report", ".", "--format", "json", "--strict"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["models"], serde_json::json!(["good", "bad"]));
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
    assert!(html.contains("id=\"cell-bad-kv\""));
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

/// `judge report` over ROOT as JSON.
fn matrix_json(root: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["report", ".", "--format", "json", "--strict"];
    args.extend(extra);
    let out = judge(&args, root);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn problem_kinds(v: &serde_json::Value) -> Vec<(String, String)> {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_string(),
                p["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn total<'a>(v: &'a serde_json::Value, model: &str) -> &'a serde_json::Value {
    v["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["model"] == model)
        .unwrap_or_else(|| panic!("no total for {model}: {v}"))
}

#[test]
fn a_mix_of_signed_forged_and_tampered_reports_ranks_only_the_signed_ones() {
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        "honest/kv",
        &report("honest", ChallengeId::Kv, false),
    );
    put(
        dir.path(),
        "honest/backwards",
        &report("honest", ChallengeId::Backwards, true),
    );
    // All PASS, fingerprint from public data, no signature.
    put_unsigned(
        dir.path(),
        "forger/kv",
        &report("forger", ChallengeId::Kv, true),
    );
    put_unsigned(
        dir.path(),
        "forger/backwards",
        &report("forger", ChallengeId::Backwards, true),
    );
    // Signed, then every FAIL edited into a PASS.
    put(
        dir.path(),
        "editor/kv",
        &report("editor", ChallengeId::Kv, false),
    );
    let path = dir.path().join("editor/kv/GRADE.json");
    let edited = fs::read_to_string(&path)
        .unwrap()
        .replace("\"status\": \"fail\"", "\"status\": \"pass\"");
    fs::write(&path, edited).unwrap();

    let v = matrix_json(dir.path(), &[]);
    assert_eq!(
        v["models"],
        serde_json::json!(["honest", "editor", "forger"])
    );
    assert_eq!(total(&v, "honest")["rank"], 1);
    assert_eq!(total(&v, "honest")["score"], 1.0 / 8.0);
    for model in ["forger", "editor"] {
        assert_eq!(total(&v, model)["score"], 0.0, "{model}");
        assert_eq!(total(&v, model)["graded"], 0, "{model}");
    }
    assert_eq!(
        problem_kinds(&v),
        [
            ("editor/kv/GRADE.json".into(), "unverified".into()),
            ("forger/backwards/GRADE.json".into(), "unverified".into()),
            ("forger/kv/GRADE.json".into(), "unverified".into()),
        ]
    );
    let md = text(&judge(&["report", ".", "--strict"], dir.path()).stdout);
    assert!(
        md.contains("| kv | MEDIUM | 0% F | unverified | unverified |"),
        "{md}"
    );
    assert!(md.contains("1. **honest**"), "{md}");

    // --accept-unsigned counts them and every format says so.
    let v = matrix_json(dir.path(), &["--accept-unsigned"]);
    assert_eq!(v["accept_unsigned"], true);
    assert_eq!(total(&v, "forger")["rank"], 1);
    assert_eq!(total(&v, "forger")["score"], 2.0 / 8.0);
    let md = text(
        &judge(
            &["report", ".", "--accept-unsigned", "--strict"],
            dir.path(),
        )
        .stdout,
    );
    assert!(
        md.contains("Unsigned reports are counted (--accept-unsigned)"),
        "{md}"
    );
    let html = text(
        &judge(
            &["report", ".", "--format", "html", "--accept-unsigned"],
            dir.path(),
        )
        .stdout,
    );
    assert!(html.contains("id=\"accept-unsigned\""), "{html}");
}

#[test]
fn reports_planted_in_submission_subfolders_change_no_cell() {
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        "victim/kv",
        &report("victim", ChallengeId::Kv, true),
    );
    put(
        dir.path(),
        "attacker/kv",
        &report("attacker", ChallengeId::Kv, false),
    );
    // Planted by the attacker's submission: a 0% for the victim, a cell it never submitted.
    let zero = report("victim", ChallengeId::Kv, false);
    for planted in ["attacker/kv/victim/kv", "attacker/kv/sub/dir/victim/kv"] {
        put_unsigned(dir.path(), planted, &zero);
    }
    put_unsigned(
        dir.path(),
        "attacker/kv/backwards",
        &report("kv", ChallengeId::Backwards, true),
    );
    put_unsigned(
        dir.path(),
        "attacker/kv/attacker/backwards",
        &report("attacker", ChallengeId::Backwards, true),
    );
    for accept in [&[][..], &["--accept-unsigned"][..]] {
        let v = matrix_json(dir.path(), accept);
        assert_eq!(
            v["models"],
            serde_json::json!(["victim", "attacker"]),
            "{accept:?}"
        );
        assert_eq!(total(&v, "victim")["score"], 1.0 / 8.0);
        assert_eq!(total(&v, "attacker")["graded"], 1);
        assert_eq!(v["cells"].as_array().unwrap().len(), 2);
        let misplaced = problem_kinds(&v)
            .into_iter()
            .filter(|(_, kind)| kind == "misplaced")
            .count();
        assert_eq!(misplaced, 4, "{accept:?}");
    }
}

#[test]
fn an_inflated_weight_does_not_lift_a_score() {
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        "honest/kv",
        &report("honest", ChallengeId::Kv, false),
    );
    let mut inflated = report("inflated", ChallengeId::Kv, false);
    inflated.criteria[0].criterion.weight = u32::MAX;
    inflated.criteria[0].verdict = judge_core::Verdict::pass("trust me");
    put_unsigned(dir.path(), "inflated/kv", &inflated);
    let v = matrix_json(dir.path(), &["--accept-unsigned"]);
    assert_eq!(
        v["models"],
        serde_json::json!(["honest"]),
        "left out entirely"
    );
    let problem = &v["problems"][0];
    assert_eq!(problem["kind"], "criteria_mismatch", "{problem}");
    assert!(
        problem["reason"]
            .as_str()
            .unwrap()
            .contains("weight 4294967295")
    );
}

#[test]
fn a_fake_grader_version_marks_no_honest_report_stale() {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "a/kv", &report("a", ChallengeId::Kv, true));
    put(dir.path(), "b/kv", &report("b", ChallengeId::Kv, false));
    let mut fake = report("forger", ChallengeId::Kv, true);
    fake.fingerprint.grader_version = "kv/999".into();
    fake.started_unix = u64::MAX;
    put_unsigned(dir.path(), "forger/kv", &fake);
    for accept in [&[][..], &["--accept-unsigned"][..]] {
        let v = matrix_json(dir.path(), accept);
        for cell in v["cells"].as_array().unwrap() {
            assert_eq!(cell["stale"], false, "{cell}");
        }
        assert_eq!(
            problem_kinds(&v),
            [("forger/kv/GRADE.json".into(), "unverified".into())],
            "{accept:?}"
        );
        assert_eq!(total(&v, "forger")["graded"], 0);
    }
}

#[test]
fn a_symlinked_challenge_folder_pointing_at_another_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        "victim/kv",
        &report("victim", ChallengeId::Kv, true),
    );
    fs::create_dir_all(dir.path().join("plagiarist")).unwrap();
    symlink(
        dir.path().join("victim/kv"),
        dir.path().join("plagiarist/kv"),
    )
    .unwrap();
    let v = matrix_json(dir.path(), &[]);
    assert_eq!(v["models"], serde_json::json!(["victim"]));
    assert_eq!(
        problem_kinds(&v),
        [("plagiarist/kv".into(), "symbolic_link".into())]
    );
}

#[test]
fn fifo_dev_zero_and_sparse_reports_are_listed_and_the_report_finishes() {
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        "honest/kv",
        &report("honest", ChallengeId::Kv, true),
    );
    for model in ["fifo", "zero", "sparse"] {
        fs::create_dir_all(dir.path().join(model).join("kv")).unwrap();
    }
    let fifo = dir.path().join("fifo/kv/GRADE.json");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    symlink("/dev/zero", dir.path().join("zero/kv/GRADE.json")).unwrap();
    fs::File::create(dir.path().join("sparse/kv/GRADE.json"))
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    // A hang would block here forever; the test runner's own timeout is the guard.
    let v = matrix_json(dir.path(), &[]);
    assert_eq!(v["models"], serde_json::json!(["honest"]));
    assert_eq!(
        problem_kinds(&v),
        [
            ("fifo/kv/GRADE.json".into(), "unreadable".into()),
            ("sparse/kv/GRADE.json".into(), "unreadable".into()),
            ("zero/kv/GRADE.json".into(), "symbolic_link".into()),
        ]
    );
}

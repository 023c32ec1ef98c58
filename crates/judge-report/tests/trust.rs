//! Hostile GRADE.json files: forged, tampered, planted inside a submission, with inflated
//! weights or a fake grader version, behind symbolic links, FIFOs, devices and sparse files.
//! Each case asserts what the matrix counts and which problem explains the rest.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use judge_core::ChallengeId::*;
use judge_core::{Criterion, Verdict};
use judge_report::{Format, Grade, Matrix, ProblemKind, RegisteredGrader};
use support::{auto, matrix, matrix_with, put, put_unsigned, report, tally};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn kinds_of(m: &Matrix) -> Vec<(String, ProblemKind)> {
    m.problems
        .iter()
        .map(|p| (p.path.clone(), p.kind))
        .collect()
}

/// An all-PASS report of `model` for kv with the fixtures' criteria (`ok_0`, `ok_1`).
fn all_pass(model: &str) -> judge_core::Report {
    report(Some(model), Kv, tally(2, 0))
}

/// A kv report with the registered criteria, `ok_0` passing and `ok_1` failing.
fn half_pass(model: &str) -> judge_core::Report {
    let criteria = vec![
        auto("ok_0", 1, Verdict::pass("ok")),
        auto("ok_1", 1, Verdict::fail("max rel err 3e-2 > 1e-4")),
    ];
    report(Some(model), Kv, criteria)
}

/// The grader the fixtures' kv reports claim: two auto criteria of weight 1.
fn kv_grader() -> RegisteredGrader {
    RegisteredGrader {
        challenge: Kv,
        version: "kv/1".into(),
        prompt_sha256: "cd".repeat(32),
        criteria: vec![
            Criterion::auto("ok_0", "ok_0 title"),
            Criterion::auto("ok_1", "ok_1 title"),
        ],
    }
}

#[test]
fn only_signed_reports_are_ranked_and_accept_unsigned_says_so() {
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        "honest/kv",
        &report(Some("honest"), Kv, tally(1, 1)),
    );
    // A forgery: every criterion PASS, no signature.
    put_unsigned(dir.path(), "forger/kv", &all_pass("forger"));
    // A signed report edited afterwards: its FAIL turned into a PASS.
    put(
        dir.path(),
        "editor/kv",
        &report(Some("editor"), Kv, tally(1, 1)),
    );
    let path = dir.path().join("editor/kv/GRADE.json");
    let edited = fs::read_to_string(&path)
        .unwrap()
        .replace("\"status\": \"fail\"", "\"status\": \"pass\"");
    fs::write(&path, edited).unwrap();

    let m = matrix(dir.path());
    assert_eq!(m.total("honest").unwrap().rank, Some(1), "{:?}", m.problems);
    for model in ["forger", "editor"] {
        let total = m.total(model).unwrap();
        assert_eq!(
            (total.score, total.graded, total.unverified),
            (0.0, 0, 1),
            "{model}"
        );
        let cell = m.cell(model, Kv).unwrap();
        assert!(!cell.verified && !cell.counted, "{model}");
    }
    assert_eq!(
        kinds_of(&m),
        [
            ("editor/kv/GRADE.json".into(), ProblemKind::Unverified),
            ("forger/kv/GRADE.json".into(), ProblemKind::Unverified),
        ]
    );
    assert!(
        m.problems[0].reason.contains("does not match"),
        "{}",
        m.problems[0].reason
    );
    assert!(
        m.problems[1].reason.contains("no signature"),
        "{}",
        m.problems[1].reason
    );
    let md = Format::Markdown.render(&m);
    assert!(
        md.contains("| kv | MEDIUM | 50% D | unverified | unverified |"),
        "{md}"
    );
    assert!(!md.contains("--accept-unsigned)"), "{md}");
    let html = Format::Html.render(&m);
    assert!(html.contains("class=\"cell unverified\" id=\"cell-forger-kv\""));
    assert!(!html.contains("id=\"accept-unsigned\""));

    let accepted = matrix_with(dir.path(), &[], true);
    assert!(accepted.accept_unsigned);
    assert_eq!(accepted.total("forger").unwrap().rank, Some(1));
    assert!(close(accepted.total("forger").unwrap().score, 1.0 / 8.0));
    assert!(accepted.cell("editor", Kv).unwrap().counted);
    let md = Format::Markdown.render(&accepted);
    assert!(
        md.contains("Unsigned reports are counted (--accept-unsigned)"),
        "{md}"
    );
    assert!(md.contains("100% A ‡"), "{md}");
    assert!(
        Format::Html
            .render(&accepted)
            .contains("id=\"accept-unsigned\"")
    );
    let json: serde_json::Value = serde_json::from_str(&Format::Json.render(&accepted)).unwrap();
    assert_eq!(json["accept_unsigned"], true);
    assert_eq!(json["totals"][0]["unverified"], 1);
}

#[test]
fn a_forgery_never_displaces_the_signed_report_of_its_cell() {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "out/m/kv", &report(Some("m"), Kv, tally(2, 0)));
    let mut forged = report(Some("m"), Kv, tally(0, 2));
    forged.started_unix = u64::MAX;
    put_unsigned(dir.path(), "m/kv", &forged);
    for accept in [false, true] {
        let m = matrix_with(dir.path(), &[], accept);
        let cell = m.cell("m", Kv).unwrap();
        assert!(cell.verified && close(cell.score, 1.0), "accept {accept}");
        let duplicate = m
            .problems
            .iter()
            .find(|p| p.kind == ProblemKind::Duplicate)
            .unwrap();
        assert_eq!(duplicate.path, "m/kv/GRADE.json");
        let why = if accept {
            "the signed one is used"
        } else {
            "the counted one is used"
        };
        assert!(duplicate.reason.contains(why), "{}", duplicate.reason);
    }
}

#[test]
fn reports_planted_below_a_submission_never_reach_a_cell() {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "victim/kv", &all_pass("victim"));
    put(
        dir.path(),
        "attacker/kv",
        &report(Some("attacker"), Kv, tally(0, 2)),
    );
    // Even signed (say, copied from an earlier run), a report is only believed where it belongs.
    put(
        dir.path(),
        "attacker/kv/victim/kv",
        &report(Some("victim"), Kv, tally(0, 2)),
    );
    put(
        dir.path(),
        "attacker/kv/fuse",
        &report(Some("kv"), Fuse, tally(2, 0)),
    );
    put(
        dir.path(),
        "attacker/kv/deep/er/attacker/kv",
        &all_pass("attacker"),
    );
    put_unsigned(dir.path(), "attacker/kv/attacker/kv", &all_pass("attacker"));
    // Signed, but its folders say another model or challenge than the report.
    put(dir.path(), "attacker/fuse", &all_pass("attacker"));
    put(
        dir.path(),
        "attacker/backwards",
        &report(Some("victim"), Backwards, tally(2, 0)),
    );

    let m = matrix(dir.path());
    assert_eq!(m.models, ["victim", "attacker"]);
    assert_eq!(m.cell("victim", Kv).unwrap().grade, Grade::A);
    assert!(close(m.total("attacker").unwrap().score, 0.0));
    assert_eq!(
        m.cells.len(),
        2,
        "no cell for a model 'kv' or an extra attacker cell"
    );
    let misplaced: Vec<_> = m
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::Misplaced)
        .map(|p| p.path.as_str())
        .collect();
    assert_eq!(
        misplaced,
        [
            "attacker/backwards/GRADE.json",
            "attacker/fuse/GRADE.json",
            "attacker/kv/attacker/kv/GRADE.json",
            "attacker/kv/deep/er/attacker/kv/GRADE.json",
            "attacker/kv/fuse/GRADE.json",
            "attacker/kv/victim/kv/GRADE.json",
        ]
    );
    let reason = |path: &str| &m.problems.iter().find(|p| p.path == path).unwrap().reason;
    assert!(reason("attacker/fuse/GRADE.json").contains("grades kv"));
    assert!(reason("attacker/backwards/GRADE.json").contains("grades 'victim'"));
}

#[test]
fn criteria_and_weights_come_from_the_registered_grader() {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "honest/kv", &half_pass("honest"));
    // One PASS of weight 4294967295 and the honest FAIL: 99.99…% if the weight were believed.
    let inflated = vec![
        auto("ok_0", u32::MAX, Verdict::pass("forged")),
        auto("ok_1", 1, Verdict::fail("max rel err 3e-2 > 1e-4")),
    ];
    put(
        dir.path(),
        "signed/kv",
        &report(Some("signed"), Kv, inflated.clone()),
    );
    put_unsigned(
        dir.path(),
        "unsigned/kv",
        &report(Some("unsigned"), Kv, inflated),
    );
    let renamed = vec![
        auto("ok_0", 1, Verdict::pass("ok")),
        auto("bonus", 1, Verdict::pass("ok")),
    ];
    put(
        dir.path(),
        "renamed/kv",
        &report(Some("renamed"), Kv, renamed),
    );

    let before = matrix(dir.path());
    assert!(
        before.cell("signed", Kv).unwrap().score > 0.99,
        "the report's own weights"
    );

    for accept in [false, true] {
        let m = matrix_with(dir.path(), &[kv_grader()], accept);
        assert!(close(m.total("honest").unwrap().score, 0.5 / 8.0));
        for model in ["signed", "unsigned", "renamed"] {
            assert!(
                m.cell(model, Kv).is_none(),
                "{model} left out (accept {accept})"
            );
            let problem = m
                .problems
                .iter()
                .find(|p| p.path == format!("{model}/kv/GRADE.json"))
                .unwrap();
            assert_eq!(problem.kind, ProblemKind::CriteriaMismatch, "{model}");
        }
        let reason = |model: &str| {
            let path = format!("{model}/kv/GRADE.json");
            m.problems
                .iter()
                .find(|p| p.path == path)
                .unwrap()
                .reason
                .clone()
        };
        assert!(
            reason("signed").contains("weight 4294967295"),
            "{}",
            reason("signed")
        );
        assert!(reason("renamed").contains("bonus"), "{}", reason("renamed"));
    }
}

#[test]
fn a_fake_grader_version_marks_nothing_stale() {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "a/kv", &report(Some("a"), Kv, tally(2, 0)));
    put(dir.path(), "b/kv", &half_pass("b"));
    let mut fake = all_pass("forger");
    fake.fingerprint.grader_version = "kv/999".into();
    fake.started_unix = u64::MAX;
    put_unsigned(dir.path(), "forger/kv", &fake);

    // With the judge's graders, and even without them (the forgery is not counted, so it
    // cannot set the current version).
    for graders in [vec![kv_grader()], vec![]] {
        let m = matrix_with(dir.path(), &graders, false);
        for model in ["a", "b"] {
            assert!(
                !m.cell(model, Kv).unwrap().stale,
                "{model} with {} graders",
                graders.len()
            );
        }
        assert!(
            !m.problems
                .iter()
                .any(|p| p.kind == ProblemKind::Stale && p.path != "forger/kv/GRADE.json")
        );
    }
    // Accepting unsigned reports does not let an unknown version in: its criteria cannot be
    // checked.
    let m = matrix_with(dir.path(), &[kv_grader()], true);
    assert!(!m.cell("forger", Kv).unwrap().counted);
    let problem = m
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::Unverified)
        .unwrap();
    assert!(
        problem.reason.contains("cannot be checked"),
        "{}",
        problem.reason
    );
    // A signed report of another version than the registered grader's is stale.
    let mut older = report(Some("c"), Kv, tally(2, 0));
    older.fingerprint.grader_version = "kv/0".into();
    put(dir.path(), "c/kv", &older);
    let m = matrix_with(dir.path(), &[kv_grader()], false);
    assert!(m.cell("c", Kv).unwrap().stale);
    assert!(!m.cell("a", Kv).unwrap().stale);
}

#[test]
fn a_symlinked_challenge_or_model_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "victim/kv", &all_pass("victim"));
    fs::create_dir_all(dir.path().join("plagiarist")).unwrap();
    symlink(
        dir.path().join("victim/kv"),
        dir.path().join("plagiarist/kv"),
    )
    .unwrap();
    symlink(dir.path().join("victim"), dir.path().join("mirror")).unwrap();
    put(
        dir.path(),
        "plagiarist/fuse",
        &report(Some("plagiarist"), Fuse, tally(1, 0)),
    );
    let m = matrix(dir.path());
    assert!(m.cell("plagiarist", Kv).is_none());
    assert_eq!(m.cells.len(), 2);
    assert_eq!(
        kinds_of(&m),
        [
            ("mirror".into(), ProblemKind::SymbolicLink),
            ("plagiarist/kv".into(), ProblemKind::SymbolicLink),
        ]
    );
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
}

#[test]
fn fifo_device_and_sparse_reports_are_problems_read_no_further() {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "honest/kv", &all_pass("honest"));
    for model in ["fifo", "zero", "sparse"] {
        fs::create_dir_all(dir.path().join(model).join("kv")).unwrap();
    }
    mkfifo(&dir.path().join("fifo/kv/GRADE.json"));
    symlink("/dev/zero", dir.path().join("zero/kv/GRADE.json")).unwrap();
    fs::File::create(dir.path().join("sparse/kv/GRADE.json"))
        .unwrap()
        .set_len(4 << 30)
        .unwrap();

    let m = matrix(dir.path());
    assert_eq!(m.models, ["honest"]);
    assert_eq!(
        kinds_of(&m),
        [
            ("fifo/kv/GRADE.json".into(), ProblemKind::Unreadable),
            ("sparse/kv/GRADE.json".into(), ProblemKind::Unreadable),
            ("zero/kv/GRADE.json".into(), ProblemKind::SymbolicLink),
        ]
    );
    assert!(
        m.problems[1].reason.contains("over the limit"),
        "{}",
        m.problems[1].reason
    );
}

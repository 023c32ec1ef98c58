//! `judge reference`: the references pass their own graders, and the summary says so.

mod support;

use judge_core::ReportFile;
use support::judge_command;

fn judge(args: &[&str]) -> std::process::Output {
    judge_command()
        .args(args)
        .output()
        .expect("the judge binary runs")
}

#[test]
fn the_flash_attention_reference_passes_every_auto_criterion() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    let out = judge(&[
        "reference",
        "flash_attention",
        "--seed",
        "3",
        "--json",
        "--out",
        out_dir,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let report = &reports[0];
    assert_eq!(report["candidate"], "reference");
    assert_eq!(report["totals"]["auto"]["fail"], 0);
    assert_eq!(report["totals"]["auto"]["error"], 0);
    assert!(report["totals"]["auto"]["pass"].as_u64().unwrap() >= 9);

    // Signed like every report, written where `judge report` shows the reference column.
    let written = dir.path().join("reference/flash_attention/GRADE.json");
    let written = judge_core::Report::read(&written).unwrap();
    assert_eq!(support::key().verify(&written), Ok(()));
    let out = judge(&["report", out_dir, "--format", "json"]);
    let matrix: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(matrix["models"], serde_json::json!(["reference"]));
    assert_eq!(matrix["cells"][0]["verified"], true);
    assert_eq!(matrix["problems"], serde_json::json!([]), "{matrix}");
}

#[test]
fn all_prints_one_summary_row_per_challenge() {
    let out = judge(&["reference", "--all", "--quiet"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    for id in judge_core::ChallengeId::ALL {
        assert!(
            stdout.lines().any(|l| l.starts_with(id.as_str())),
            "no row for {id} in\n{stdout}"
        );
    }
    assert!(stdout.contains("0 auto criteria not passed"), "{stdout}");
}

#[test]
fn an_unknown_challenge_is_a_usage_error() {
    let out = judge(&["reference", "flash"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("flash"));
}

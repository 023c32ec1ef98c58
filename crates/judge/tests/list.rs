//! `judge list`: every challenge in the seed's order, each with its grader's criteria counts.

use std::process::Command;

#[test]
fn lists_all_eight_challenges_with_their_criteria() {
    let out = Command::new(env!("CARGO_BIN_EXE_judge"))
        .args(["list", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, judge_core::ChallengeId::ALL.map(|c| c.as_str()));
    for row in rows.as_array().unwrap() {
        let auto = row["criteria"]["auto"].as_u64();
        assert!(auto.is_some_and(|n| n >= 5), "{row}");
    }
}

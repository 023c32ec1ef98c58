//! `judge list`: every challenge in the seed's order, each with its grader's criteria counts.

use std::process::Command;

#[test]
fn lists_every_challenge_with_its_criteria() {
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

#[test]
fn zero_or_absurd_limits_are_refused_at_parse_time_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cell = dir.path().join("m/kv");
    std::fs::create_dir_all(&cell).unwrap();
    std::fs::write(cell.join("kv_cache.py"), "x = 1\n").unwrap();
    for args in [
        &["grade", "m", "--timeout", "0"][..],
        &["grade", "m", "--memory-gib", "0"],
        &["grade", "m", "--jobs", "0"],
        &["grade", "m", "--timeout", "-5"],
        &["reference", "kv", "--timeout", "0"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_judge"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(!cell.join("GRADE.json").exists(), "{args:?} wrote a report");
    }
}

#[test]
fn completions_and_the_man_page_are_generated_from_the_command_line() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_judge"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let bash = run(&["completions", "bash"]);
    assert!(
        bash.contains("_judge()") && bash.contains("scaffold"),
        "{bash}"
    );
    assert!(run(&["completions", "zsh"]).contains("#compdef judge"));
    let man = run(&["man"]);
    assert!(man.starts_with(".ie") || man.contains(".TH judge"), "{man}");
    assert!(man.contains("grade"), "{man}");
}

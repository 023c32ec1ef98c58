//! One submission never ends the run for others: each is graded in its own judge process, so
//! a crash or a hang there is that cell's ERROR and the submissions after it are graded.
//! The crash is provoked with the debug-build trigger `JUDGE_TEST_CELL_TRIGGER` (a file the
//! submission holds), since no submission input is meant to crash the judge any more.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TRIGGER: &str = "CELL_TRIGGER";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../graders/flash_attention/tests/fixtures")
        .join(name)
}

/// root/<model>/flash_attention/ holding the correct fixture, and the trigger file with
/// `trigger` as its content when given.
fn model(root: &Path, name: &str, trigger: Option<&str>) {
    let dir = root.join(name).join("flash_attention");
    fs::create_dir_all(&dir).unwrap();
    for entry in fs::read_dir(fixture("correct")).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    if let Some(trigger) = trigger {
        fs::write(dir.join(TRIGGER), trigger).unwrap();
    }
}

fn grade(root: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_judge"))
        .args(["grade", root.to_str().unwrap(), "--json", "--quiet"])
        .args(extra)
        .env("JUDGE_TEST_CELL_TRIGGER", TRIGGER)
        .env("NO_COLOR", "1")
        .output()
        .expect("the judge binary runs")
}

fn report(root: &Path, model: &str) -> serde_json::Value {
    let path = root.join(model).join("flash_attention/GRADE.json");
    serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap()
}

fn verdicts(report: &serde_json::Value) -> Vec<&serde_json::Value> {
    report["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["verdict"])
        .collect()
}

#[test]
fn a_judge_abort_is_that_cells_error_and_the_next_submission_is_graded() {
    let root = tempfile::tempdir().unwrap();
    model(root.path(), "a_aborts", Some("abort"));
    model(root.path(), "b_honest", None);
    let out = grade(root.path(), &["--jobs", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The crash is a harness fault (ERR, re-graded next time), so the run exits 2.
    assert_eq!(out.status.code(), Some(2), "{stderr}");

    let crashed = report(root.path(), "a_aborts");
    for verdict in verdicts(&crashed) {
        assert_eq!(verdict["status"], "error", "{verdict}");
        assert_eq!(verdict["fault"], "harness", "{verdict}");
        let evidence = verdict["evidence"].as_str().unwrap();
        assert!(evidence.contains("SIGABRT"), "{evidence}");
        assert!(
            evidence.contains("memory allocation of 1099511627776 bytes failed"),
            "{evidence}"
        );
    }
    let honest = report(root.path(), "b_honest");
    assert_eq!(honest["score"], 1.0, "{honest}");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed.as_array().unwrap().len(), 2);
}

#[test]
fn a_cell_past_its_timeout_is_killed_and_the_next_submission_is_graded() {
    let root = tempfile::tempdir().unwrap();
    model(root.path(), "a_hangs", Some("hang"));
    model(root.path(), "b_honest", None);
    let out = grade(root.path(), &["--jobs", "2", "--timeout", "20"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");

    let hung = report(root.path(), "a_hangs");
    for verdict in verdicts(&hung) {
        assert_eq!(verdict["status"], "error", "{verdict}");
        assert_eq!(verdict["fault"], "submission", "{verdict}");
        assert!(
            verdict["evidence"]
                .as_str()
                .unwrap()
                .contains("did not finish within --timeout 20 s"),
            "{verdict}"
        );
    }
    // Graded in full beside the hung cell (a tight machine may fail a timing criterion, so
    // the score itself is not the point here).
    let honest = report(root.path(), "b_honest");
    assert!(
        honest["totals"]["auto"]["pass"].as_u64().unwrap() > 0,
        "{honest}"
    );
    assert!(!honest.to_string().contains("did not finish"), "{honest}");
}

/// Pids of the live processes whose command line contains `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = fs::read(entry.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .replace('\0', " ")
                .contains(needle)
                .then_some(pid)
        })
        .collect()
}

/// Whether `ancestor` is among the first ancestors of `pid`.
fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..8 {
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // Fields after the parenthesised command: state, then the parent pid.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
        match parent {
            Some(parent) if parent == ancestor => return true,
            Some(parent) if parent > 1 => pid = parent,
            _ => return false,
        }
    }
    false
}

#[test]
fn the_seed_is_on_no_command_line_the_judge_starts() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("slow/flash_attention");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("flash_attention.py"),
        "import time\n\ndef flash_attention_fwd(Q, K, V, tile_size, causal=True):\n    time.sleep(60)\n",
    )
    .unwrap();
    let seed = "987654321987";
    let mut judge = Command::new(env!("CARGO_BIN_EXE_judge"))
        .args([
            "grade",
            root.path().to_str().unwrap(),
            "--quiet",
            "--timeout",
            "3",
        ])
        .args(["--seed", seed])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the submission's worker runs: the cell and its sandbox are all started.
    let started = std::time::Instant::now();
    while !processes_mentioning("worker.py")
        .into_iter()
        .any(|pid| descends_from(pid, judge.id()))
    {
        assert!(started.elapsed().as_secs() < 60, "the worker never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mentioning = processes_mentioning(seed);
    // The sleeping call runs out of --timeout and the judge ends by itself, cleaning up.
    judge.wait().unwrap();
    assert_eq!(
        mentioning,
        vec![judge.id()],
        "only the command line the user typed"
    );
}

//! Ctrl-C during `judge grade`: what finished is kept and printed, the running submission and
//! its sandbox are ended, no report is written for it, and the judge exits 130.

mod support;

use std::fs;
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{judge_command, text};

#[test]
fn sigint_stops_the_run_keeps_what_finished_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let done = dir.path().join("a/backwards");
    fs::create_dir_all(&done).unwrap();
    let correct = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../graders/backwards/tests/fixtures/correct/layer_norm.py");
    fs::copy(correct, done.join("layer_norm.py")).unwrap();
    // Loading this one never ends: the run is interrupted while it is being graded.
    let hangs = dir.path().join("b/backwards");
    fs::create_dir_all(&hangs).unwrap();
    fs::write(
        hangs.join("layer_norm.py"),
        "import time\nwhile True:\n    time.sleep(0.1)\n",
    )
    .unwrap();

    let before = judge_scratch();
    let mut judge = judge_command()
        .args(["grade", ".", "--seed", "2", "--timeout", "120"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first submission is graded, then interrupt.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done.join("GRADE.json").is_file() {
        assert!(
            Instant::now() < deadline,
            "the first submission was never graded"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let sent = Instant::now();
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&judge),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let status = judge.wait().unwrap();
    let took = sent.elapsed();
    let mut stdout = String::new();
    judge
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = Vec::new();
    judge
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let stderr = text(&stderr);

    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(took < Duration::from_secs(15), "took {took:?} to stop");
    assert!(
        stdout.contains("a/backwards: auto "),
        "what finished is printed: {stdout}"
    );
    assert!(
        stderr.contains("interrupted: 1 of 2 submission(s) finished")
            && stderr.contains("not graded: b/backwards"),
        "{stderr}"
    );
    assert!(
        !hangs.join("GRADE.json").exists(),
        "no report for a half-graded submission"
    );
    // No scratch folder of a process of this run is left behind (the judge's, its cells').
    let leftovers: Vec<_> = judge_scratch()
        .into_iter()
        .filter(|name| !before.contains(name))
        .filter(|name| !pid_alive(name))
        .collect();
    assert!(leftovers.is_empty(), "scratch left behind: {leftovers:?}");
}

/// The judge's scratch folders in the temporary folder: `judge-<pid>-…`.
fn judge_scratch() -> Vec<String> {
    fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("judge-"))
        .collect()
}

/// Whether the process whose pid the folder name carries still runs.
fn pid_alive(name: &str) -> bool {
    name.split('-')
        .nth(1)
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
}

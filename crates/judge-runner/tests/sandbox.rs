//! The sandbox on its own, with plain shell commands, and `run_script` for self-tests.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use judge_runner::{Limits, RunnerError, Sandbox, probe_sandbox, run_script};

use common::{python, submission};

fn limits(total_secs: u64) -> Limits {
    Limits {
        total_timeout: Duration::from_secs(total_secs),
        ..Limits::default()
    }
}

fn shell(script: &str, limits: Limits) -> judge_runner::ProcessOutcome {
    let sandbox = Sandbox::new(None).expect("a sandbox");
    sandbox
        .command("/bin/sh")
        .args(["-c", script])
        .limits(limits)
        .run()
        .expect("the shell runs")
}

#[test]
fn exit_codes_and_output_come_back() {
    let outcome = shell("echo out; echo err >&2; exit 3", limits(10));
    assert_eq!(outcome.exit_code, Some(3));
    assert_eq!(outcome.status, "exit code 3");
    assert!(!outcome.success && !outcome.timed_out);
    assert_eq!(outcome.stdout.tail, "out\n");
    assert_eq!(outcome.stderr.tail, "err\n");
}

#[test]
fn the_total_time_limit_kills_the_program() {
    let outcome = shell("sleep 30", limits(1));
    assert!(outcome.timed_out && !outcome.success);
    assert!(
        outcome.seconds >= 1.0 && outcome.seconds < 5.0,
        "{}",
        outcome.seconds
    );
    assert_eq!(outcome.status, "timed out after 1.0 s");
}

#[test]
fn background_escapees_do_not_outlive_the_run() {
    let outcome = shell("setsid sleep 472.5 & echo started", limits(10));
    assert!(outcome.success, "{outcome:?}");
    let survivors = fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains("472.5") && !status.contains("State:\tZ")
        })
        .count();
    assert_eq!(survivors, 0);
}

#[test]
fn output_is_capped_and_counted() {
    let mut capped = limits(20);
    capped.output_cap_bytes = 1000;
    let outcome = shell("head -c 3000000 /dev/zero | tr '\\0' 'y'", capped);
    assert!(outcome.success, "{outcome:?}");
    assert_eq!(outcome.stdout.total_bytes, 3_000_000);
    assert_eq!(outcome.stdout.kept_bytes, 1000);
    assert!(outcome.stdout.truncated());
}

#[test]
fn files_beyond_the_size_limit_cannot_be_written() {
    let mut small = limits(10);
    small.file_size_bytes = 100_000;
    let outcome = shell("head -c 200000 /dev/zero > big.bin", small);
    assert!(!outcome.success, "{outcome:?}");
}

#[test]
fn isolation_matches_the_reported_capabilities() {
    let capabilities = probe_sandbox();
    let outcome = shell(
        "echo $$; id -u; tail -n +3 /proc/net/dev | cut -d: -f1",
        limits(10),
    );
    let lines: Vec<&str> = outcome.stdout.tail.lines().collect();
    if capabilities.pid_namespace {
        assert_eq!(lines[0], "1", "the program is PID 1 of its namespace");
    }
    if capabilities.drops_privileges {
        assert_ne!(lines[1], "0", "the program does not run as root");
    }
    if capabilities.network_isolated {
        let interfaces: Vec<&str> = lines[2..].iter().map(|l| l.trim()).collect();
        assert_eq!(
            interfaces,
            vec!["lo"],
            "only a loopback device, and it is down"
        );
    }
    assert!(
        capabilities.network_isolated && capabilities.pid_namespace
            || !capabilities.notes.is_empty(),
        "missing isolation is explained"
    );
}

#[test]
fn self_test_scripts_report_their_outcome() {
    let dir = submission(&[
        ("toy.py", "def add(a, b):\n    return a + b\n"),
        (
            "test_toy.py",
            "from toy import add\nassert add(2, 2) == 4\nprint('all good')\n",
        ),
        (
            "test_broken.py",
            "from toy import add\nassert add(2, 2) == 5, 'arithmetic'\n",
        ),
        ("demo_hangs.py", "while True:\n    pass\n"),
    ]);
    let env = python();
    let passing =
        run_script(&env, dir.path(), Path::new("test_toy.py"), &limits(20)).expect("runs");
    assert!(passing.success, "{passing:?}");
    assert_eq!(passing.stdout.tail, "all good\n");

    let failing = run_script(
        &env,
        dir.path(),
        &dir.path().join("test_broken.py"),
        &limits(20),
    )
    .expect("runs");
    assert_eq!(failing.exit_code, Some(1));
    assert!(
        failing.stderr.tail.contains("AssertionError: arithmetic"),
        "{failing:?}"
    );

    let hanging =
        run_script(&env, dir.path(), Path::new("demo_hangs.py"), &limits(1)).expect("runs");
    assert!(hanging.timed_out);

    for outside in ["../etc/passwd", "/etc/passwd", "no_such_test.py"] {
        let error =
            run_script(&env, dir.path(), Path::new(outside), &limits(5)).expect_err("refused");
        assert!(
            matches!(error, RunnerError::Submission { .. }),
            "{outside}: {error:?}"
        );
    }
}

//! Hostile submissions (issue 3): each must get a clear verdict, never take the judge down,
//! and never reach outside its sandbox.

mod common;

use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use judge_runner::{CallError, Target, Value, WorkerOptions, probe_sandbox};

use common::{short_limits, start, start_with, submission};

/// Live (non-zombie) processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    fs::read_dir("/proc")
        .expect("procfs")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains(marker) && !status.contains("State:\tZ")
        })
        .collect()
}

/// Polls `condition` for up to two seconds.
fn wait_for(condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !condition() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

fn call_with_timeout(
    worker: &mut judge_runner::Worker,
    name: &str,
    args: Vec<Value>,
    secs: u64,
) -> Result<Value, CallError> {
    worker
        .call(
            Target::Function(name.into()),
            args,
            vec![],
            Duration::from_secs(secs),
        )
        .map(|outcome| outcome.value)
}

#[test]
fn fork_loop_is_bounded_and_leaves_nothing_behind() {
    let source = r#"
import os, sys, time
def bomb():
    sys.argv[:] = ["fork-loop-7f3a"]
    children = 0
    while True:
        try:
            if os.fork() == 0:
                time.sleep(1000)
                os._exit(0)
            children += 1
        except OSError:
            return children
"#;
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker.load_entry(&["bomb"], "toy").expect("loads");
    let started = Instant::now();
    let result = call_with_timeout(&mut worker, "bomb", vec![], 5);
    if probe_sandbox().process_limit {
        let children = result
            .expect("fork fails at the process limit")
            .as_i64()
            .expect("a count");
        assert!(children < 64, "{children} children under a limit of 64");
    }
    assert!(started.elapsed() < Duration::from_secs(8));
    let sandbox_uid = worker.sandbox().sandbox_uid();
    worker.kill();
    if let Some(uid) = sandbox_uid {
        let left: Vec<u32> = fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                status.contains(&format!("Uid:\t{uid}\t")) && !status.contains("State:\tZ")
            })
            .collect();
        assert!(
            left.is_empty(),
            "processes of the sandbox uid survive: {left:?}"
        );
    }
}

#[test]
fn allocating_50_gib_is_a_memory_limit_error() {
    let source = "import numpy as np\ndef hog():\n    return np.ones(50 * 2**30 // 8).sum()\ndef fine():\n    return 1\n";
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker.load_entry(&["hog", "fine"], "toy").expect("loads");
    let error = call_with_timeout(&mut worker, "hog", vec![], 5).expect_err("50 GiB cannot be had");
    assert!(
        matches!(error, CallError::MemoryLimit { limit_bytes, .. } if limit_bytes == 4 << 30),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("memory limit of 4.0 GiB exceeded"),
        "{error}"
    );
    assert_eq!(
        call_with_timeout(&mut worker, "fine", vec![], 5),
        Ok(Value::Int(1)),
        "the worker lives on"
    );
}

#[test]
fn printing_a_gigabyte_is_capped_and_counted() {
    let source = "import sys\ndef shout():\n    line = 'x' * (1 << 20)\n    for _ in range(1024):\n        sys.stdout.write(line)\n    return 'done'\n";
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker.load_entry(&["shout"], "toy").expect("loads");
    let started = Instant::now();
    let result = call_with_timeout(&mut worker, "shout", vec![], 5);
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "no hang past the timeout"
    );
    match result {
        Ok(value) => assert_eq!(value, Value::Str("done".into())),
        Err(error) => assert!(matches!(error, CallError::Timeout { .. }), "{error:?}"),
    }
    let stdout = worker.stdout_tail();
    assert!(stdout.kept_bytes <= 64 << 10, "kept {}", stdout.kept_bytes);
    assert!(
        stdout.total_bytes > 64 << 10 && stdout.truncated(),
        "counted {}",
        stdout.total_bytes
    );
    assert!(stdout.tail.chars().all(|c| c == 'x'));
}

#[test]
fn a_loopback_listener_sees_no_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().unwrap().port();
    let source = r#"
import socket
def connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        return "connected"
    except OSError as e:
        return "refused: %s" % e
"#;
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker.load_entry(&["connect"], "toy").expect("loads");
    let answer = call_with_timeout(&mut worker, "connect", vec![Value::Int(port.into())], 5)
        .expect("returns");
    assert!(
        answer.as_str().is_ok_and(|s| s.starts_with("refused")),
        "{answer:?}"
    );
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the listener saw a connection: {other:?}"),
    }
}

#[test]
fn writes_outside_the_scratch_copy_fail_and_the_original_is_unchanged() {
    let source = r##"
import os
def vandalize(original, judge_home):
    results = {}
    for label, path in [("original", os.path.join(original, "pwned.txt")),
                        ("judge_home", os.path.join(judge_home, "pwned-by-submission.txt")),
                        ("tmp", "/tmp/pwned-by-submission.txt")]:
        try:
            with open(path, "w") as f:
                f.write("x")
            results[label] = "written"
        except OSError as e:
            results[label] = "refused"
    with open(__file__, "w") as f:
        f.write("# overwritten\n")
    with open(os.path.join(os.environ["HOME"], "notes.txt"), "w") as f:
        f.write("scratch is fine")
    results["home_is_scratch"] = os.environ["HOME"] != judge_home and os.getcwd() == os.environ["HOME"]
    return results
"##;
    let dir = submission(&[("toy.py", source)]);
    let judge_home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let mut worker = start(dir.path());
    worker.load_entry(&["vandalize"], "toy").expect("loads");
    let results = call_with_timeout(
        &mut worker,
        "vandalize",
        vec![
            Value::Str(dir.path().display().to_string()),
            Value::Str(judge_home.clone()),
        ],
        5,
    )
    .expect("returns");
    for label in ["original", "judge_home", "tmp"] {
        assert_eq!(
            results.get(label),
            Some(&Value::Str("refused".into())),
            "{label}: {results:?}"
        );
    }
    assert_eq!(results.get("home_is_scratch"), Some(&Value::Bool(true)));
    assert_eq!(
        fs::read_to_string(dir.path().join("toy.py")).unwrap(),
        source,
        "the original is untouched"
    );
    assert!(!dir.path().join("pwned.txt").exists());
    assert!(
        !std::path::Path::new(&judge_home)
            .join("pwned-by-submission.txt")
            .exists()
    );
    assert_eq!(
        fs::read_to_string(worker.sandbox().work_dir().join("toy.py")).unwrap(),
        "# overwritten\n",
        "the scratch copy is the submission's to change"
    );
}

#[test]
fn a_setsid_escapee_dies_with_the_sandbox() {
    let source = r#"
import subprocess
def escape():
    child = subprocess.Popen(["sleep", "471.5"], start_new_session=True)
    return child.pid
"#;
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker.load_entry(&["escape"], "toy").expect("loads");
    call_with_timeout(&mut worker, "escape", vec![], 5).expect("spawns");
    // Popen may return a moment before the child's exec shows in /proc.
    assert!(
        wait_for(|| processes_with("471.5").len() == 1),
        "the escapee runs"
    );
    worker.kill();
    assert!(
        wait_for(|| processes_with("471.5").is_empty()),
        "the escapee outlived the sandbox"
    );
}

#[test]
fn patching_tracemalloc_time_and_numpy_does_not_fake_measurements() {
    let source = r#"
import time, tracemalloc, _tracemalloc, numpy as np, numpy.lib.format, builtins, json
tracemalloc.get_traced_memory = lambda: (0, 0)
_tracemalloc.get_traced_memory = lambda: (0, 0)
time.perf_counter = lambda: 0.0
np.save = lambda *a, **k: None
np.asarray = lambda *a, **k: np.zeros(1)
numpy.lib.format.write_array = lambda *a, **k: None
json.dumps = lambda *a, **k: '{"ok": {"value": 0, "seconds": 0.0, "peak_bytes": 0, "fixture_calls": 0}}'
builtins.len = lambda x: 0
import __main__
__main__.BLOCKED_PACKAGES = ()
__main__.serve = None
def try_torch():
    import torch
def work(n):
    big = np.ones(n)
    time.sleep(0.05)
    return big * 2
"#;
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker
        .load_entry(&["work", "try_torch"], "toy")
        .expect("loads");
    let n = 2_000_000usize;
    let outcome = worker
        .call_function("work", vec![Value::Int(n as i64)])
        .expect("runs");
    let peak = outcome.peak_bytes.expect("tracing is intact");
    assert!(
        peak >= 2 * 8 * n as u64,
        "peak {peak} is the real one (two arrays of {n})"
    );
    assert!(
        outcome.seconds >= 0.05,
        "seconds {} is the real one",
        outcome.seconds
    );
    let array = outcome.value.to_f64_array().expect("the real array");
    assert_eq!(array.len(), n);
    assert!(array.iter().all(|&x| x == 2.0));
    let error = worker
        .call_function("try_torch", vec![])
        .expect_err("still blocked");
    assert_eq!(
        error,
        CallError::Blocked {
            module: "torch".into()
        }
    );
}

#[test]
fn stopping_tracemalloc_leaves_no_peak_to_trust() {
    let source = "import tracemalloc\nimport numpy as np\ndef sneaky():\n    tracemalloc.stop()\n    return float(np.ones(10**6).sum())\n";
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker.load_entry(&["sneaky"], "toy").expect("loads");
    let outcome = worker.call_function("sneaky", vec![]).expect("runs");
    assert_eq!(outcome.peak_bytes, None);
}

#[test]
fn importing_torch_is_blocked_and_recorded() {
    let source = r#"
try:
    import torch
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False
def with_fallback():
    return HAVE_TORCH
def insists():
    import jax.numpy
    return 1
"#;
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker
        .load_entry(&["with_fallback", "insists"], "toy")
        .expect("loads despite the try");
    assert_eq!(
        worker
            .call_function("with_fallback", vec![])
            .expect("runs")
            .value,
        Value::Bool(false)
    );
    let error = worker
        .call_function("insists", vec![])
        .expect_err("jax is blocked");
    assert_eq!(
        error,
        CallError::Blocked {
            module: "jax".into()
        }
    );
    assert_eq!(
        worker.blocked_imports(),
        &["torch".to_string(), "jax".to_string()]
    );
}

#[test]
fn a_crash_is_worker_died_with_the_stderr_tail() {
    let source = "import os, sys\ndef crash():\n    sys.stderr.write('about to leave\\n')\n    sys.stderr.flush()\n    os._exit(3)\n";
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start(dir.path());
    worker.load_entry(&["crash"], "toy").expect("loads");
    let error = worker
        .call_function("crash", vec![])
        .expect_err("the worker exits");
    match &error {
        CallError::WorkerDied {
            status,
            stderr_tail,
        } => {
            assert_eq!(status, "exit code 3");
            assert!(stderr_tail.contains("about to leave"), "{stderr_tail}");
        }
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    assert!(matches!(
        worker.call_function("crash", vec![]),
        Err(CallError::Stopped { .. })
    ));
}

#[test]
fn a_segfault_is_worker_died_with_the_signal() {
    let source = "import ctypes\ndef crash():\n    return ctypes.string_at(0)\n";
    let dir = submission(&[("toy.py", source)]);
    let mut worker = start_with(
        dir.path(),
        WorkerOptions {
            limits: short_limits(),
            fixtures: vec![],
        },
    );
    worker.load_entry(&["crash"], "toy").expect("loads");
    let error = worker.call_function("crash", vec![]).expect_err("segfault");
    assert!(
        matches!(&error, CallError::WorkerDied { status, .. } if status.contains("SIGSEGV")),
        "{error:?}"
    );
}

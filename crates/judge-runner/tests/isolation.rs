//! The host does not show through the sandbox: no host process or command line in its /proc,
//! no host Unix socket reachable, and one memory budget for all of a sandbox's processes.
//! Each protection needs root (and, for the budget, cgroup controllers); where this machine
//! lacks one, its test says so and checks nothing else.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;
use std::time::Duration;

use judge_runner::{Limits, ProcessOutcome, probe_sandbox, run_script};

use common::{python, submission};

/// Runs `code` as a submission's script in a fresh sandbox.
fn run_python(code: &str, limits: Limits) -> ProcessOutcome {
    let dir = submission(&[("probe.py", code)]);
    run_script(&python(), dir.path(), &dir.path().join("probe.py"), &limits)
        .expect("the script runs")
}

fn limits(total_secs: u64) -> Limits {
    Limits {
        total_timeout: Duration::from_secs(total_secs),
        ..Limits::default()
    }
}

#[test]
fn the_sandbox_sees_no_host_process_and_no_command_line_of_one() {
    if !probe_sandbox().own_root {
        eprintln!(
            "skipped: no mount namespace of its own here (needs root): {:?}",
            probe_sandbox().notes
        );
        return;
    }
    // A host process with a secret on its command line, as the judge's --seed once was.
    let mut secret_holder = Command::new("/bin/sh")
        .args(["-c", "sleep 60", "judge-secret-seed-424242"])
        .spawn()
        .unwrap();
    let judge = std::process::id();
    let code = format!(
        r#"
import os
pids = [p for p in os.listdir("/proc") if p.isdigit()]
print("pids", len(pids), " ".join(pids))
found = []
for p in pids:
    try:
        found.append(open(f"/proc/{{p}}/cmdline", "rb").read())
    except OSError:
        pass
print("secret seen" if any(b"424242" in c for c in found) else "secret unseen")
for pid in ({judge}, {holder}, 1):
    try:
        print(pid, open(f"/proc/{{pid}}/cmdline", "rb").read())
    except OSError as e:
        print(pid, "unreadable:", type(e).__name__)
"#,
        holder = secret_holder.id()
    );
    let outcome = run_python(&code, limits(30));
    let _ = secret_holder.kill();
    let _ = secret_holder.wait();
    let out = &outcome.stdout.tail;
    assert!(outcome.success, "{outcome:?}");
    assert!(out.contains("secret unseen"), "{out}");
    for pid in [judge, secret_holder.id(), 1] {
        assert!(
            out.contains(&format!("{pid} unreadable: FileNotFoundError")),
            "/proc/{pid} is visible: {out}"
        );
    }
    // Only the sandbox's own processes: the interpreter (and nothing of the host's).
    let listed: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("pids "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!((1..=2).contains(&listed), "{out}");
}

#[test]
fn the_sandbox_cannot_reach_a_host_unix_socket() {
    if !probe_sandbox().own_root {
        eprintln!(
            "skipped: no mount namespace of its own here (needs root): {:?}",
            probe_sandbox().notes
        );
        return;
    }
    // A host service on a pathname socket anyone may connect to: only the sandbox's view of
    // the file system can keep it out.
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let path = dir.path().join("service.sock");
    let listener = UnixListener::bind(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o777)).unwrap();
    listener.set_nonblocking(true).unwrap();
    // The socket works from the host.
    drop(UnixStream::connect(&path).unwrap());
    let (mut accepted, _) = listener.accept().unwrap();
    accepted.set_nonblocking(false).unwrap();
    let mut nothing = Vec::new();
    accepted.read_to_end(&mut nothing).unwrap();

    let code = format!(
        r#"
import socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect({path:?})
    print("connected")
except OSError as e:
    print("refused:", type(e).__name__)
"#,
        path = path.display().to_string()
    );
    let outcome = run_python(&code, limits(30));
    assert!(outcome.success, "{outcome:?}");
    assert!(
        outcome.stdout.tail.contains("refused: FileNotFoundError"),
        "{outcome:?}"
    );
    assert!(
        listener.accept().is_err(),
        "no connection reached the host service"
    );
}

#[test]
fn a_forking_submission_shares_one_memory_budget() {
    let capabilities = probe_sandbox();
    if !capabilities.cgroup_budgets {
        eprintln!("skipped: no cgroup budget here: {:?}", capabilities.notes);
        return;
    }
    // Two processes of 3 GiB each, each within its own 4 GiB address space, under one 4 GiB
    // budget: they cannot both hold their memory.
    let code = r#"
import os, sys, time
import numpy as np
child = os.fork()
held = np.ones(3 << 30, dtype=np.uint8)
print("held", os.getpid(), flush=True)
time.sleep(2)
if child == 0:
    os._exit(0)
_, status = os.waitpid(child, 0)
if os.WIFSIGNALED(status):
    print("child killed by signal", os.WTERMSIG(status))
else:
    print("both held 3 GiB")
"#;
    let mut budget = limits(120);
    budget.memory_bytes = 4 << 30;
    let outcome = run_python(code, budget);
    let out = &outcome.stdout.tail;
    assert!(!out.contains("both held"), "{outcome:?}");
    assert!(
        out.contains("child killed by signal 9") || outcome.status.contains("memory budget"),
        "{outcome:?}"
    );
}

#[test]
fn the_files_a_sandbox_writes_share_one_disk_budget() {
    let capabilities = probe_sandbox();
    if !capabilities.disk_budget {
        eprintln!(
            "skipped: no size-limited scratch file system here: {:?}",
            capabilities.notes
        );
        return;
    }
    // Three files of 900 MiB, each below the 1 GiB file-size limit, are more than the 2 GiB a
    // sandbox may write in all.
    let code = r#"
import os
chunk = b"\1" * (1 << 20)
written = 0
try:
    for name in "abc":
        with open(name, "wb") as f:
            for _ in range(900):
                f.write(chunk)
                written += len(chunk)
    print("wrote", written)
except OSError as e:
    print("refused after", written >> 20, "MiB:", e.strerror)
"#;
    let outcome = run_python(code, limits(120));
    let out = &outcome.stdout.tail;
    assert!(out.contains("No space left on device"), "{outcome:?}");
    let mib: u64 = out
        .split("refused after ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!((1800..=2048).contains(&mib), "{out}");
}

//! `judge doctor`: every tool and sandbox feature grading relies on, with its version or the
//! reason it is missing. Exit 0 when Python submissions can be graded, else 2.

use std::path::PathBuf;
use std::process::Command;

use judge_runner::{PythonEnv, probe_sandbox};
use serde::Serialize;

use crate::cli::DoctorArgs;

#[derive(Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    /// A version when present, else why it is missing and what that costs.
    detail: String,
}

fn check(name: &'static str, result: Result<String, String>) -> Check {
    match result {
        Ok(detail) => Check {
            name,
            ok: true,
            detail,
        },
        Err(detail) => Check {
            name,
            ok: false,
            detail,
        },
    }
}

/// First line of a command's output, if it runs.
fn version_of(program: &PathBuf, arg: &str) -> Option<String> {
    let out = Command::new(program).arg(arg).output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
}

fn gpu() -> Result<String, String> {
    match std::fs::read_to_string("/proc/driver/nvidia/version") {
        Ok(version) => Ok(version
            .lines()
            .next()
            .unwrap_or("NVIDIA driver")
            .to_string()),
        Err(_) => Err("no NVIDIA driver: fuse's runtime criteria will be SKIPPED".into()),
    }
}

pub fn run(args: DoctorArgs) -> anyhow::Result<i32> {
    let python = PythonEnv::existing();
    let caps = probe_sandbox();
    let mut checks = vec![
        check(
            "python",
            python
                .as_ref()
                .map(|env| format!("{} at {}", env.python_version, env.interpreter.display()))
                .map_err(|e| e.to_string()),
        ),
        check(
            "numpy",
            python
                .as_ref()
                .map(|env| env.numpy_version.clone())
                .map_err(|_| "needs the Python above".to_string()),
        ),
        check(
            "network isolation",
            if caps.network_isolated {
                Ok("own network namespace, no interfaces".into())
            } else {
                Err("unavailable: submissions could reach the network".into())
            },
        ),
        check(
            "pid namespace",
            if caps.pid_namespace {
                Ok("submissions run as PID 1 of their own namespace".into())
            } else {
                Err("unavailable: a setsid escapee may outlive its sandbox".into())
            },
        ),
        check(
            "own uid",
            if caps.drops_privileges {
                Ok(format!(
                    "unprivileged uid{}",
                    if caps.process_limit {
                        ", process limit enforced"
                    } else {
                        ""
                    }
                ))
            } else {
                Err("submissions run as the judge's own user".into())
            },
        ),
        check(
            "landlock",
            caps.landlock_abi
                .map(|abi| format!("ABI {abi}"))
                .ok_or_else(|| "unavailable: file-system writes are not confined".to_string()),
        ),
        check(
            "own root",
            if caps.own_root {
                Ok(
                    "own mount namespace: only system, Python and scratch folders, an own \
                    /proc (no host process, no judge command line, no host Unix socket)"
                        .into(),
                )
            } else {
                Err(
                    "unavailable (needs root): the host's /proc and Unix sockets show through"
                        .into(),
                )
            },
        ),
        check(
            "memory budget",
            if caps.cgroup_budgets {
                Ok("one cgroup per sandbox: --memory-gib for all its processes together".into())
            } else {
                Err(
                    "unavailable (needs root and the memory cgroup controller): the \
                     address-space limit holds per process only"
                        .into(),
                )
            },
        ),
        check(
            "process budget",
            if caps.cgroup_budgets {
                Ok("pids.max per sandbox".into())
            } else if caps.process_limit {
                Err("RLIMIT_NPROC only (per uid), no pids cgroup".into())
            } else {
                Err("unavailable: the number of processes is not limited".into())
            },
        ),
        check(
            "disk budget",
            if caps.disk_budget {
                Ok("size-limited tmpfs per sandbox: the copy of the submission + 2 GiB".into())
            } else {
                Err("per file only (RLIMIT_FSIZE): no size-limited scratch file system".into())
            },
        ),
        check(
            "nvcc",
            grader_fuse::find_nvcc()
                .map(|p| {
                    format!(
                        "{} at {}",
                        version_of(&p, "--version").unwrap_or_default(),
                        p.display()
                    )
                })
                .ok_or_else(|| "not found: fuse's compile criterion will be SKIPPED".into()),
        ),
        check("gpu", gpu()),
    ];
    checks.extend(caps.notes.iter().map(|note| Check {
        name: "note",
        ok: true,
        detail: note.clone(),
    }));
    let ready = python.is_ok();
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ready": ready,
                "checks": checks,
            }))?
        );
    } else {
        for check in &checks {
            let mark = if check.name == "note" {
                "  ·"
            } else if check.ok {
                " ok"
            } else {
                " --"
            };
            outln!("{mark} {:<18} {}", check.name, check.detail);
        }
        if !ready {
            outln!("\nPython submissions cannot be graded yet: run `judge setup`.");
        }
    }
    Ok(if ready {
        judge_core::exit::SUCCESS
    } else {
        judge_core::exit::USAGE_OR_ENVIRONMENT
    })
}

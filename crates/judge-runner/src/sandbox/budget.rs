//! One budget per sandbox for memory and processes: a cgroup of its own (v2 `memory.max` and
//! `pids.max`, or the v1 memory and pids controllers where the machine mounts those), so
//! forking does not multiply the limits that `RLIMIT_AS` and `RLIMIT_NPROC` set per process.
//!
//! The cgroups are made below the judge's own, and only where the judge may (root, or a
//! delegated subtree); elsewhere the per-process limits are all there is, and the
//! capabilities say so.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Where this judge's sandbox cgroups go.
#[derive(Debug, Clone)]
pub(crate) enum Hierarchy {
    /// cgroup v2: one cgroup per sandbox below this one, with `memory` and `pids` enabled.
    V2(PathBuf),
    /// cgroup v1: one cgroup per sandbox below each of these (memory, pids).
    V1 { memory: PathBuf, pids: PathBuf },
}

/// Prefix of the sandbox cgroups: `judge-<judge pid>-<n>`.
const PREFIX: &str = "judge-";

/// The cgroup hierarchy of this machine, if sandboxes can be given budgets here (probed once).
pub(crate) fn hierarchy() -> Option<&'static Hierarchy> {
    static FOUND: OnceLock<Option<Hierarchy>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let found = find_hierarchy()?;
            match &found {
                Hierarchy::V2(dir) => remove_dead_judges_cgroups(dir),
                Hierarchy::V1 { memory, pids } => {
                    remove_dead_judges_cgroups(memory);
                    remove_dead_judges_cgroups(pids);
                }
            }
            Some(found)
        })
        .as_ref()
}

/// One mounted cgroup hierarchy: (mount point, root of the mount, fs type, super options).
fn mounts() -> Vec<(PathBuf, String, String, String)> {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let after: Vec<&str> = after.split(' ').collect();
            let (fstype, options) = (*after.first()?, *after.get(2)?);
            Some((
                PathBuf::from(fields.get(4)?),
                fields.get(3)?.to_string(),
                fstype.to_string(),
                options.to_string(),
            ))
        })
        .filter(|(_, _, fstype, _)| fstype == "cgroup" || fstype == "cgroup2")
        .collect()
}

/// The judge's own cgroup path in the hierarchy whose `/proc/self/cgroup` line matches.
fn own_path(matches: impl Fn(&str) -> bool) -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        matches(controllers).then(|| path.to_string())
    })
}

fn own_dir(mount: &Path, root: &str, path: &str) -> PathBuf {
    let relative = path.strip_prefix(root).unwrap_or(path);
    mount.join(relative.trim_start_matches('/'))
}

fn find_hierarchy() -> Option<Hierarchy> {
    let mounts = mounts();
    let v1 = |controller: &str| {
        let (mount, root, _, _) = mounts.iter().find(|(_, _, fstype, options)| {
            fstype == "cgroup" && options.split(',').any(|o| o == controller)
        })?;
        let path = own_path(|list| list.split(',').any(|c| c == controller))?;
        Some(own_dir(mount, root, &path))
    };
    if let (Some(memory), Some(pids)) = (v1("memory"), v1("pids")) {
        return Some(Hierarchy::V1 { memory, pids });
    }
    let (mount, root, _, _) = mounts
        .iter()
        .find(|(_, _, fstype, _)| fstype == "cgroup2")?;
    let dir = own_dir(mount, root, &own_path(str::is_empty)?);
    let enabled = fs::read_to_string(dir.join("cgroup.subtree_control")).ok()?;
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    (enabled.contains(&"memory") && enabled.contains(&"pids")).then_some(Hierarchy::V2(dir))
}

/// Removes (empty) sandbox cgroups that judges which no longer run left behind.
fn remove_dead_judges_cgroups(parent: &Path) {
    remove_cgroups(parent, |pid| {
        !Path::new("/proc").join(pid.to_string()).exists()
    });
}

/// Removes the (empty) sandbox cgroups of the judge process `pid`, which has died.
pub(crate) fn remove_cgroups_of(pid: u32) {
    match hierarchy() {
        Some(Hierarchy::V2(dir)) => remove_cgroups(dir, |owner| owner == pid),
        Some(Hierarchy::V1 { memory, pids }) => {
            remove_cgroups(memory, |owner| owner == pid);
            remove_cgroups(pids, |owner| owner == pid);
        }
        None => {}
    }
}

fn remove_cgroups(parent: &Path, doomed: impl Fn(u32) -> bool) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if doomed(pid) {
            let _ = fs::remove_dir(entry.path());
        }
    }
}

/// The cgroups of one sandboxed process tree.
#[derive(Debug)]
pub(crate) struct Budget {
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of each, opened by the judge; the child writes "0" to join.
    procs: Vec<OwnedFd>,
    /// Where the kernel counts the OOM kills in this budget (`oom_kill N`).
    oom_events: PathBuf,
}

impl Budget {
    /// Makes the cgroups of a new sandbox, limited to `memory_bytes` (`u64::MAX`: no limit)
    /// and `max_processes` tasks.
    pub(crate) fn new(
        hierarchy: &Hierarchy,
        memory_bytes: u64,
        max_processes: u64,
    ) -> io::Result<Budget> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut budget = Budget {
            dirs: Vec::new(),
            procs: Vec::new(),
            oom_events: PathBuf::new(),
        };
        let unlimited = memory_bytes == u64::MAX;
        match hierarchy {
            Hierarchy::V2(parent) => {
                let dir = budget.make(&parent.join(&name))?;
                let memory = if unlimited {
                    "max".to_string()
                } else {
                    memory_bytes.to_string()
                };
                fs::write(dir.join("memory.max"), memory)?;
                // No swap: the budget is memory, not memory plus disk (absent without swap).
                let _ = fs::write(dir.join("memory.swap.max"), "0");
                fs::write(dir.join("pids.max"), max_processes.to_string())?;
                budget.oom_events = dir.join("memory.events");
            }
            Hierarchy::V1 { memory, pids } => {
                let dir = budget.make(&memory.join(&name))?;
                if !unlimited {
                    fs::write(dir.join("memory.limit_in_bytes"), memory_bytes.to_string())?;
                    // Absent or refused without swap accounting; the limit above still holds.
                    let _ = fs::write(
                        dir.join("memory.memsw.limit_in_bytes"),
                        memory_bytes.to_string(),
                    );
                }
                budget.oom_events = dir.join("memory.oom_control");
                let dir = budget.make(&pids.join(&name))?;
                fs::write(dir.join("pids.max"), max_processes.to_string())?;
            }
        }
        Ok(budget)
    }

    fn make(&mut self, dir: &Path) -> io::Result<PathBuf> {
        fs::create_dir(dir)?;
        self.dirs.push(dir.to_path_buf());
        let procs = fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))?;
        self.procs.push(procs.into());
        Ok(dir.to_path_buf())
    }

    /// The `cgroup.procs` descriptors the child writes "0" to, to join the budget (it and
    /// everything it starts); see [`join`].
    pub(crate) fn procs(&self) -> Vec<RawFd> {
        self.procs.iter().map(|fd| fd.as_raw_fd()).collect()
    }

    /// Whether the kernel killed a process of this sandbox for exceeding its memory budget.
    pub(crate) fn memory_exhausted(&self) -> bool {
        fs::read_to_string(&self.oom_events).is_ok_and(|events| {
            events.lines().any(|line| {
                line.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        })
    }
}

impl Drop for Budget {
    /// Removes the cgroups once their processes are gone (a killed task takes a moment to
    /// leave, so a few tries).
    fn drop(&mut self) {
        for dir in &self.dirs {
            for _ in 0..100 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// Runs in the forked child: moves it into the budget whose `cgroup.procs` are `procs`.
pub(crate) fn join(procs: &[RawFd]) -> io::Result<()> {
    for &fd in procs {
        // SAFETY: the parent keeps these descriptors open until the child has been reaped.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        rustix::io::write(fd, b"0")?;
    }
    Ok(())
}

//! The sandbox every submission process runs in (ARCHITECTURE §5).
//!
//! A sandboxed command line is `unshare --net --ipc --pid --fork --kill-child --
//! setpriv --reuid=U --regid=U --clear-groups --pdeathsig=keep -- PROGRAM ARGS…`, started by
//! the judge with, between fork and exec (module `confine`): its own session, its cgroup
//! budget (module `budget`), its own root (module `view`), `RLIMIT_AS`, `RLIMIT_NPROC`
//! (enforced once `setpriv` has dropped to the own uid U), `RLIMIT_FSIZE`, no core dumps, and
//! a Landlock ruleset (writes only in the scratch folders, reads only in system and Python
//! folders, no TCP, no signals out). So the program runs:
//! - as PID 1 of its own PID namespace: when it dies every descendant dies, and the judge's
//!   pid does not exist in its namespace;
//! - in a network namespace with no usable interface;
//! - in a mount namespace whose root holds only the folders it may use and a /proc that
//!   shows only its own processes: host processes, their command lines and the host's Unix
//!   sockets cannot be named;
//! - under an unprivileged uid of its own (the judge is root) that owns only the scratch copy,
//!   so `/proc/<judge>/environ` and the judge's files stay closed;
//! - in cgroups of its own: one memory and one process budget for all its processes;
//! - with a clean environment and stdout/stderr captured with a cap (module `output`).
//!
//! Where a piece is missing (no root, no user namespaces, no Landlock, no cgroup controllers)
//! the sandbox still runs and [`SandboxCapabilities::notes`] says what is lost. Without root,
//! an unprivileged user namespace carries the network, IPC and PID namespaces, and Landlock
//! alone keeps the judge's `/proc/<pid>/environ`, memory and signals out of reach (its ptrace
//! and signal scoping).
//!
//! The own root is built by the judge itself rather than by bubblewrap: the mounts must be
//! made before the Landlock ruleset is applied (a process under Landlock may not mount), and
//! only the judge's own fork-to-exec step comes before that.
//!
//! Compiled programs that use a GPU need [`SandboxCommand::device`] for the device nodes and
//! `Limits::memory_bytes = u64::MAX` (CUDA reserves far more address space than it uses).

mod budget;
mod confine;
mod disk;
mod probe;
mod process;
mod scratch;
mod view;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use judge_core::untrusted_fs::SUBMISSION_TREE;
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

pub use probe::{SandboxCapabilities, probe_sandbox};
pub use process::{SandboxedProcess, describe_exit};

use crate::error::RunnerError;
use crate::limits::Limits;
use crate::output::{CapturedOutput, StreamCapture};
use budget::Budget;
use confine::{Confinement, FileAccess};
use disk::{SCRATCH_WRITE_BYTES, ScratchDisk};
use probe::sandbox_plan;
use view::{RootView, STANDARD_DEVICES, Visible};

/// System folders a sandboxed program may read and execute from.
pub(crate) const SYSTEM_READ_DIRS: [&str; 12] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/proc",
    "/sys", "/dev",
];

/// First uid handed to sandboxes. Sandboxes get uids of their own (not one shared `nobody`):
/// `RLIMIT_NPROC` counts per uid, so a fork loop in one submission cannot starve a submission
/// graded beside it, and one sandbox cannot read another's scratch copy. No `/etc/passwd`
/// entry is needed; the range is far above the ones distributions and subuid maps use.
const SANDBOX_UID_BASE: u32 = 1_500_000_000;

/// Picks a uid no other live sandbox of this machine uses: the judge's pid spreads concurrent
/// judges apart, a counter spreads the sandboxes of one judge.
fn next_sandbox_uid() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let slot = NEXT.fetch_add(1, Ordering::Relaxed) % 1024;
    SANDBOX_UID_BASE + (std::process::id() % 500_000) * 1024 + slot
}

/// The private folders and identity of one sandboxed submission.
#[derive(Debug)]
pub struct Sandbox {
    /// The scratch folder's size-limited file system, held for its `Drop`: unmounted before
    /// `root` is removed.
    _disk: Option<ScratchDisk>,
    root: TempDir,
    /// Empty folder the sandbox's own root is mounted on (in its mount namespace only), when
    /// it gets one; beside `root`, so that binding `root` in does not take it along.
    view_mount: Option<TempDir>,
    work: PathBuf,
    inbox: PathBuf,
    outbox: PathBuf,
    owner: Option<(u32, u32)>,
    skipped: Vec<PathBuf>,
}

impl Sandbox {
    /// Makes the scratch folders and, when given, copies the submission folder into the work
    /// folder (the original is never touched again).
    pub fn new(submission_dir: Option<&Path>) -> Result<Sandbox, RunnerError> {
        let plan = sandbox_plan();
        let owner = plan.setpriv.as_ref().map(|_| {
            let uid = next_sandbox_uid();
            (uid, uid)
        });
        let parent = scratch_parent(owner.is_some());
        sweep_stale_scratch(&parent);
        let scratch_folder = || {
            tempfile::Builder::new()
                .prefix(&format!("{SCRATCH_PREFIX}{}-", std::process::id()))
                .tempdir_in(&parent)
                .map_err(RunnerError::io("creating the scratch folder"))
        };
        let root = scratch_folder()?;
        let disk = plan
            .scratch_disk
            .then(|| {
                let most = SUBMISSION_TREE.max_allocated_bytes + SCRATCH_WRITE_BYTES;
                ScratchDisk::mount(root.path(), most)
            })
            .transpose()
            .map_err(RunnerError::io("mounting the scratch file system"))?;
        let view_mount = plan.own_view.then(scratch_folder).transpose()?;
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755))
            .map_err(RunnerError::io("opening the scratch folder to the sandbox"))?;
        let work = root.path().join("work");
        let inbox = root.path().join("inbox");
        let outbox = root.path().join("outbox");
        scratch::make_dir(&work, 0o700, owner)?;
        scratch::make_dir(&outbox, 0o700, owner)?;
        scratch::make_dir(&inbox, 0o755, None)?;
        let mut skipped = Vec::new();
        if let Some(source) = submission_dir {
            if !source.is_dir() {
                return Err(RunnerError::Submission {
                    path: source.to_path_buf(),
                    reason: "not a folder".into(),
                });
            }
            skipped = scratch::copy_submission(source, &work, owner)?;
        }
        if let Some(disk) = &disk {
            disk.limit_to_used_plus(SCRATCH_WRITE_BYTES)
                .map_err(RunnerError::io("sizing the scratch file system"))?;
        }
        Ok(Sandbox {
            _disk: disk,
            root,
            view_mount,
            work,
            inbox,
            outbox,
            owner,
            skipped,
        })
    }

    /// The sandbox's working folder: the copy of the submission, its cwd, HOME and TMPDIR.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// Puts a file the judge supplies into the work folder (see `scratch::place_file`), e.g.
    /// an adapter from outside the submission: the original folder is never written.
    pub fn place_file(&self, name: &str, bytes: &[u8]) -> Result<(), RunnerError> {
        scratch::place_file(&self.work, name, bytes, self.owner)
    }

    /// The judge-owned scratch root: the sandbox may read files put here, never change them.
    pub fn root_dir(&self) -> &Path {
        self.root.path()
    }

    /// Folder of files the judge hands in (readable, not writable, by the sandbox).
    pub(crate) fn inbox(&self) -> &Path {
        &self.inbox
    }

    /// Folder the sandbox writes files for the judge to read.
    pub(crate) fn outbox(&self) -> &Path {
        &self.outbox
    }

    /// The uid the sandboxed processes run under, when the judge can drop to one.
    pub fn sandbox_uid(&self) -> Option<u32> {
        self.owner.map(|(uid, _)| uid)
    }

    /// Entries of the submission folder that were not copied (symlinks, sockets, devices).
    pub fn skipped_files(&self) -> &[PathBuf] {
        &self.skipped
    }

    /// A command that will run `program` inside this sandbox, in its work folder.
    pub fn command(&self, program: impl AsRef<OsStr>) -> SandboxCommand<'_> {
        SandboxCommand {
            sandbox: self,
            program: program.as_ref().to_os_string(),
            args: Vec::new(),
            env: base_environment(&self.work),
            limits: Limits::default(),
            read_paths: Vec::new(),
            device_paths: Vec::new(),
            protocol_fds: None,
        }
    }
}

/// Where scratch folders are made: the temp folder, unless the sandbox runs under its own uid
/// and could not enter it (a `TMPDIR` inside root's 0700 home, say); then `/tmp`.
/// Scratch folders are named `judge-<judge pid>-<random>`, so that one left behind by a judge
/// that was killed (its destructors never ran) can be recognised by the next judge.
const SCRATCH_PREFIX: &str = "judge-";

/// How old a dead judge's scratch folder must be before it is removed: a judge in another PID
/// namespace sharing this temporary folder looks dead from here, but would have touched it.
const STALE_SCRATCH_AGE: Duration = Duration::from_secs(3600);

/// Removes, once per process, scratch folders of judges that no longer run.
fn sweep_stale_scratch(parent: &Path) {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| remove_dead_judges_scratch(parent));
}

fn remove_dead_judges_scratch(parent: &Path) {
    remove_scratch(parent, |pid, age| {
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        !alive && age > STALE_SCRATCH_AGE
    });
}

/// Removes at once what the judge process `pid`, which has just died (killed, crashed),
/// left behind: its sandboxes' scratch folders and cgroups.
pub fn remove_leftovers_of(pid: u32) {
    let parents = [std::env::temp_dir(), PathBuf::from("/tmp")];
    for parent in &parents {
        remove_scratch(parent, |owner, _| owner == pid);
    }
    budget::remove_cgroups_of(pid);
}

/// Removes the scratch folders below `parent` for which `doomed(judge pid, age)` holds.
fn remove_scratch(parent: &Path, doomed: impl Fn(u32, Duration) -> bool) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(SCRATCH_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .unwrap_or_default();
        // Never through a link: one planted in /tmp must not make root unmount or empty
        // a folder elsewhere.
        let is_folder = entry.file_type().is_ok_and(|kind| kind.is_dir());
        if doomed(pid, age) && is_folder {
            disk::unmount(&entry.path());
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn scratch_parent(own_uid: bool) -> PathBuf {
    let temp = std::env::temp_dir();
    let enterable_by_all = |dir: &Path| {
        dir.ancestors()
            .all(|p| fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
    };
    if own_uid && !enterable_by_all(&temp) {
        PathBuf::from("/tmp")
    } else {
        temp
    }
}

/// The whole environment of a sandboxed process: nothing of the judge's leaks in.
/// One BLAS thread: with two, numpy matmuls ran more than 2× slower on 2-core machines.
fn base_environment(work: &Path) -> Vec<(String, String)> {
    let work = work.display().to_string();
    vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME".into(), work.clone()),
        ("TMPDIR".into(), work),
        ("LANG".into(), "C.UTF-8".into()),
        ("PYTHONHASHSEED".into(), "0".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("OPENBLAS_NUM_THREADS".into(), "1".into()),
        ("OMP_NUM_THREADS".into(), "1".into()),
        ("MKL_NUM_THREADS".into(), "1".into()),
    ]
}

/// A program to run in a [`Sandbox`]: the one way the judge starts submission code, used by
/// the Python worker, by [`run_script`](crate::run_script) and by graders running compiled
/// binaries.
#[derive(Debug)]
pub struct SandboxCommand<'a> {
    sandbox: &'a Sandbox,
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    limits: Limits,
    read_paths: Vec<PathBuf>,
    device_paths: Vec<PathBuf>,
    protocol_fds: Option<(OwnedFd, OwnedFd)>,
}

impl<'a> SandboxCommand<'a> {
    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Appends several arguments, in order.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets (or replaces) one environment variable of the otherwise clean environment.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    /// Replaces the limits the program runs under (time, memory, processes, output, file size).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Lets the program read (and execute from) `path`, beyond the system folders.
    pub fn read_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.read_paths.push(path.into());
        self
    }

    /// Lets the program open the device node `path` read-write with ioctls (GPU nodes such as
    /// `/dev/nvidia0`, `/dev/nvidiactl`, `/dev/nvidia-uvm`).
    pub fn device(mut self, path: impl Into<PathBuf>) -> Self {
        self.device_paths.push(path.into());
        self
    }

    /// The child ends of a request and a response pipe, to become fds 3 and 4 (the Python
    /// worker's protocol; the fuse grader's timing requests).
    pub fn protocol_fds(mut self, requests: OwnedFd, responses: OwnedFd) -> Self {
        self.protocol_fds = Some((requests, responses));
        self
    }

    /// Starts the program; its total time limit starts now.
    pub fn spawn(self) -> Result<SandboxedProcess, RunnerError> {
        let plan = sandbox_plan();
        let sandbox = self.sandbox;
        let mut argv: Vec<OsString> = Vec::new();
        if let Some(namespaces) = &plan.namespaces {
            argv.extend(namespaces.argv().into_iter().map(OsString::from));
        }
        if let (Some(setpriv), Some((uid, gid))) = (&plan.setpriv, sandbox.owner) {
            argv.extend(
                [
                    setpriv.display().to_string(),
                    format!("--reuid={uid}"),
                    format!("--regid={gid}"),
                    "--clear-groups".into(),
                    // A uid change clears the parent-death signal that `unshare --kill-child`
                    // set; keep it so PID 1 still dies with `unshare`.
                    "--pdeathsig=keep".into(),
                    "--".into(),
                ]
                .map(OsString::from),
            );
        }
        argv.push(self.program.clone());
        argv.extend(self.args.iter().cloned());

        let mut read: Vec<PathBuf> = SYSTEM_READ_DIRS.iter().map(PathBuf::from).collect();
        read.extend(self.read_paths.iter().cloned());
        read.push(sandbox.root_dir().to_path_buf());
        let write = vec![sandbox.work.clone(), sandbox.outbox.clone()];
        let mut devices: Vec<PathBuf> = STANDARD_DEVICES.iter().map(PathBuf::from).collect();
        devices.extend(self.device_paths.iter().cloned());
        let view = sandbox.view_mount.as_ref().map(|mount| {
            let visible = Visible {
                paths: &read,
                writable: &write,
                devices: &devices,
            };
            RootView::new(mount.path(), &visible, &sandbox.work)
        });
        let fresh_proc = view.is_some();
        let access = plan.landlock_abi.map(|_| FileAccess {
            read: read
                .iter()
                .filter(|dir| !(fresh_proc && dir.as_path() == Path::new("/proc")))
                .cloned()
                .collect(),
            write: write.clone(),
            devices: devices.clone(),
            write_proc: plan.namespaces.as_ref().is_some_and(|ns| ns.user_namespace),
            fresh_proc,
        });
        let budget = match plan.budgets {
            Some(hierarchy) => Some(
                Budget::new(
                    hierarchy,
                    self.limits.memory_bytes,
                    self.limits.max_processes,
                )
                .map_err(RunnerError::io("making the sandbox's cgroups"))?,
            ),
            None => None,
        };
        let mut confinement = Confinement::new(
            &self.limits,
            sandbox.owner.is_some(),
            self.protocol_fds,
            access.as_ref(),
            budget.as_ref().map(Budget::procs).unwrap_or_default(),
            view,
        )?;

        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&sandbox.work)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: `apply` makes only async-signal-safe system calls (no allocation, no locks).
        unsafe {
            command.pre_exec(move || confinement.apply());
        }
        let mut child = command.spawn().map_err(|e| {
            RunnerError::Sandbox(format!("starting {}: {e}", argv[0].to_string_lossy()))
        })?;
        // Dropping the command closes the judge's copies of the child's pipe ends, so the
        // judge sees end-of-file as soon as the sandbox is gone.
        drop(command);
        let cap = self.limits.output_cap_bytes;
        let stdout = StreamCapture::spawn(child.stdout.take().expect("stdout is piped"), cap);
        let stderr = StreamCapture::spawn(child.stderr.take().expect("stderr is piped"), cap);
        Ok(SandboxedProcess::new(
            child,
            stdout,
            stderr,
            self.limits.total_timeout,
            sandbox.sandbox_uid(),
            budget,
        ))
    }

    /// Runs the program to its end or to the total time limit, whichever comes first, then
    /// kills whatever it left behind.
    pub fn run(self) -> Result<ProcessOutcome, RunnerError> {
        let total_timeout = self.limits.total_timeout;
        let memory_budget = self.limits.memory_bytes;
        let mut process = self.spawn()?;
        let finished = process.wait_until(process.deadline());
        let seconds = process.elapsed().as_secs_f64();
        let status = process.kill();
        process.wait_output_closed(Duration::from_secs(2));
        let timed_out = finished.is_none();
        let budget_note = if process.memory_budget_exhausted() {
            format!(
                " (the sandbox reached its memory budget of {memory_budget} bytes: the kernel \
                 ended one of its processes)"
            )
        } else {
            String::new()
        };
        Ok(ProcessOutcome {
            status: if timed_out {
                format!("timed out after {:.1} s", total_timeout.as_secs_f64())
            } else {
                describe_exit(status) + &budget_note
            },
            exit_code: if timed_out { None } else { status.code() },
            success: !timed_out && status.success(),
            timed_out,
            seconds,
            stdout: process.stdout(),
            stderr: process.stderr(),
        })
    }
}

/// How a sandboxed program ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessOutcome {
    /// "exit code 0", "killed by signal 11 (SIGSEGV)", "timed out after 30.0 s".
    pub status: String,
    /// The exit code; `None` when it timed out or was killed by a signal.
    pub exit_code: Option<i32>,
    /// Exit code 0 within the time limit.
    pub success: bool,
    /// Still running at the total time limit, and killed for it.
    pub timed_out: bool,
    /// Wall seconds from start to end (or to the kill).
    pub seconds: f64,
    /// The end of what it wrote to stdout.
    pub stdout: CapturedOutput,
    /// The end of what it wrote to stderr.
    pub stderr: CapturedOutput,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn scratch(parent: &Path, name: &str, age: Duration) -> PathBuf {
        let dir = parent.join(name);
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("worker.py"), "").unwrap();
        let when = SystemTime::now() - age;
        fs::File::open(&dir).unwrap().set_modified(when).unwrap();
        dir
    }

    #[test]
    fn only_old_scratch_folders_of_dead_judges_are_removed() {
        let parent = tempfile::tempdir().unwrap();
        let two_hours = Duration::from_secs(7200);
        // A pid above the kernel's maximum (2^22) is never alive.
        let dead_old = scratch(parent.path(), "judge-99999999-a1", two_hours);
        let dead_new = scratch(parent.path(), "judge-99999999-b2", Duration::ZERO);
        let alive_old = scratch(
            parent.path(),
            &format!("judge-{}-c3", std::process::id()),
            two_hours,
        );
        let unrelated = scratch(parent.path(), "judgement-day", two_hours);
        remove_dead_judges_scratch(parent.path());
        assert!(!dead_old.exists());
        assert!(dead_new.exists() && alive_old.exists() && unrelated.exists());
    }
}

//! What the sandbox can do on this machine, found out once per judge process by trying it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::SYSTEM_READ_DIRS;
use super::budget::{self, Budget, Hierarchy};
use super::disk::ScratchDisk;
use super::view::{RootView, Visible};

/// What the sandbox can do on this machine (for `judge doctor` and the report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxCapabilities {
    /// Submissions run in a network namespace of their own, with no interface but a down `lo`.
    pub network_isolated: bool,
    /// Submissions run as PID 1 of a PID namespace of their own: the judge's pid is out of
    /// their reach, and every descendant (a `setsid` escapee too) dies with the sandbox.
    pub pid_namespace: bool,
    /// Submissions run under an unprivileged uid of their own, not the judge's.
    pub drops_privileges: bool,
    /// `RLIMIT_NPROC` bounds the number of processes (needs the own uid above).
    pub process_limit: bool,
    /// The kernel's Landlock ABI when available: writes are confined to the scratch directory,
    /// reads to system and Python folders, TCP is denied, and (ABI ≥ 6) signals to processes
    /// outside the sandbox are refused.
    pub landlock_abi: Option<i32>,
    /// Submissions run in a mount namespace whose root holds only the folders they may use
    /// and a /proc of their own: no host process, no judge command line, no host Unix socket
    /// is visible (needs root).
    #[serde(default)]
    pub own_root: bool,
    /// Each sandbox has one memory budget (`--memory-gib`) and one process budget for all its
    /// processes together, in cgroups of its own (needs root and the memory and pids
    /// controllers).
    #[serde(default)]
    pub cgroup_budgets: bool,
    /// Each sandbox's scratch folder is a size-limited tmpfs: one disk budget for all the
    /// files it writes (needs root).
    #[serde(default)]
    pub disk_budget: bool,
    /// What is missing and what that means, one sentence each.
    pub notes: Vec<String>,
}

/// How submissions are isolated here; decided once per judge process.
#[derive(Debug, Clone)]
pub(crate) struct SandboxPlan {
    /// `unshare` and whether it needs an unprivileged user namespace (judge not root).
    pub namespaces: Option<Namespaces>,
    /// `setpriv`, when the judge is root and can drop the child to an own uid.
    pub setpriv: Option<PathBuf>,
    pub landlock_abi: Option<i32>,
    /// Whether each sandbox gets its own root and /proc (module `view`).
    pub own_view: bool,
    /// Where sandbox cgroups go, when they work here.
    pub budgets: Option<&'static Hierarchy>,
    /// Whether each scratch folder gets a size-limited tmpfs (module `disk`).
    pub scratch_disk: bool,
    pub capabilities: SandboxCapabilities,
}

#[derive(Debug, Clone)]
pub(crate) struct Namespaces {
    pub unshare: PathBuf,
    pub user_namespace: bool,
}

impl Namespaces {
    /// `unshare` arguments that run the rest of the command line as PID 1 of fresh network,
    /// IPC and PID namespaces, killed when `unshare` itself dies.
    pub(crate) fn argv(&self) -> Vec<String> {
        let mut argv = vec![self.unshare.display().to_string()];
        if self.user_namespace {
            argv.extend(["--user".into(), "--map-current-user".into()]);
        }
        argv.extend(
            ["--net", "--ipc", "--pid", "--fork", "--kill-child", "--"]
                .iter()
                .map(|s| s.to_string()),
        );
        argv
    }
}

/// What the sandbox can do on this machine.
pub fn probe_sandbox() -> SandboxCapabilities {
    sandbox_plan().capabilities.clone()
}

pub(crate) fn sandbox_plan() -> &'static SandboxPlan {
    static PLAN: OnceLock<SandboxPlan> = OnceLock::new();
    PLAN.get_or_init(probe)
}

fn probe() -> SandboxPlan {
    let mut notes = Vec::new();
    let is_root = rustix::process::geteuid().is_root();

    let namespaces = find_program("unshare").and_then(|unshare| {
        let candidate = Namespaces {
            unshare,
            user_namespace: !is_root,
        };
        let mut argv = candidate.argv();
        argv.push("true".into());
        runs_cleanly(&argv).then_some(candidate)
    });
    if namespaces.is_none() {
        notes.push(if is_root {
            "unshare (util-linux) is missing or cannot create namespaces: submissions keep the \
             network, and a setsid escapee can outlive the sandbox"
                .to_string()
        } else {
            "unprivileged user namespaces are unavailable: submissions keep the network, and a \
             setsid escapee can outlive the sandbox (run the judge as root to isolate them)"
                .to_string()
        });
    }

    let setpriv = if is_root {
        let found = find_program("setpriv").filter(|setpriv| {
            runs_cleanly(&[
                setpriv.display().to_string(),
                "--reuid=65534".into(),
                "--regid=65534".into(),
                "--clear-groups".into(),
                "--".into(),
                "true".into(),
            ])
        });
        if found.is_none() {
            notes.push(
                "setpriv (util-linux) is missing: submissions run as root, without an own uid \
                 and without a process-count limit"
                    .to_string(),
            );
        }
        found
    } else {
        notes.push(
            "the judge is not root: submissions run under the judge's own uid, so the process \
             count is not limited (RLIMIT_NPROC would count all of that user's processes)"
                .to_string(),
        );
        None
    };

    let landlock_abi = landlock_abi();
    if landlock_abi.is_none() {
        notes.push(
            "Landlock is unavailable: submissions may read and write wherever their uid may"
                .to_string(),
        );
    }
    let own_view = is_root && own_view_works();
    if !own_view {
        notes.push(
            "no mount namespace of its own (needs root): submissions see the host's /proc \
             (every process and its command line) and may connect to host Unix sockets that \
             their uid may open"
                .to_string(),
        );
    }
    let budgets = budget::hierarchy().filter(|hierarchy| budget_works(hierarchy));
    if budgets.is_none() {
        notes.push(
            "no cgroup budget (needs root and the memory and pids cgroup controllers): memory \
             and process limits hold per process only, so a forking submission may use more \
             than --memory-gib in all"
                .to_string(),
        );
    }
    let scratch_disk = is_root && scratch_disk_works();
    if !scratch_disk {
        notes.push(
            "no size-limited scratch file system (needs root): scratch disk is bounded per \
             file (RLIMIT_FSIZE), not per sandbox"
                .to_string(),
        );
    }
    if landlock_abi.is_some_and(|abi| abi < 6) {
        notes.push(
            "Landlock ABI < 6: signals to outside processes are kept out only by the PID \
             namespace and the uid"
                .to_string(),
        );
    }

    let capabilities = SandboxCapabilities {
        network_isolated: namespaces.is_some(),
        pid_namespace: namespaces.is_some(),
        drops_privileges: setpriv.is_some(),
        process_limit: setpriv.is_some(),
        landlock_abi,
        own_root: own_view,
        cgroup_budgets: budgets.is_some(),
        disk_budget: scratch_disk,
        notes,
    };
    SandboxPlan {
        namespaces,
        setpriv,
        landlock_abi,
        own_view,
        budgets,
        scratch_disk,
        capabilities,
    }
}

/// Whether a size-limited tmpfs can be mounted on a scratch folder.
fn scratch_disk_works() -> bool {
    tempfile::tempdir().is_ok_and(|dir| ScratchDisk::mount(dir.path(), 1 << 20).is_ok())
}

/// Runs `/bin/true` with `prepare` between fork and exec.
fn runs_prepared(prepare: impl FnMut() -> std::io::Result<()> + Send + Sync + 'static) -> bool {
    let mut command = Command::new("/bin/true");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: callers pass closures that make plain system calls only.
    unsafe {
        command.pre_exec(prepare);
    }
    command.status().is_ok_and(|status| status.success())
}

/// Whether a child can enter a root of its own built from the system folders.
fn own_view_works() -> bool {
    let Ok(mount) = tempfile::tempdir() else {
        return false;
    };
    let paths: Vec<PathBuf> = SYSTEM_READ_DIRS.iter().map(PathBuf::from).collect();
    let visible = Visible {
        paths: &paths,
        writable: &[],
        devices: &[],
    };
    let view = RootView::new(mount.path(), &visible, Path::new("/"));
    runs_prepared(move || view.enter())
}

/// Whether a child can be put into a budget of its own.
fn budget_works(hierarchy: &Hierarchy) -> bool {
    let Ok(budget) = Budget::new(hierarchy, 64 << 20, 16) else {
        return false;
    };
    let procs = budget.procs();
    runs_prepared(move || budget::join(&procs))
}

/// The kernel's Landlock ABI version, None when Landlock is absent or disabled.
fn landlock_abi() -> Option<i32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_long = 1;
    // SAFETY: the version query takes no pointer the kernel writes to (attr = NULL, size = 0).
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (version > 0).then_some(version as i32)
}

/// Looks `name` up in the standard system folders (not the judge's own PATH, which may point
/// into a user's home that the sandbox cannot read).
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
}

fn runs_cleanly(argv: &[String]) -> bool {
    Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

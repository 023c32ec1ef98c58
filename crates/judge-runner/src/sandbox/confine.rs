//! What the child does to itself between `fork` and `exec`: its own session, its budget
//! (cgroups), its own view of the file system, the protocol pipes on fds 3 and 4, resource
//! limits, and the Landlock ruleset.
//!
//! Everything that allocates or opens paths happens in the parent ([`Confinement::new`]);
//! [`Confinement::apply`] runs in the forked child and makes only plain system calls.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, Scope,
};
use rustix::process::{Resource, Rlimit};

use super::budget;
use super::view::RootView;
use crate::error::RunnerError;
use crate::limits::Limits;

/// The newest Landlock ABI this code was written and tested against; older kernels get the
/// subset they support (best effort), newer ones are not asked for rights we never vetted.
const LANDLOCK_ABI: ABI = ABI::V6;

/// File-system rights of a sandboxed process, as Landlock rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct FileAccess {
    /// Folders readable and executable (system folders, the Python prefixes, the scratch root).
    pub read: Vec<PathBuf>,
    /// Folders fully writable (the scratch work folder and outbox).
    pub write: Vec<PathBuf>,
    /// Files opened read-write, ioctls included (`/dev/null`, GPU device nodes).
    pub devices: Vec<PathBuf>,
    /// Write access to procfs, which `unshare --map-current-user` needs to write its uid map.
    pub write_proc: bool,
    /// The sandbox mounts a /proc of its own: its rule can only be added once it exists.
    pub fresh_proc: bool,
}

pub(crate) struct Confinement {
    /// The child ends of the request and response pipes, to become fds 3 and 4.
    protocol_fds: Option<(OwnedFd, OwnedFd)>,
    rlimits: Vec<(Resource, u64)>,
    /// The Landlock ruleset, and the rights on the fresh /proc still to be added to it.
    landlock: Option<(OwnedFd, Option<u64>)>,
    /// `cgroup.procs` of the sandbox's budget, kept open by the judge.
    budget: Vec<RawFd>,
    view: Option<RootView>,
}

impl Confinement {
    pub(crate) fn new(
        limits: &Limits,
        enforce_process_limit: bool,
        protocol_fds: Option<(OwnedFd, OwnedFd)>,
        access: Option<&FileAccess>,
        budget: Vec<RawFd>,
        view: Option<RootView>,
    ) -> Result<Confinement, RunnerError> {
        let mut rlimits = vec![
            (Resource::As, limits.memory_bytes),
            (Resource::Fsize, limits.file_size_bytes),
            (Resource::Core, 0),
        ];
        if enforce_process_limit {
            rlimits.push((Resource::Nproc, limits.max_processes));
        }
        // Move the child ends above the fds the child will see, so the dup2 onto 3 and 4
        // cannot clobber one of them.
        let protocol_fds = protocol_fds
            .map(|(requests, responses)| -> io::Result<_> {
                Ok((
                    rustix::io::fcntl_dupfd_cloexec(&requests, 10)?,
                    rustix::io::fcntl_dupfd_cloexec(&responses, 10)?,
                ))
            })
            .transpose()
            .map_err(RunnerError::io("duplicating the protocol pipes"))?;
        let landlock = access
            .map(|access| -> Result<_, Box<dyn std::error::Error>> {
                let ruleset: Option<OwnedFd> = landlock_ruleset(access)?.into();
                let proc_rights = access
                    .fresh_proc
                    .then(|| AccessFs::from_read(LANDLOCK_ABI).bits());
                Ok(ruleset.map(|fd| (fd, proc_rights)))
            })
            .transpose()
            .map_err(|e| RunnerError::Sandbox(format!("building the Landlock ruleset: {e}")))?
            .flatten();
        Ok(Confinement {
            protocol_fds,
            rlimits,
            landlock,
            budget,
            view,
        })
    }

    /// Runs in the forked child, before `exec`.
    pub(crate) fn apply(&mut self) -> io::Result<()> {
        rustix::process::setsid()?;
        // If the judge dies (killed, Ctrl-C), nothing is left to enforce the time limits:
        // the kernel kills the sandbox's first process then, and with it, through unshare's
        // --kill-child and the PID namespace, every process of the submission.
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
            return Err(io::Error::last_os_error());
        }
        budget::join(&self.budget)?;
        // Before Landlock, which forbids mounting.
        if let Some(view) = &self.view {
            view.enter()?;
        }
        for &(resource, limit) in &self.rlimits {
            let limit = (limit != u64::MAX).then_some(limit);
            rustix::process::setrlimit(
                resource,
                Rlimit {
                    current: limit,
                    maximum: limit,
                },
            )?;
        }
        if let Some((ruleset, proc_rights)) = &self.landlock {
            if let Some(rights) = proc_rights {
                allow_beneath(ruleset, c"/proc", *rights)?;
            }
            restrict_self(ruleset)?;
        }
        // After Landlock: its ruleset fd may well be number 3 or 4.
        if let Some((requests, responses)) = &self.protocol_fds {
            // SAFETY: dup2 onto fixed numbers; the sources are open fds ≥ 10 owned by us, and
            // the new fds 3 and 4 are meant to be inherited across exec (dup2 clears CLOEXEC).
            unsafe {
                if libc::dup2(requests.as_raw_fd(), 3) < 0
                    || libc::dup2(responses.as_raw_fd(), 4) < 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        // Whatever else the judge has open (another sandbox's pipes, say) must not leak in.
        // CLOSE_RANGE_CLOEXEC rather than closing: std's own exec-error pipe must stay open.
        let first_private_fd = if self.protocol_fds.is_some() { 5 } else { 3 };
        // SAFETY: close_range only marks descriptors close-on-exec.
        unsafe {
            libc::syscall(
                libc::SYS_close_range,
                first_private_fd as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
        }
        Ok(())
    }
}

/// `landlock_add_rule` for the folder `path` (opened here, in the child's own view).
fn allow_beneath(ruleset: &OwnedFd, path: &std::ffi::CStr, rights: u64) -> io::Result<()> {
    /// `struct landlock_path_beneath_attr` of the kernel's uapi.
    #[repr(C, packed)]
    struct PathBeneathAttr {
        allowed_access: u64,
        parent_fd: i32,
    }
    const LANDLOCK_RULE_PATH_BENEATH: libc::c_long = 1;
    let dir = rustix::fs::open(
        path,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let attr = PathBeneathAttr {
        allowed_access: rights,
        parent_fd: dir.as_raw_fd(),
    };
    // SAFETY: the attribute lives across the call; the kernel only reads it.
    let added = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset.as_raw_fd(),
            LANDLOCK_RULE_PATH_BENEATH,
            &attr as *const PathBeneathAttr,
            0,
        )
    };
    if added != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Enforces the ruleset on the child (and, through exec, on everything it becomes).
fn restrict_self(ruleset: &OwnedFd) -> io::Result<()> {
    // SAFETY: prctl and landlock_restrict_self with integer arguments only.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn landlock_ruleset(access: &FileAccess) -> Result<RulesetCreated, Box<dyn std::error::Error>> {
    let abi = LANDLOCK_ABI;
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))?
        // Handled with no rule allowing any port: every TCP bind and connect is refused, a
        // second wall behind the network namespace.
        .handle_access(AccessNet::from_all(abi))?
        .scope(Scope::from_all(abi))?
        .create()?;
    let existing = |paths: &[PathBuf]| -> Vec<PathBuf> {
        paths.iter().filter(|p| p.exists()).cloned().collect()
    };
    for dir in existing(&access.read) {
        ruleset = ruleset.add_rule(PathBeneath::new(
            PathFd::new(&dir)?,
            AccessFs::from_read(abi),
        ))?;
    }
    for dir in existing(&access.write) {
        ruleset = ruleset.add_rule(PathBeneath::new(
            PathFd::new(&dir)?,
            AccessFs::from_all(abi),
        ))?;
    }
    for file in existing(&access.devices) {
        ruleset = ruleset.add_rule(PathBeneath::new(
            PathFd::new(&file)?,
            AccessFs::from_file(abi),
        ))?;
    }
    if access.write_proc {
        ruleset = ruleset.add_rule(PathBeneath::new(
            PathFd::new("/proc")?,
            AccessFs::from_read(abi) | AccessFs::WriteFile,
        ))?;
    }
    Ok(ruleset)
}

//! The sandbox's own view of the file system: a private mount namespace whose root is a fresh
//! tmpfs holding only what the sandbox may use (the system folders, the Python prefixes, the
//! scratch folder, a few device nodes) and a /proc of its own.
//!
//! What is not bound in does not exist for the sandbox: the host's pathname Unix sockets (in
//! /tmp, /run, /var or a home folder) cannot even be named, let alone connected to, and
//! neither can other tenants' files. The /proc mounted here hides every process the sandbox's
//! uid may not trace (`hidepid=invisible`): the judge, its command line, the host's pids.
//!
//! [`RootView::new`] plans every step (and allocates) in the parent; [`RootView::enter`] runs
//! between fork and exec, as root, before the Landlock ruleset is applied (a process under
//! Landlock may not mount), and makes only plain system calls.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Device nodes every sandbox gets (beyond those a command asks for, like GPUs).
pub(crate) const STANDARD_DEVICES: [&str; 5] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// One step of building the new root, with its paths as C strings.
#[derive(Debug)]
enum Step {
    /// An empty directory (mount point or parent of one).
    Dir(CString),
    /// An empty file, the mount point of a bound file.
    File(CString),
    /// A symbolic link: (its target, where it goes).
    Symlink(CString, CString),
    /// A recursive bind mount of a host path: (source, target, read-only).
    Bind(CString, CString, bool),
    /// A tmpfs: (target, mount options).
    Tmpfs(CString, CString),
    /// A fresh procfs that hides processes the reader may not trace.
    Proc(CString),
}

/// Everything needed to move a forked child into its own root.
#[derive(Debug)]
pub(crate) struct RootView {
    /// Judge-created empty folder the new root's tmpfs is mounted on.
    new_root: CString,
    steps: Vec<Step>,
    /// The working folder to change to once inside (the old cwd belongs to the old root).
    work: CString,
}

/// What a sandbox may see besides its devices.
pub(crate) struct Visible<'a> {
    /// Host folders and files bound in, read-only unless one of `writable` lies beneath.
    pub paths: &'a [PathBuf],
    /// Folders the sandbox writes (the scratch work folder and outbox).
    pub writable: &'a [PathBuf],
    /// Device nodes bound in.
    pub devices: &'a [PathBuf],
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("paths hold no NUL byte")
}

impl RootView {
    /// Plans the view below `new_root` (an empty folder the judge owns); `work` becomes the
    /// current folder.
    pub(crate) fn new(new_root: &Path, visible: &Visible<'_>, work: &Path) -> RootView {
        let mut plan = Planner {
            new_root: new_root.to_path_buf(),
            steps: Vec::new(),
            made: Vec::new(),
        };
        // /dev and /proc are made here, never bound from the host: the host's /dev holds
        // sockets (/dev/log) and shared memory, its /proc every process.
        let mut paths: Vec<PathBuf> = visible
            .paths
            .iter()
            .filter(|p| !p.starts_with("/dev") && !p.starts_with("/proc"))
            .filter(|p| p.symlink_metadata().is_ok())
            .cloned()
            .collect();
        // A linked path is recreated as the link, so its target must be there too.
        let targets: Vec<PathBuf> = paths
            .iter()
            .filter(|p| p.is_symlink())
            .filter_map(|p| p.canonicalize().ok())
            .collect();
        paths.extend(targets);
        paths.sort();
        paths.dedup();
        // A path below one already bound is visible through that bind (which also keeps us
        // from creating mount points inside a host folder).
        let mut kept: Vec<PathBuf> = Vec::new();
        for path in paths {
            if !kept.iter().any(|k| path.starts_with(k)) {
                kept.push(path);
            }
        }
        for path in &kept {
            let read_only = !visible.writable.iter().any(|w| w.starts_with(path));
            plan.bind(path, read_only);
        }
        let dev = Path::new("/dev");
        plan.tmpfs(dev, "mode=0755,size=64k");
        for device in STANDARD_DEVICES
            .iter()
            .map(PathBuf::from)
            .chain(visible.devices.iter().cloned())
        {
            if device.exists() {
                plan.bind(&device, false);
            }
        }
        for (name, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            plan.steps.push(Step::Symlink(
                CString::new(target).expect("no NUL"),
                c_path(&plan.inside(&dev.join(name))),
            ));
        }
        let proc = Path::new("/proc");
        plan.dirs_to(proc);
        plan.steps.push(Step::Proc(c_path(&plan.inside(proc))));
        RootView {
            new_root: c_path(new_root),
            steps: plan.steps,
            work: c_path(work),
        }
    }

    /// Runs in the forked child: a private mount namespace, the new root built and entered.
    pub(crate) fn enter(&self) -> io::Result<()> {
        use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};
        // SAFETY: a new mount namespace only; the fd table stays shared as it was.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)? };
        // Nothing mounted from here on may propagate back to the host.
        rustix::mount::mount_change(
            c"/",
            MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
        )?;
        let plain = MountFlags::NOSUID | MountFlags::NODEV;
        rustix::mount::mount(
            c"tmpfs",
            self.new_root.as_c_str(),
            c"tmpfs",
            plain,
            c"mode=0755,size=1m",
        )?;
        for step in &self.steps {
            match step {
                Step::Dir(path) => match rustix::fs::mkdir(path.as_c_str(), 0o755.into()) {
                    Err(rustix::io::Errno::EXIST) => {}
                    other => other?,
                },
                Step::File(path) => {
                    rustix::fs::open(
                        path.as_c_str(),
                        rustix::fs::OFlags::CREATE | rustix::fs::OFlags::WRONLY,
                        0o644.into(),
                    )?;
                }
                Step::Symlink(target, path) => {
                    rustix::fs::symlink(target.as_c_str(), path.as_c_str())?
                }
                Step::Bind(source, target, read_only) => {
                    rustix::mount::mount_bind_recursive(source.as_c_str(), target.as_c_str())?;
                    if *read_only {
                        rustix::mount::mount_remount(
                            target.as_c_str(),
                            MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID,
                            c"",
                        )?;
                    }
                }
                Step::Tmpfs(target, options) => rustix::mount::mount(
                    c"tmpfs",
                    target.as_c_str(),
                    c"tmpfs",
                    plain,
                    options.as_c_str(),
                )?,
                Step::Proc(target) => rustix::mount::mount(
                    c"proc",
                    target.as_c_str(),
                    c"proc",
                    plain | MountFlags::NOEXEC,
                    c"hidepid=invisible",
                )?,
            }
        }
        // Swap roots and let go of the old one (the `pivot_root(".", ".")` idiom), then leave
        // the old cwd, which still points into the host's tree.
        rustix::process::chdir(self.new_root.as_c_str())?;
        rustix::process::pivot_root(c".", c".")?;
        rustix::mount::unmount(c".", UnmountFlags::DETACH)?;
        rustix::process::chdir(self.work.as_c_str())?;
        Ok(())
    }
}

/// Builds the step list, creating each mount point's parents once.
struct Planner {
    new_root: PathBuf,
    steps: Vec<Step>,
    made: Vec<PathBuf>,
}

impl Planner {
    /// Where the host path `path` lies below the new root.
    fn inside(&self, path: &Path) -> PathBuf {
        let relative: PathBuf = path
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        self.new_root.join(relative)
    }

    /// Directories from the new root down to `path` (included).
    fn dirs_to(&mut self, path: &Path) {
        let mut partial = PathBuf::from("/");
        for component in path
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
        {
            partial.push(component);
            if !self.made.contains(&partial) {
                self.made.push(partial.clone());
                self.steps.push(Step::Dir(c_path(&self.inside(&partial))));
            }
        }
    }

    fn bind(&mut self, path: &Path, read_only: bool) {
        if let Some(parent) = path.parent() {
            self.dirs_to(parent);
        }
        let target = c_path(&self.inside(path));
        // A link (merged /usr's /bin → usr/bin) is recreated, not followed: binding its
        // target here would hide that the two are one.
        if let Ok(link) = std::fs::read_link(path) {
            self.steps.push(Step::Symlink(c_path(&link), target));
            return;
        }
        if path.is_dir() {
            self.made.push(path.to_path_buf());
            self.steps.push(Step::Dir(target.clone()));
        } else {
            self.steps.push(Step::File(target.clone()));
        }
        self.steps.push(Step::Bind(c_path(path), target, read_only));
    }

    fn tmpfs(&mut self, path: &Path, options: &str) {
        self.dirs_to(path);
        self.steps.push(Step::Tmpfs(
            c_path(&self.inside(path)),
            CString::new(options).expect("no NUL"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binds(view: &RootView) -> Vec<(String, bool)> {
        view.steps
            .iter()
            .filter_map(|step| match step {
                Step::Bind(source, _, read_only) => {
                    Some((source.to_string_lossy().into_owned(), *read_only))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn nested_paths_are_bound_once_links_recreated_and_only_scratch_writable() {
        let host = tempfile::tempdir().unwrap();
        let system = host.path().join("usr");
        let scratch = host.path().join("scratch");
        fs_dirs(&[&system.join("lib"), &scratch.join("work")]);
        let link = host.path().join("bin");
        std::os::unix::fs::symlink("usr", &link).unwrap();
        let paths = [
            system.join("lib"),
            system.clone(),
            link.clone(),
            scratch.clone(),
        ];
        let writable = [scratch.join("work")];
        let view = RootView::new(
            Path::new("/new-root"),
            &Visible {
                paths: &paths,
                writable: &writable,
                devices: &[],
            },
            &scratch.join("work"),
        );
        assert_eq!(
            binds(&view)
                .into_iter()
                .filter(|(source, _)| source.starts_with(&*host.path().to_string_lossy()))
                .collect::<Vec<_>>(),
            vec![
                (scratch.display().to_string(), false),
                (system.display().to_string(), true),
            ]
        );
        let inside_link = c_path(&Path::new("/new-root").join(link.strip_prefix("/").unwrap()));
        assert!(view.steps.iter().any(
            |step| matches!(step, Step::Symlink(target, at) if target.as_bytes() == b"usr" && *at == inside_link)
        ));
        assert!(
            view.steps
                .iter()
                .any(|step| matches!(step, Step::Proc(at) if at.as_bytes() == b"/new-root/proc"))
        );
    }

    fn fs_dirs(dirs: &[&Path]) {
        for dir in dirs {
            std::fs::create_dir_all(dir).unwrap();
        }
    }
}

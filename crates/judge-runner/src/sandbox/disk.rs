//! One scratch-disk budget per sandbox: its scratch folder is a size-limited tmpfs, so all
//! its files together (not each file, as `RLIMIT_FSIZE` counts) fit in the budget. What the
//! sandbox writes there is memory charged to its cgroup, so it counts against its memory
//! budget as well.
//!
//! The tmpfs is mounted on the scratch folder in the judge's own mount namespace (the judge
//! copies the submission into it and reads results out of it), and unmounted when the
//! sandbox is dropped; one left behind by a killed judge is unmounted by the next one's sweep.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, UnmountFlags};

/// What a sandbox may write in all, beyond the copy of its submission.
pub(crate) const SCRATCH_WRITE_BYTES: u64 = 2 << 30;

/// A size-limited tmpfs on a scratch folder, unmounted on drop.
#[derive(Debug)]
pub(crate) struct ScratchDisk {
    dir: PathBuf,
}

fn options(size: u64) -> CString {
    CString::new(format!("size={size},mode=0755")).expect("no NUL")
}

impl ScratchDisk {
    /// Mounts a tmpfs of `size` bytes on `dir`.
    pub(crate) fn mount(dir: &Path, size: u64) -> io::Result<ScratchDisk> {
        rustix::mount::mount(
            c"tmpfs",
            dir,
            c"tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV,
            options(size).as_c_str(),
        )?;
        Ok(ScratchDisk {
            dir: dir.to_path_buf(),
        })
    }

    /// Shrinks the budget to what is used now (the copy of the submission) plus `more`.
    pub(crate) fn limit_to_used_plus(&self, more: u64) -> io::Result<()> {
        let stat = rustix::fs::statvfs(&self.dir)?;
        let used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize;
        rustix::mount::mount_remount(
            &self.dir,
            MountFlags::NOSUID | MountFlags::NODEV,
            options(used + more).as_c_str(),
        )?;
        Ok(())
    }
}

impl Drop for ScratchDisk {
    fn drop(&mut self) {
        unmount(&self.dir);
    }
}

/// Detaches whatever is mounted on `dir` (nothing happens when nothing is), never through a
/// link.
pub(crate) fn unmount(dir: &Path) {
    if let Ok(path) = CString::new(dir.as_os_str().as_bytes()) {
        let _ = rustix::mount::unmount(
            path.as_c_str(),
            UnmountFlags::DETACH | UnmountFlags::NOFOLLOW,
        );
    }
}

//! Walking a folder a submission controls: through directory descriptors, never through a link,
//! within limits on depth, entries, path length and bytes.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use super::{kind_of, read_flags};

/// Bounds of a walk over a folder a submission controls, so that 100 000 tiny files, nesting
/// past `PATH_MAX` or a sparse file of terabytes is refused with its reason instead of
/// exhausting the judge's time, memory or disk.
#[derive(Debug, Clone, Copy)]
pub struct TreeLimits {
    /// Deepest folder nesting below the root.
    pub max_depth: usize,
    /// Most entries of any kind (files, folders, links, others).
    pub max_entries: usize,
    /// Longest relative path in bytes: copies of the tree stay well below `PATH_MAX`.
    pub max_path_bytes: usize,
    /// Most bytes the regular files occupy on disk (sparse files count by allocated blocks).
    pub max_allocated_bytes: u64,
    /// Most bytes the regular files claim to hold (what a reader of every file would read).
    pub max_apparent_bytes: u64,
}

/// The limits of a submission folder: code plus small artifacts (the ternary challenge's
/// weights are well under 1 GiB on disk).
pub const SUBMISSION_TREE: TreeLimits = TreeLimits {
    max_depth: 32,
    max_entries: 20_000,
    max_path_bytes: 1024,
    max_allocated_bytes: 2 << 30,
    max_apparent_bytes: 4 << 30,
};

/// One entry met by [`walk_tree`], never reached through a symlink.
#[derive(Debug)]
pub enum TreeEntry {
    /// A folder, met before its contents.
    Folder,
    /// A regular file, opened (read-only, non-blocking) with its `fstat`.
    File {
        /// The open file.
        file: File,
        /// Its `fstat`, taken on the descriptor.
        stat: rustix::fs::Stat,
    },
    /// A symbolic link and its target text, never followed.
    Symlink {
        /// What the link says, unresolved.
        target: PathBuf,
    },
    /// A FIFO, socket or device node, never opened.
    Other {
        /// What it is, in words ("FIFO", "socket").
        kind: &'static str,
    },
}

/// Why a submission folder could not be walked: the submission's fault, with the reason.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// An entry could not be opened, listed or inspected, or changed while it was walked.
    #[error("{path}: {source}")]
    Unreadable {
        /// The entry concerned.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The root, or a folder met on the way, is a symbolic link.
    #[error("{path} is a symbolic link, which the judge does not follow")]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A [`TreeLimits`] bound was passed; the text completes "the folder …" ("holds more than
    /// 20000 entries").
    #[error("the folder {0}")]
    OverLimit(String),
}

/// A [`walk_tree`] failure: the tree's, or the visitor's own.
#[derive(Debug, thiserror::Error)]
pub enum WalkError<E> {
    /// The folder could not be walked.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The visitor returned this error; the walk stopped there.
    #[error(transparent)]
    Visit(E),
}

struct Walk<'a, E> {
    limits: &'a TreeLimits,
    skip: &'a dyn Fn(&OsStr) -> bool,
    visit: &'a mut dyn FnMut(&Path, TreeEntry) -> Result<(), E>,
    entries: usize,
    allocated: u64,
    apparent: u64,
}

/// Visits every entry below `root` (sorted by name per folder, parents before children) through
/// directory descriptors: no path is ever resolved through a link, nothing is opened blocking,
/// and the walk stops with [`TreeError::OverLimit`] as soon as `limits` is passed. `root`
/// itself must be a folder reached without following a final symlink. Names for which `skip`
/// holds are neither visited nor counted.
pub fn walk_tree<E>(
    root: &Path,
    limits: &TreeLimits,
    skip: &dyn Fn(&OsStr) -> bool,
    visit: &mut dyn FnMut(&Path, TreeEntry) -> Result<(), E>,
) -> Result<(), WalkError<E>> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::open(root, flags, Mode::empty()).map_err(|e| tree_error(root, e))?;
    let mut walk = Walk {
        limits,
        skip,
        visit,
        entries: 0,
        allocated: 0,
        apparent: 0,
    };
    walk.folder(fd, root, Path::new(""), 0)
}

fn tree_error(path: &Path, errno: rustix::io::Errno) -> TreeError {
    if errno == rustix::io::Errno::LOOP || errno == rustix::io::Errno::NOTDIR {
        // O_NOFOLLOW on a link: ELOOP for files, ENOTDIR with O_DIRECTORY.
        if rustix::fs::lstat(path).is_ok_and(|s| {
            rustix::fs::FileType::from_raw_mode(s.st_mode) == rustix::fs::FileType::Symlink
        }) {
            return TreeError::Symlink {
                path: path.to_path_buf(),
            };
        }
    }
    TreeError::Unreadable {
        path: path.to_path_buf(),
        source: errno.into(),
    }
}

impl<E> Walk<'_, E> {
    fn over(&self, what: String) -> WalkError<E> {
        WalkError::Tree(TreeError::OverLimit(what))
    }

    fn folder(
        &mut self,
        fd: OwnedFd,
        root: &Path,
        relative: &Path,
        depth: usize,
    ) -> Result<(), WalkError<E>> {
        use std::os::unix::ffi::OsStrExt;
        let here = root.join(relative);
        let mut dir = rustix::fs::Dir::new(fd).map_err(|e| tree_error(&here, e))?;
        let mut names = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(|e| tree_error(&here, e))?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." || (self.skip)(name) {
                continue;
            }
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                let max = self.limits.max_entries;
                return Err(self.over(format!("holds more than {max} entries")));
            }
            names.push(name.to_os_string());
        }
        names.sort();
        let dir_fd = dir.fd().map_err(|e| tree_error(&here, e))?;
        for name in names {
            let child = relative.join(&name);
            let full = root.join(&child);
            if child.as_os_str().len() > self.limits.max_path_bytes {
                let max = self.limits.max_path_bytes;
                return Err(self.over(format!(
                    "has a path longer than {max} bytes below it: {}…",
                    String::from_utf8_lossy(&child.as_os_str().as_bytes()[..64])
                )));
            }
            let stat = rustix::fs::statat(dir_fd, &name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| tree_error(&full, e))?;
            match rustix::fs::FileType::from_raw_mode(stat.st_mode) {
                rustix::fs::FileType::Directory => {
                    if depth + 1 > self.limits.max_depth {
                        let max = self.limits.max_depth;
                        return Err(self.over(format!("nests folders deeper than {max} levels")));
                    }
                    let flags =
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                    let sub = rustix::fs::openat(dir_fd, &name, flags, Mode::empty())
                        .map_err(|e| tree_error(&full, e))?;
                    (self.visit)(&child, TreeEntry::Folder).map_err(WalkError::Visit)?;
                    self.folder(sub, root, &child, depth + 1)?;
                }
                rustix::fs::FileType::RegularFile => {
                    let fd = rustix::fs::openat(dir_fd, &name, read_flags(), Mode::empty())
                        .map_err(|e| tree_error(&full, e))?;
                    let stat = rustix::fs::fstat(&fd).map_err(|e| tree_error(&full, e))?;
                    if rustix::fs::FileType::from_raw_mode(stat.st_mode)
                        != rustix::fs::FileType::RegularFile
                    {
                        return Err(WalkError::Tree(TreeError::Unreadable {
                            path: full,
                            source: io::Error::other("changed while the judge read the folder"),
                        }));
                    }
                    self.allocated += stat.st_blocks as u64 * 512;
                    self.apparent += stat.st_size as u64;
                    if self.allocated > self.limits.max_allocated_bytes {
                        let max = self.limits.max_allocated_bytes;
                        return Err(self.over(format!("occupies more than {max} bytes on disk")));
                    }
                    if self.apparent > self.limits.max_apparent_bytes {
                        let max = self.limits.max_apparent_bytes;
                        return Err(self.over(format!(
                            "holds files of more than {max} bytes in all (sparse files count \
                             by their size)"
                        )));
                    }
                    let file = File::from(fd);
                    (self.visit)(&child, TreeEntry::File { file, stat })
                        .map_err(WalkError::Visit)?;
                }
                rustix::fs::FileType::Symlink => {
                    let target = rustix::fs::readlinkat(dir_fd, &name, Vec::new())
                        .map_err(|e| tree_error(&full, e))?;
                    let target = PathBuf::from(OsStr::from_bytes(target.to_bytes()));
                    (self.visit)(&child, TreeEntry::Symlink { target })
                        .map_err(WalkError::Visit)?;
                }
                other => {
                    (self.visit)(
                        &child,
                        TreeEntry::Other {
                            kind: kind_of(other),
                        },
                    )
                    .map_err(WalkError::Visit)?;
                }
            }
        }
        Ok(())
    }
}

//! File access inside folders a submission controls.
//!
//! The judge runs as root and reads files a hostile submission could have planted: a symlink to
//! `/etc/shadow`, a FIFO that blocks a reader forever, `/dev/zero`, a sparse file of 4 GiB. Every
//! read of a submission file goes through here: only regular files are opened, never through a
//! symbolic link (`O_NOFOLLOW`, and `RESOLVE_NO_SYMLINKS` below a trusted root), never blocking
//! (`O_NONBLOCK`), and never more bytes than the caller's cap. Files the judge creates in such a
//! folder are created exclusively (`O_EXCL | O_NOFOLLOW`), so a planted link is never written
//! through.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};

mod tree;

pub use tree::{SUBMISSION_TREE, TreeEntry, TreeError, TreeLimits, WalkError, walk_tree};

/// Why a submission file was not read.
#[derive(Debug, thiserror::Error)]
pub enum UntrustedFileError {
    /// Opening, inspecting or reading the file failed (missing files included).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The file, or a folder on the way to it, is a symbolic link.
    #[error("{path} is a symbolic link, which the judge does not follow")]
    Symlink {
        /// The path as asked for.
        path: PathBuf,
    },
    /// A folder, FIFO, socket or device node where a regular file was expected.
    #[error("{path} is not a regular file but a {kind}")]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead, in words ("FIFO", "character device").
        kind: &'static str,
    },
    /// More bytes than the caller's cap.
    #[error("{path} holds {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its apparent size, or the bytes read when it held more than its size said.
        size: u64,
        /// The cap it passed.
        limit: u64,
    },
    /// A relative path that is empty or has `..`, `.` or a root in it.
    #[error("{path} is not a plain relative path below its folder")]
    Escapes {
        /// The root joined with the relative path.
        path: PathBuf,
    },
}

impl UntrustedFileError {
    /// Whether the file simply is not there (the usual "nothing to reuse" case).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

fn kind_of(file_type: rustix::fs::FileType) -> &'static str {
    use rustix::fs::FileType;
    match file_type {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "file of unknown type",
    }
}

/// The flags of every read-only open: no following a final symlink, no blocking on a FIFO, no
/// controlling terminal, no leak into children.
fn read_flags() -> OFlags {
    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC
}

/// Checks an opened descriptor is a regular file (closing the race between a path check and
/// the open).
fn regular(fd: OwnedFd, path: &Path) -> Result<File, UntrustedFileError> {
    let stat = rustix::fs::fstat(&fd).map_err(|e| io_error(path, e.into()))?;
    let file_type = rustix::fs::FileType::from_raw_mode(stat.st_mode);
    if file_type != rustix::fs::FileType::RegularFile {
        return Err(UntrustedFileError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(file_type),
        });
    }
    Ok(File::from(fd))
}

fn io_error(path: &Path, source: io::Error) -> UntrustedFileError {
    if source.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
        return UntrustedFileError::Symlink {
            path: path.to_path_buf(),
        };
    }
    UntrustedFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens `path` for reading only if it is a regular file reached without following a symlink
/// in its last component. A device node or FIFO is refused by `lstat` before it is opened.
pub fn open_regular(path: &Path) -> Result<File, UntrustedFileError> {
    let stat = rustix::fs::lstat(path).map_err(|e| io_error(path, e.into()))?;
    let file_type = rustix::fs::FileType::from_raw_mode(stat.st_mode);
    match file_type {
        rustix::fs::FileType::RegularFile => {}
        rustix::fs::FileType::Symlink => {
            return Err(UntrustedFileError::Symlink {
                path: path.to_path_buf(),
            });
        }
        other => {
            return Err(UntrustedFileError::NotRegular {
                path: path.to_path_buf(),
                kind: kind_of(other),
            });
        }
    }
    let fd = rustix::fs::open(path, read_flags(), Mode::empty())
        .map_err(|e| io_error(path, e.into()))?;
    regular(fd, path)
}

/// Opens `relative` below the trusted folder `root` with no symlink anywhere on the way
/// (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`; on kernels without it, one
/// `O_NOFOLLOW` open per component).
pub fn open_regular_beneath(root: &Path, relative: &Path) -> Result<File, UntrustedFileError> {
    let full = root.join(relative);
    let plain = !relative.as_os_str().is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(UntrustedFileError::Escapes { path: full });
    }
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root_fd =
        rustix::fs::open(root, dir_flags, Mode::empty()).map_err(|e| io_error(root, e.into()))?;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    match rustix::fs::openat2(&root_fd, relative, read_flags(), Mode::empty(), resolve) {
        Ok(fd) => regular(fd, &full),
        Err(rustix::io::Errno::NOSYS) | Err(rustix::io::Errno::PERM) => {
            open_by_components(root_fd, relative, &full)
        }
        Err(e) => Err(io_error(&full, e.into())),
    }
}

fn open_by_components(
    root_fd: OwnedFd,
    relative: &Path,
    full: &Path,
) -> Result<File, UntrustedFileError> {
    let components: Vec<_> = relative.components().collect();
    let (last, folders) = components.split_last().expect("checked non-empty");
    let mut dir = root_fd;
    for folder in folders {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        dir = rustix::fs::openat(&dir, folder.as_os_str(), flags, Mode::empty())
            .map_err(|e| io_error(full, e.into()))?;
    }
    let fd = rustix::fs::openat(&dir, last.as_os_str(), read_flags(), Mode::empty())
        .map_err(|e| io_error(full, e.into()))?;
    regular(fd, full)
}

/// Reads at most `limit` bytes of an opened file; more is an error, not a truncation, so a
/// decoder never sees a silently cut file. Sparse files are refused by their apparent size
/// before anything is read.
pub fn read_capped_from(
    file: File,
    path: &Path,
    limit: u64,
) -> Result<Vec<u8>, UntrustedFileError> {
    let size = file.metadata().map_err(|e| io_error(path, e))?.len();
    let too_large = |size| UntrustedFileError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit,
    };
    if size > limit {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// [`open_regular`] then [`read_capped_from`].
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, UntrustedFileError> {
    read_capped_from(open_regular(path)?, path, limit)
}

/// [`read_capped`] as UTF-8 text (invalid UTF-8 is an `InvalidData` error).
pub fn read_capped_string(path: &Path, limit: u64) -> Result<String, UntrustedFileError> {
    String::from_utf8(read_capped(path, limit)?).map_err(|e| UntrustedFileError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidData, e),
    })
}

/// Creates `dir/name` for writing only if nothing of that name exists, never through a link.
pub fn create_new(dir: &Path, name: &str, mode: u32) -> io::Result<File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::open(dir.join(name), flags, Mode::from_raw_mode(mode))?;
    Ok(File::from(fd))
}

/// Copies a regular file's data into `dest` hole by hole (`SEEK_DATA`/`SEEK_HOLE`), so a
/// sparse file costs its allocated size, not its apparent one. At most `budget` bytes are
/// written; more is an error before they are written. Returns the bytes written.
pub fn copy_sparse(source: &File, dest: &mut File, budget: u64) -> io::Result<u64> {
    use rustix::fs::SeekFrom;
    use std::io::{Seek, Write};
    let size = source.metadata()?.len();
    let mut written = 0u64;
    let mut offset = 0u64;
    while offset < size {
        let data = match rustix::fs::seek(source, SeekFrom::Data(offset)) {
            Ok(data) => data,
            Err(rustix::io::Errno::NXIO) => break, // only a hole remains
            Err(e) => return Err(e.into()),
        };
        let hole = rustix::fs::seek(source, SeekFrom::Hole(data))?.min(size);
        let length = hole - data;
        if written + length > budget {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("its data passes the copy budget of {budget} bytes"),
            ));
        }
        dest.seek(io::SeekFrom::Start(data))?;
        let mut reader = source.take(length);
        // `take` reads from the descriptor's offset, which `seek` set to `data` above.
        rustix::fs::seek(source, SeekFrom::Start(data))?;
        let copied = io::copy(&mut reader, dest)?;
        written += copied;
        if copied < length {
            break; // the file shrank while it was copied
        }
        offset = hole;
    }
    dest.flush()?;
    dest.set_len(size)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn regular_files_are_read_within_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(read_capped(&path, 5).unwrap(), b"hello");
        let err = read_capped(&path, 4).unwrap_err();
        assert!(matches!(
            err,
            UntrustedFileError::TooLarge {
                size: 5,
                limit: 4,
                ..
            }
        ));
    }

    #[test]
    fn symlinks_fifos_and_devices_are_refused_without_reading_them() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"root only").unwrap();
        let link = dir.path().join("link");
        symlink(&secret, &link).unwrap();
        assert!(matches!(
            read_capped(&link, 100),
            Err(UntrustedFileError::Symlink { .. })
        ));

        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        // Would block forever if opened blocking; must return at once.
        assert!(matches!(
            read_capped(&fifo, 100),
            Err(UntrustedFileError::NotRegular { kind: "FIFO", .. })
        ));
        assert!(matches!(
            read_capped(Path::new("/dev/zero"), 100),
            Err(UntrustedFileError::NotRegular {
                kind: "character device",
                ..
            })
        ));
        assert!(
            read_capped(&dir.path().join("missing"), 1)
                .unwrap_err()
                .is_not_found()
        );
    }

    #[test]
    fn a_sparse_file_is_refused_by_its_size_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let file = File::create(&path).unwrap();
        file.set_len(4 << 30).unwrap();
        assert!(matches!(
            read_capped(&path, 1 << 20),
            Err(UntrustedFileError::TooLarge { size, .. }) if size == 4 << 30
        ));
    }

    #[test]
    fn beneath_refuses_a_symlink_anywhere_on_the_path_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x"), b"outside").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/ok"), b"inside").unwrap();
        symlink(outside.path(), dir.path().join("linked")).unwrap();

        let inside = open_regular_beneath(dir.path(), Path::new("sub/ok")).unwrap();
        assert_eq!(
            read_capped_from(inside, Path::new("sub/ok"), 10).unwrap(),
            b"inside"
        );
        assert!(matches!(
            open_regular_beneath(dir.path(), Path::new("linked/x")),
            Err(UntrustedFileError::Symlink { .. })
        ));
        assert!(matches!(
            open_regular_beneath(dir.path(), Path::new("../x")),
            Err(UntrustedFileError::Escapes { .. })
        ));
        // The fallback walk gives the same answers.
        let root = || {
            rustix::fs::open(
                dir.path(),
                OFlags::RDONLY | OFlags::DIRECTORY,
                Mode::empty(),
            )
            .unwrap()
        };
        assert!(open_by_components(root(), Path::new("sub/ok"), dir.path()).is_ok());
        assert!(matches!(
            open_by_components(root(), Path::new("linked/x"), dir.path()),
            Err(UntrustedFileError::Symlink { .. }) | Err(UntrustedFileError::Io { .. })
        ));
    }

    #[test]
    fn create_new_never_writes_through_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"untouched").unwrap();
        symlink(&target, dir.path().join("planted")).unwrap();
        assert!(create_new(dir.path(), "planted", 0o644).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"untouched");
        assert!(create_new(dir.path(), "fresh", 0o644).is_ok());
        assert!(create_new(dir.path(), "fresh", 0o644).is_err(), "exclusive");
    }

    #[test]
    fn copy_sparse_keeps_holes_and_stops_at_its_budget_before_writing() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let source_path = dir.path().join("sparse");
        let source = File::create(&source_path).unwrap();
        source.set_len(64 << 20).unwrap();
        rustix::io::pwrite(&source, b"head", 0).unwrap();
        rustix::io::pwrite(&source, b"tail", (64 << 20) - 4).unwrap();
        let source = File::open(&source_path).unwrap();

        let mut copy = File::create(dir.path().join("copy")).unwrap();
        let written = copy_sparse(&source, &mut copy, 1 << 20).unwrap();
        assert!(written <= 1 << 20, "{written} bytes written");
        let meta = std::fs::metadata(dir.path().join("copy")).unwrap();
        assert_eq!(meta.len(), 64 << 20);
        assert!(meta.blocks() * 512 <= 1 << 20);
        let bytes = std::fs::read(dir.path().join("copy")).unwrap();
        assert_eq!(
            (&bytes[..4], &bytes[bytes.len() - 4..]),
            (&b"head"[..], &b"tail"[..])
        );

        let dense = dir.path().join("dense");
        std::fs::write(&dense, vec![1u8; 8192]).unwrap();
        let mut small = File::create(dir.path().join("small")).unwrap();
        let error = copy_sparse(&File::open(&dense).unwrap(), &mut small, 4096).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(
            std::fs::metadata(dir.path().join("small")).unwrap().len(),
            0
        );
    }
}

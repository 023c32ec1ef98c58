//! The scratch folders of one sandbox, and the copy of the submission inside them.
//!
//! ```text
//! <tmp>/judge-XXXX/   judge-owned, 0755: the sandbox may read, never write
//!   work/             sandbox-owned, 0700: copy of the submission, cwd, HOME, TMPDIR
//!   outbox/           sandbox-owned, 0700: arrays the worker returns
//!   inbox/            judge-owned, 0755: arrays the judge sends (the sandbox cannot swap
//!                     them for symlinks that would make the judge write elsewhere)
//! ```

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, chown};
use std::path::{Path, PathBuf};

use judge_core::untrusted_fs::{SUBMISSION_TREE, TreeEntry, WalkError, copy_sparse, walk_tree};

use crate::error::RunnerError;

/// Folder names never copied into the sandbox.
const SKIPPED_NAMES: [&str; 2] = [".git", "__pycache__"];

/// Makes `dir` with `mode`, owned by `owner` (uid, gid) when given.
pub(crate) fn make_dir(
    dir: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), RunnerError> {
    let context = || format!("creating {}", dir.display());
    fs::create_dir_all(dir).map_err(RunnerError::io(context()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
        .map_err(RunnerError::io(context()))?;
    if let Some((uid, gid)) = owner {
        chown(dir, Some(uid), Some(gid)).map_err(RunnerError::io(context()))?;
    }
    Ok(())
}

/// Copies the submission folder `source` into `dest` (which exists), giving every copy to
/// `owner`, within [`SUBMISSION_TREE`]: every grading copies the folder several times (worker,
/// capped worker, each self-test), so a folder of checkpoints, 100 000 tiny files or a sparse
/// file of terabytes must not fill the disk. Regular files and folders only, read through
/// directory descriptors: a symlink is skipped, since following it as root could carry into
/// the sandbox a file the submission's author could never read, and FIFOs and device nodes are
/// skipped without being opened. Sparse files are copied hole by hole, by their allocated size.
/// Returns the relative paths that were skipped.
pub(crate) fn copy_submission(
    source: &Path,
    dest: &Path,
    owner: Option<(u32, u32)>,
) -> Result<Vec<PathBuf>, RunnerError> {
    let mut skipped = Vec::new();
    let mut budget = SUBMISSION_TREE.max_allocated_bytes;
    let skip = |name: &OsStr| SKIPPED_NAMES.iter().any(|skipped| name == *skipped);
    let result = walk_tree(source, &SUBMISSION_TREE, &skip, &mut |relative, entry| {
        let to = dest.join(relative);
        match entry {
            TreeEntry::Folder => make_dir(&to, 0o755, owner),
            TreeEntry::File { file, stat } => {
                budget -= copy_file(&file, stat.st_mode, &to, budget, owner)?;
                Ok(())
            }
            TreeEntry::Symlink { .. } | TreeEntry::Other { .. } => {
                skipped.push(relative.to_path_buf());
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => Ok(skipped),
        Err(WalkError::Tree(e)) => Err(RunnerError::Submission {
            path: source.to_path_buf(),
            reason: format!("{e}; it was not copied into the sandbox"),
        }),
        Err(WalkError::Visit(e)) => Err(e),
    }
}

/// Copies one opened submission file to `to`: the executable bits kept, set-uid/set-gid
/// dropped, the sandbox's to edit. Returns the bytes written.
fn copy_file(
    from: &File,
    mode: u32,
    to: &Path,
    budget: u64,
    owner: Option<(u32, u32)>,
) -> Result<u64, RunnerError> {
    let context = || format!("copying {} into the sandbox", to.display());
    let mut copy = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode((mode & 0o755) | 0o600)
        .open(to)
        .map_err(RunnerError::io(context()))?;
    let written = copy_sparse(from, &mut copy, budget).map_err(|e| {
        if e.kind() == io::ErrorKind::FileTooLarge {
            RunnerError::Submission {
                path: to.to_path_buf(),
                reason: format!(
                    "{e}: the folder holds more than {} bytes of data; it was not copied into \
                     the sandbox",
                    SUBMISSION_TREE.max_allocated_bytes
                ),
            }
        } else {
            RunnerError::io(context())(e)
        }
    })?;
    copy.set_permissions(fs::Permissions::from_mode((mode & 0o755) | 0o600))
        .map_err(RunnerError::io(context()))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&copy, Some(uid), Some(gid))
            .map_err(RunnerError::io(context()))?;
    }
    Ok(written)
}

/// Writes a file the judge supplies (an adapter given with `--adapter`) into the work folder:
/// created exclusively, never through a link, the sandbox's to read; one of the same name that
/// came with the submission is replaced (removed first, as a name, never followed).
pub(crate) fn place_file(
    work: &Path,
    name: &str,
    bytes: &[u8],
    owner: Option<(u32, u32)>,
) -> Result<(), RunnerError> {
    let plain = !name.is_empty() && !name.starts_with('.') && !name.contains('/') && name != "..";
    if !plain {
        return Err(RunnerError::Sandbox(format!(
            "refusing to place {name:?}: not a plain file name"
        )));
    }
    let to = work.join(name);
    let context = || format!("placing {} into the sandbox", to.display());
    match fs::remove_file(&to) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(RunnerError::io(context())(e)),
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(&to)
        .map_err(RunnerError::io(context()))?;
    io::Write::write_all(&mut file, bytes).map_err(RunnerError::io(context()))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
            .map_err(RunnerError::io(context()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, symlink};

    fn copy(source: &Path) -> (tempfile::TempDir, Result<Vec<PathBuf>, RunnerError>) {
        let dest = tempfile::tempdir().unwrap();
        let result = copy_submission(source, dest.path(), None);
        (dest, result)
    }

    #[test]
    fn links_fifos_and_odd_names_are_skipped_and_nothing_outside_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "root only").unwrap();
        fs::write(dir.path().join("ok.py"), "x = 1").unwrap();
        fs::create_dir(dir.path().join("pkg")).unwrap();
        fs::write(dir.path().join("pkg/..hidden\nname\u{1b}[2J"), "y").unwrap();
        symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
        symlink(outside.path(), dir.path().join("pkg/other_model")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.path().join("results.json"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let (dest, skipped) = copy(dir.path());
        let mut skipped = skipped.unwrap();
        skipped.sort();
        assert_eq!(
            skipped,
            [
                PathBuf::from("link"),
                PathBuf::from("pkg/other_model"),
                PathBuf::from("results.json")
            ]
        );
        assert_eq!(
            fs::read_to_string(dest.path().join("ok.py")).unwrap(),
            "x = 1"
        );
        assert!(dest.path().join("pkg/..hidden\nname\u{1b}[2J").is_file());
        for gone in ["link", "pkg/other_model", "results.json"] {
            assert!(
                fs::symlink_metadata(dest.path().join(gone)).is_err(),
                "{gone}"
            );
        }
    }

    #[test]
    fn a_sparse_file_costs_its_allocated_size_not_its_apparent_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("weights.bin")).unwrap();
        file.set_len(1900 << 20).unwrap();
        rustix::io::pwrite(&file, b"data at the end", (1900 << 20) - 15).unwrap();
        let (dest, skipped) = copy(dir.path());
        assert_eq!(skipped.unwrap(), Vec::<PathBuf>::new());
        let copied = fs::metadata(dest.path().join("weights.bin")).unwrap();
        assert_eq!(copied.len(), 1900 << 20);
        assert!(
            copied.blocks() * 512 <= 1 << 20,
            "the copy allocates {} bytes",
            copied.blocks() * 512
        );
        let mut tail = [0u8; 15];
        rustix::io::pread(
            File::open(dest.path().join("weights.bin")).unwrap(),
            &mut tail,
            (1900 << 20) - 15,
        )
        .unwrap();
        assert_eq!(&tail, b"data at the end");
    }

    #[test]
    fn a_folder_of_too_many_files_or_a_linked_root_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..=SUBMISSION_TREE.max_entries {
            File::create(dir.path().join(format!("f{i}"))).unwrap();
        }
        let (dest, result) = copy(dir.path());
        let error = result.unwrap_err();
        assert!(
            matches!(&error, RunnerError::Submission { reason, .. }
                if reason.contains("more than 20000 entries")),
            "{error}"
        );
        assert!(
            fs::read_dir(dest.path()).unwrap().count() <= SUBMISSION_TREE.max_entries,
            "refused before copying everything"
        );

        let holder = tempfile::tempdir().unwrap();
        symlink(dir.path(), holder.path().join("model")).unwrap();
        let (_, result) = copy(&holder.path().join("model"));
        assert!(
            matches!(&result, Err(RunnerError::Submission { reason, .. })
                if reason.contains("symbolic link")),
            "{result:?}"
        );
    }
}

//! The scratch folders of one sandbox, and the copy of the submission inside them.
//!
//! ```text
//! <tmp>/judge-XXXX/   judge-owned, 0755: the sandbox may read, never write
//!   work/             sandbox-owned, 0700: copy of the submission, cwd, HOME, TMPDIR
//!   outbox/           sandbox-owned, 0700: arrays the worker returns
//!   inbox/            judge-owned, 0755: arrays the judge sends (the sandbox cannot swap
//!                     them for symlinks that would make the judge write elsewhere)
//! ```

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};

use crate::error::RunnerError;

/// Folder names never copied into the sandbox.
const SKIPPED_NAMES: [&str; 2] = [".git", "__pycache__"];

/// Largest submission copied into a sandbox. Every grading copies the folder several times
/// (worker, capped worker, each self-test), so a folder of model checkpoints could fill the
/// disk; a submission is code plus small artifacts, and the ternary challenge's Path-B
/// weights are well under 1 GiB.
pub(crate) const MAX_SUBMISSION_BYTES: u64 = 2 << 30;

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
/// `owner`. Regular files and folders only: a symlink is skipped, since following it as root
/// could carry into the sandbox a file the submission's author could never read.
/// Returns the relative paths that were skipped.
pub(crate) fn copy_submission(
    source: &Path,
    dest: &Path,
    owner: Option<(u32, u32)>,
) -> Result<Vec<PathBuf>, RunnerError> {
    let size = folder_size(source)?;
    if size > MAX_SUBMISSION_BYTES {
        return Err(RunnerError::Submission {
            path: source.to_path_buf(),
            reason: format!(
                "the folder holds {size} bytes, more than the {MAX_SUBMISSION_BYTES} a \
                 submission may hold; it was not copied into the sandbox"
            ),
        });
    }
    let mut skipped = Vec::new();
    copy_dir(source, dest, Path::new(""), owner, &mut skipped)?;
    Ok(skipped)
}

/// Bytes of the regular files the copy would take (symlinks and skipped folders excluded).
fn folder_size(dir: &Path) -> Result<u64, RunnerError> {
    let mut total = 0;
    let entries =
        fs::read_dir(dir).map_err(RunnerError::io(format!("reading {}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(RunnerError::io(format!("reading {}", dir.display())))?;
        if SKIPPED_NAMES.iter().any(|skip| entry.file_name() == *skip) {
            continue;
        }
        let kind = entry.file_type().map_err(RunnerError::io(format!(
            "inspecting {}",
            entry.path().display()
        )))?;
        if kind.is_dir() {
            total += folder_size(&entry.path())?;
        } else if kind.is_file() {
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    Ok(total)
}

fn copy_dir(
    source: &Path,
    dest: &Path,
    relative: &Path,
    owner: Option<(u32, u32)>,
    skipped: &mut Vec<PathBuf>,
) -> Result<(), RunnerError> {
    let entries =
        fs::read_dir(source).map_err(RunnerError::io(format!("reading {}", source.display())))?;
    for entry in entries {
        let entry = entry.map_err(RunnerError::io(format!("reading {}", source.display())))?;
        let name = entry.file_name();
        let rel = relative.join(&name);
        if SKIPPED_NAMES.iter().any(|skip| name == *skip) {
            continue;
        }
        let from = entry.path();
        let to = dest.join(&name);
        let kind = entry
            .file_type()
            .map_err(RunnerError::io(format!("inspecting {}", from.display())))?;
        if kind.is_dir() {
            make_dir(&to, 0o755, owner)?;
            copy_dir(&from, &to, &rel, owner, skipped)?;
        } else if kind.is_file() {
            let context = || format!("copying {} into the sandbox", from.display());
            fs::copy(&from, &to).map_err(RunnerError::io(context()))?;
            // Keep the executable bits, drop set-uid/set-gid, make it the sandbox's to edit.
            let mode = entry
                .metadata()
                .map(|m| m.permissions().mode())
                .unwrap_or(0o644);
            fs::set_permissions(&to, fs::Permissions::from_mode((mode & 0o755) | 0o600))
                .map_err(RunnerError::io(context()))?;
            if let Some((uid, gid)) = owner {
                chown(&to, Some(uid), Some(gid)).map_err(RunnerError::io(context()))?;
            }
        } else {
            skipped.push(rel);
        }
    }
    Ok(())
}

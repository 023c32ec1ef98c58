//! Content hashes: what a grade depends on, so unchanged submissions are not graded twice.

use std::ffi::OsStr;
use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::report::FileHash;
use crate::untrusted_fs::{SUBMISSION_TREE, TreeEntry, TreeError, WalkError, walk_tree};

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Hex SHA-256 of a file's contents, streamed: a submission may hold large artifacts.
fn sha256_reader(mut reader: impl io::Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut reader, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of some bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Files that belong to the harness or to Python's caches, never to the submission's content.
fn is_ignored(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.')
        || name == "__pycache__"
        || name == crate::report::REPORT_FILE_NAME
        || name.ends_with(".pyc")
}

/// Every regular file below `dir` (sorted, `/`-separated relative paths) with its hash, walked
/// within [`SUBMISSION_TREE`]. Symbolic links are recorded by their target text, never
/// followed, and FIFOs or device nodes are never opened, so nothing in the folder can make the
/// judge read outside it or block. A tree that cannot be walked (too deep, too large, a folder
/// that is itself a link) is the submission's fault and says why.
pub fn hash_tree(dir: &Path) -> Result<Vec<FileHash>, TreeError> {
    let mut files = Vec::new();
    let result = walk_tree(
        dir,
        &SUBMISSION_TREE,
        &is_ignored,
        &mut |relative, entry| {
            let sha256 = match entry {
                TreeEntry::File { file, .. } => {
                    sha256_reader(file).map_err(|source| TreeError::Unreadable {
                        path: dir.join(relative),
                        source,
                    })?
                }
                TreeEntry::Symlink { target } => sha256_hex(target.to_string_lossy().as_bytes()),
                TreeEntry::Folder | TreeEntry::Other { .. } => return Ok(()),
            };
            let path = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            files.push(FileHash { path, sha256 });
            Ok(())
        },
    );
    if let Err(WalkError::Tree(e) | WalkError::Visit(e)) = result {
        return Err(e);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// One hash over a file list: changes when any file is added, removed, renamed or edited.
pub fn combined_hash(files: &[FileHash]) -> String {
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.path.as_bytes());
        hasher.update([0]);
        hasher.update(file.sha256.as_bytes());
        hasher.update([b'\n']);
    }
    hex(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn sha256_of_empty_input_is_the_known_constant() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn tree_hash_tracks_content_and_names_but_not_caches() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.py"), "x = 1\n").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/b.py"), "y = 2\n").unwrap();
        let first = hash_tree(dir.path()).unwrap();
        assert_eq!(
            first.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["a.py", "sub/b.py"]
        );

        fs::create_dir(dir.path().join("__pycache__")).unwrap();
        fs::write(dir.path().join("__pycache__/a.pyc"), "junk").unwrap();
        fs::write(dir.path().join("GRADE.json"), "{}").unwrap();
        assert_eq!(
            combined_hash(&hash_tree(dir.path()).unwrap()),
            combined_hash(&first)
        );

        fs::write(dir.path().join("a.py"), "x = 2\n").unwrap();
        assert_ne!(
            combined_hash(&hash_tree(dir.path()).unwrap()),
            combined_hash(&first)
        );
    }

    #[test]
    fn links_fifos_and_devices_are_never_followed_or_opened() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "root only").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("s")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("d")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.path().join("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        fs::write(dir.path().join("name\nwith newline"), "x").unwrap();
        // Would block forever on the FIFO or hash the secret if either were opened.
        let files = hash_tree(dir.path()).unwrap();
        let paths: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["d", "name\nwith newline", "s"]);
        let secret_link = &files[2].sha256;
        assert_eq!(
            *secret_link,
            sha256_hex(outside.path().join("secret").to_string_lossy().as_bytes()),
            "a link is hashed by its target text"
        );
    }

    #[test]
    fn a_tree_nested_past_path_max_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut fd = rustix::fs::open(
            dir.path(),
            rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        // 40 levels of 200-byte names: 8 000 bytes, past PATH_MAX; built by descriptor.
        let name = "n".repeat(200);
        for _ in 0..40 {
            rustix::fs::mkdirat(&fd, name.as_str(), rustix::fs::Mode::from_raw_mode(0o755))
                .unwrap();
            fd = rustix::fs::openat(
                &fd,
                name.as_str(),
                rustix::fs::OFlags::DIRECTORY,
                rustix::fs::Mode::empty(),
            )
            .unwrap();
        }
        let error = hash_tree(dir.path()).unwrap_err();
        assert!(
            matches!(error, TreeError::OverLimit(ref why) if why.contains("path longer than")),
            "{error}"
        );
        // The tempdir's own removal fails past PATH_MAX; take it down from the bottom.
        remove_nested(dir.path(), &name, 40);
    }

    /// Removes `depth` nested folders named `name` below `root`, by descriptor.
    fn remove_nested(root: &Path, name: &str, depth: usize) {
        let mut fds = vec![
            rustix::fs::open(
                root,
                rustix::fs::OFlags::DIRECTORY,
                rustix::fs::Mode::empty(),
            )
            .unwrap(),
        ];
        for _ in 0..depth - 1 {
            let next = rustix::fs::openat(
                fds.last().unwrap(),
                name,
                rustix::fs::OFlags::DIRECTORY,
                rustix::fs::Mode::empty(),
            )
            .unwrap();
            fds.push(next);
        }
        while let Some(fd) = fds.pop() {
            rustix::fs::unlinkat(&fd, name, rustix::fs::AtFlags::REMOVEDIR).unwrap();
        }
    }

    #[test]
    fn a_submission_folder_that_is_a_symlink_is_refused() {
        let real = tempfile::tempdir().unwrap();
        fs::write(real.path().join("a.py"), "x = 1\n").unwrap();
        let holder = tempfile::tempdir().unwrap();
        let link = holder.path().join("model");
        std::os::unix::fs::symlink(real.path(), &link).unwrap();
        assert!(matches!(hash_tree(&link), Err(TreeError::Symlink { .. })));
    }
}

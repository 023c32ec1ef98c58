//! Content hashes: what a grade depends on, so unchanged submissions are not graded twice.

use std::fs;
use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::report::FileHash;

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Hex SHA-256 of a file's contents, streamed: a submission may hold large artifacts.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut fs::File::open(path)?, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of some bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Files that belong to the harness or to Python's caches, never to the submission's content.
fn is_ignored(name: &str) -> bool {
    name.starts_with('.')
        || name == "__pycache__"
        || name == crate::report::REPORT_FILE_NAME
        || name.ends_with(".pyc")
}

/// Every regular file below `dir` (sorted, `/`-separated relative paths) with its hash.
/// Symbolic links are recorded by their target text, not followed, so a link cannot make the
/// harness read outside the submission.
pub fn hash_tree(dir: &Path) -> io::Result<Vec<FileHash>> {
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<FileHash>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_ignored(&name) {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type()?;
        let relative = path
            .strip_prefix(root)
            .expect("walk stays below root")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if file_type.is_dir() {
            walk(root, &path, out)?;
        } else if file_type.is_symlink() {
            let target = fs::read_link(&path)?;
            out.push(FileHash {
                path: relative,
                sha256: sha256_hex(target.to_string_lossy().as_bytes()),
            });
        } else if file_type.is_file() {
            out.push(FileHash {
                path: relative,
                sha256: sha256_file(&path)?,
            });
        }
    }
    Ok(())
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
}

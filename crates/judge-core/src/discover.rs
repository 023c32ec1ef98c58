//! Which submissions a path names: one challenge folder, a model folder, or a root of models.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::challenge::ChallengeId;

/// One submission: a challenge folder, usually `MODEL/<challenge>/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SubmissionDir {
    /// The model folder's name; `None` when the challenge folder has no parent worth naming.
    pub model: Option<String>,
    pub challenge: ChallengeId,
    pub dir: PathBuf,
}

impl SubmissionDir {
    /// `model/challenge`, the name used in progress lines and for sharding.
    pub fn label(&self) -> String {
        match &self.model {
            Some(model) => format!("{model}/{}", self.challenge),
            None => self.challenge.to_string(),
        }
    }
}

/// Why a path names no submissions.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("'{}' does not exist", .0.display())]
    Missing(PathBuf),
    #[error("'{}' is not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("cannot read '{}': {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "'{}' is not a challenge folder (named after a challenge id), a model folder (holding challenge folders) or a root of model folders",
        .0.display()
    )]
    NothingToGrade(PathBuf),
}

fn challenge_of(dir: &Path) -> Option<ChallengeId> {
    dir.file_name()?.to_str()?.parse().ok()
}

fn model_name(dir: &Path) -> Option<String> {
    let name = dir.file_name()?.to_string_lossy().into_owned();
    (!name.is_empty()).then_some(name)
}

fn subfolders(dir: &Path) -> Result<Vec<PathBuf>, DiscoverError> {
    let io = |source| DiscoverError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        // Hidden folders (.git, .venv) are never submissions.
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.path().is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// The challenge folders directly inside `model_dir`.
fn challenges_in(model_dir: &Path) -> Result<Vec<SubmissionDir>, DiscoverError> {
    let model = model_name(model_dir);
    let mut found: Vec<_> = subfolders(model_dir)?
        .into_iter()
        .filter_map(|dir| {
            challenge_of(&dir).map(|challenge| SubmissionDir {
                model: model.clone(),
                challenge,
                dir,
            })
        })
        .collect();
    found.sort_by_key(|s| s.challenge.seed_index());
    Ok(found)
}

/// Every submission `path` names, sorted by model then by the seed's challenge order.
pub fn discover(path: &Path) -> Result<Vec<SubmissionDir>, DiscoverError> {
    if !path.exists() {
        return Err(DiscoverError::Missing(path.to_path_buf()));
    }
    if !path.is_dir() {
        return Err(DiscoverError::NotAFolder(path.to_path_buf()));
    }
    let path = std::fs::canonicalize(path).map_err(|source| DiscoverError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(challenge) = challenge_of(&path) {
        return Ok(vec![SubmissionDir {
            model: path.parent().and_then(model_name),
            challenge,
            dir: path,
        }]);
    }
    let direct = challenges_in(&path)?;
    if !direct.is_empty() {
        return Ok(direct);
    }
    let mut all = Vec::new();
    for model_dir in subfolders(&path)? {
        all.extend(challenges_in(&model_dir)?);
    }
    if all.is_empty() {
        return Err(DiscoverError::NothingToGrade(path));
    }
    Ok(all)
}

/// A deterministic slice of the work: shard `index` of `count` (0-based), as a Slurm array task
/// or a Kubernetes indexed Job sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Round-robin over the sorted submission list: shards are disjoint, cover everything, and
    /// differ in size by at most one.
    pub fn select<T>(self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index)
            .map(|(_, item)| item)
            .collect()
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("'{s}' is not I/N with 0 ≤ I < N (e.g. 0/4)");
        let (index, count) = s.split_once('/').ok_or_else(usage)?;
        let index: usize = index.trim().parse().map_err(|_| usage())?;
        let count: usize = count.trim().parse().map_err(|_| usage())?;
        if count == 0 || index >= count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tree(root: &Path, dirs: &[&str]) {
        for dir in dirs {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
    }

    #[test]
    fn a_challenge_folder_is_one_submission_named_after_its_model() {
        let root = tempfile::tempdir().unwrap();
        tree(root.path(), &["m1/kv"]);
        let found = discover(&root.path().join("m1/kv")).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].label(), "m1/kv");
    }

    #[test]
    fn a_model_folder_yields_its_challenges_in_seed_order() {
        let root = tempfile::tempdir().unwrap();
        tree(
            root.path(),
            &["m1/kv", "m1/backwards", "m1/notes", "m1/.cache"],
        );
        let labels: Vec<_> = discover(&root.path().join("m1"))
            .unwrap()
            .iter()
            .map(SubmissionDir::label)
            .collect();
        assert_eq!(labels, ["m1/backwards", "m1/kv"]);
    }

    #[test]
    fn a_root_yields_every_model() {
        let root = tempfile::tempdir().unwrap();
        tree(root.path(), &["b/fuse", "a/kv", "a/fuse", "docs/img"]);
        let labels: Vec<_> = discover(root.path())
            .unwrap()
            .iter()
            .map(SubmissionDir::label)
            .collect();
        assert_eq!(labels, ["a/fuse", "a/kv", "b/fuse"]);
    }

    #[test]
    fn bad_paths_say_what_is_wrong() {
        let root = tempfile::tempdir().unwrap();
        assert!(matches!(
            discover(&root.path().join("nope")),
            Err(DiscoverError::Missing(_))
        ));
        fs::write(root.path().join("file"), "").unwrap();
        assert!(matches!(
            discover(&root.path().join("file")),
            Err(DiscoverError::NotAFolder(_))
        ));
        tree(root.path(), &["x/y"]);
        assert!(matches!(
            discover(&root.path().join("x")),
            Err(DiscoverError::NothingToGrade(_))
        ));
    }

    #[test]
    fn shards_are_disjoint_and_cover_everything() {
        let items: Vec<usize> = (0..23).collect();
        let mut seen = Vec::new();
        for index in 0..4 {
            let part = Shard { index, count: 4 }.select(items.clone());
            assert!(part.len() == 5 || part.len() == 6);
            seen.extend(part);
        }
        seen.sort();
        assert_eq!(seen, items);
    }

    #[test]
    fn shard_syntax_is_checked() {
        assert_eq!("1/3".parse(), Ok(Shard { index: 1, count: 3 }));
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}

//! Which submissions a path names: one challenge folder, a model folder, or a root of models.
//!
//! Model and challenge folders must be real folders. A challenge folder that is a symbolic link
//! to another model's folder would be graded as the linking model's work, and its GRADE.json
//! would land in the folder the link points to; such links are refused with the reason.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::challenge::ChallengeId;

/// One submission: a challenge folder, usually `MODEL/<challenge>/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SubmissionDir {
    /// The model folder's name; `None` when the challenge folder has no parent worth naming.
    pub model: Option<String>,
    /// The challenge the folder is named after.
    pub challenge: ChallengeId,
    /// The challenge folder itself (canonical: links resolved).
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

/// A folder discovery saw and will not grade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The folder, as discovery found it (a symbolic link, not its target).
    pub path: PathBuf,
    /// Why it is not graded, as a phrase after the path ("is a symbolic link (to …); …").
    pub reason: String,
}

/// A folder inside a model folder whose name is no challenge id (a typo such as
/// `flash_atention`, or notes): never graded, always reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misnamed {
    /// The folder.
    pub path: PathBuf,
    /// The id it most likely meant.
    pub nearest: Option<ChallengeId>,
}

impl fmt::Display for Misnamed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' is not a challenge folder", self.path.display())?;
        match self.nearest {
            Some(id) => write!(f, " (did you mean {id}?)"),
            None => write!(f, " (challenge ids: {})", crate::challenge::known_names()),
        }
    }
}

/// What a path names: the submissions to grade and the folders refused on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// Sorted by model then by the seed's challenge order.
    pub submissions: Vec<SubmissionDir>,
    /// Symbolic links that would have been graded, sorted by path.
    pub refused: Vec<Refused>,
    /// Folders of a model folder that are not named after a challenge.
    pub misnamed: Vec<Misnamed>,
}

/// Why a path names no submissions.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The path does not exist.
    #[error("'{}' does not exist", .0.display())]
    Missing(PathBuf),
    /// The path is a file, not a folder.
    #[error("'{}' is not a folder", .0.display())]
    NotAFolder(PathBuf),
    /// A folder could not be listed or the path not resolved.
    #[error("cannot read '{}': {source}", path.display())]
    Io {
        /// The folder concerned.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The folder is neither a challenge folder, a model folder nor a root of model folders.
    #[error(
        "'{}' is not a challenge folder (named after a challenge id: {}), a model folder (holding challenge folders) or a root of model folders",
        .0.display(),
        crate::challenge::known_names()
    )]
    NothingToGrade(PathBuf),
    /// The path, or the model folder of the challenge folder it names, is a symbolic link.
    #[error("'{}' {reason}", path.display())]
    Symlink {
        /// The link.
        path: PathBuf,
        /// Why it is refused, naming the link's target.
        reason: String,
    },
}

/// The reason a symbolic link is not graded, naming its target.
fn link_reason(link: &Path) -> String {
    let target = std::fs::read_link(link)
        .map(|t| t.display().to_string())
        .unwrap_or_else(|_| "an unreadable target".into());
    format!(
        "is a symbolic link (to {target}); model and challenge folders must be real folders, so it is not graded"
    )
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn challenge_of(dir: &Path) -> Option<ChallengeId> {
    dir.file_name()?.to_str()?.parse().ok()
}

fn model_name(dir: &Path) -> Option<String> {
    let name = dir.file_name()?.to_string_lossy().into_owned();
    (!name.is_empty()).then_some(name)
}

/// The real folders directly inside `dir`, and the symbolic links there that point at folders
/// (`link_counts` decides, by name, which of those links would have been graded).
fn subfolders(
    dir: &Path,
    link_counts: impl Fn(&Path) -> bool,
    refused: &mut Vec<Refused>,
) -> Result<Vec<PathBuf>, DiscoverError> {
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
        let path = entry.path();
        // `DirEntry::file_type` does not follow links.
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            dirs.push(path);
        } else if file_type.is_symlink() && path.is_dir() && link_counts(&path) {
            refused.push(Refused {
                reason: link_reason(&path),
                path,
            });
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// The challenge folders directly inside `model_dir`, and its other folders.
fn challenges_in(
    model_dir: &Path,
    refused: &mut Vec<Refused>,
) -> Result<(Vec<SubmissionDir>, Vec<Misnamed>), DiscoverError> {
    let model = model_name(model_dir);
    let is_challenge = |dir: &Path| challenge_of(dir).is_some();
    let mut found = Vec::new();
    let mut misnamed = Vec::new();
    for dir in subfolders(model_dir, is_challenge, refused)? {
        match challenge_of(&dir) {
            Some(challenge) => found.push(SubmissionDir {
                model: model.clone(),
                challenge,
                dir,
            }),
            None => misnamed.push(Misnamed {
                nearest: dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(ChallengeId::nearest),
                path: dir,
            }),
        }
    }
    found.sort_by_key(|s| s.challenge.seed_index());
    Ok((found, misnamed))
}

/// Whether the folders of `dir` make it a model folder: it holds a challenge folder, or a
/// folder whose name is a near miss of one.
fn is_model_folder(found: &[SubmissionDir], misnamed: &[Misnamed]) -> bool {
    !found.is_empty() || misnamed.iter().any(|m| m.nearest.is_some())
}

/// Every submission `path` names. `path` itself must not be a symbolic link, nor, when it is a
/// challenge folder, its model folder: the model would be named after the link's target.
pub fn discover(path: &Path) -> Result<Discovery, DiscoverError> {
    if !path.exists() {
        return Err(DiscoverError::Missing(path.to_path_buf()));
    }
    if !path.is_dir() {
        return Err(DiscoverError::NotAFolder(path.to_path_buf()));
    }
    let model_link = path
        .parent()
        .filter(|parent| challenge_of(path).is_some() && is_symlink(parent));
    let link = if is_symlink(path) {
        Some(path)
    } else {
        model_link
    };
    if let Some(link) = link {
        return Err(DiscoverError::Symlink {
            path: link.to_path_buf(),
            reason: link_reason(link),
        });
    }
    let path = std::fs::canonicalize(path).map_err(|source| DiscoverError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut refused = Vec::new();
    if let Some(challenge) = challenge_of(&path) {
        let submissions = vec![SubmissionDir {
            model: path.parent().and_then(model_name),
            challenge,
            dir: path,
        }];
        return Ok(Discovery {
            submissions,
            refused,
            misnamed: Vec::new(),
        });
    }
    let (direct, direct_misnamed) = challenges_in(&path, &mut refused)?;
    if is_model_folder(&direct, &direct_misnamed) || !refused.is_empty() {
        return Ok(Discovery {
            submissions: direct,
            refused,
            misnamed: direct_misnamed,
        });
    }
    // In a root, any link to a folder stands for a model folder.
    let mut submissions = Vec::new();
    let mut misnamed = Vec::new();
    for model_dir in subfolders(&path, |_| true, &mut refused)? {
        let (found, others) = challenges_in(&model_dir, &mut refused)?;
        if is_model_folder(&found, &others) {
            misnamed.extend(others);
        }
        submissions.extend(found);
    }
    refused.sort_by(|a, b| a.path.cmp(&b.path));
    if submissions.is_empty() && refused.is_empty() && misnamed.is_empty() {
        return Err(DiscoverError::NothingToGrade(path));
    }
    Ok(Discovery {
        submissions,
        refused,
        misnamed,
    })
}

/// A deterministic slice of the work: shard `index` of `count` (0-based), as a Slurm array task
/// or a Kubernetes indexed Job sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard this is, `0 ≤ index < count`.
    pub index: usize,
    /// How many shards the work is split into, at least one.
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

    #[test]
    fn folders_that_are_not_challenges_are_reported_with_the_id_they_likely_meant() {
        let root = tempfile::tempdir().unwrap();
        for dir in [
            "m1/backwards",
            "m1/flash_atention",
            "m1/notes",
            "m2/kv",
            "docs/images",
        ] {
            fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        let model = discover(&root.path().join("m1")).unwrap();
        assert_eq!(model.submissions.len(), 1);
        let names: Vec<_> = model
            .misnamed
            .iter()
            .map(|m| (m.path.file_name().unwrap().to_str().unwrap(), m.nearest))
            .collect();
        assert_eq!(
            names,
            [
                ("flash_atention", Some(ChallengeId::FlashAttention)),
                ("notes", None)
            ]
        );
        assert!(
            model.misnamed[0]
                .to_string()
                .ends_with("(did you mean flash_attention?)")
        );
        assert!(
            model.misnamed[1]
                .to_string()
                .contains("challenge ids: backwards, fuse")
        );

        // In a root, model folders are not misnamed challenges, and a folder of no model
        // (docs/) says nothing about its contents.
        let all = discover(root.path()).unwrap();
        assert_eq!(all.submissions.len(), 2);
        let flagged: Vec<_> = all.misnamed.iter().map(|m| m.path.clone()).collect();
        assert_eq!(
            flagged,
            [
                fs::canonicalize(root.path())
                    .unwrap()
                    .join("m1/flash_atention"),
                fs::canonicalize(root.path()).unwrap().join("m1/notes")
            ]
        );

        // Alone, a misspelt folder is still reported rather than "nothing to grade".
        fs::create_dir_all(root.path().join("m3/beam-search")).unwrap();
        let alone = discover(&root.path().join("m3")).unwrap();
        assert!(alone.submissions.is_empty());
        assert_eq!(alone.misnamed[0].nearest, Some(ChallengeId::BeamSearch));
    }

    fn tree(root: &Path, dirs: &[&str]) {
        for dir in dirs {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
    }

    #[test]
    fn a_challenge_folder_is_one_submission_named_after_its_model() {
        let root = tempfile::tempdir().unwrap();
        tree(root.path(), &["m1/kv"]);
        let found = discover(&root.path().join("m1/kv")).unwrap().submissions;
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
            .submissions
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
            .submissions
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
    fn symlinked_challenge_and_model_folders_are_refused_with_the_reason() {
        use std::os::unix::fs::symlink;
        let root = tempfile::tempdir().unwrap();
        tree(
            root.path(),
            &["victim/kv", "victim/fuse", "plagiarist/fuse"],
        );
        // A challenge folder linking to another model's work, and a whole linked model.
        symlink(
            root.path().join("victim/kv"),
            root.path().join("plagiarist/kv"),
        )
        .unwrap();
        symlink(root.path().join("victim"), root.path().join("mirror")).unwrap();
        // Links that name no challenge are ignored like any other non-challenge entry.
        symlink(
            root.path().join("victim"),
            root.path().join("plagiarist/notes"),
        )
        .unwrap();

        let found = discover(root.path()).unwrap();
        let labels: Vec<_> = found.submissions.iter().map(SubmissionDir::label).collect();
        assert_eq!(labels, ["plagiarist/fuse", "victim/fuse", "victim/kv"]);
        let refused: Vec<_> = found.refused.iter().map(|r| r.path.clone()).collect();
        let canonical = fs::canonicalize(root.path()).unwrap();
        assert_eq!(
            refused,
            [canonical.join("mirror"), canonical.join("plagiarist/kv")]
        );
        assert!(found.refused[1].reason.contains("symbolic link"));
        assert!(found.refused[1].reason.contains("victim/kv"));

        // A model folder holding only a link is still a model folder, with the link refused.
        let found = discover(&root.path().join("plagiarist")).unwrap();
        assert_eq!(found.submissions.len(), 1);
        assert_eq!(found.refused.len(), 1);

        // Naming the link itself, or a challenge folder below a linked model, is refused too.
        for path in ["plagiarist/kv", "mirror/kv", "mirror"] {
            let err = discover(&root.path().join(path)).unwrap_err();
            assert!(
                matches!(err, DiscoverError::Symlink { .. }),
                "{path}: {err}"
            );
            assert!(err.to_string().contains("symbolic link"), "{err}");
        }
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

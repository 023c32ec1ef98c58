//! `judge scaffold`: lays out MODEL/<challenge>/PROMPT.md for a model to answer, exactly as the
//! seed's deploy_challenges.sh does, plus the training corpus for ternary_training.
//!
//! Every refusal happens before anything is written, and a failure half way removes what this
//! run created, so a scaffold either exists completely or not at all.

pub mod prompts;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use judge_core::ChallengeId;

/// The corpus file name, beside the prompt in ternary_training/ and beside the model folders.
pub const TRAIN_DATA_FILE: &str = "train_data.txt";

/// What to scaffold and where.
#[derive(Debug, Clone)]
pub struct ScaffoldOptions {
    /// The folder that receives MODEL/ (the seed uses the script's own folder).
    pub root: PathBuf,
    pub model: String,
    /// The corpus for ternary_training; defaults to ROOT/train_data.txt as in the seed.
    pub train_data: Option<PathBuf>,
    /// Challenges to write, in any order; the seed's order is kept. `None` means all eight.
    pub only: Option<Vec<ChallengeId>>,
    /// Write the seed's prompt text alone, without the submission-interface sections.
    pub original: bool,
}

/// Why nothing (or nothing lasting) was scaffolded.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("invalid model name {0:?}: {1}")]
    InvalidModelName(String, &'static str),
    #[error("'{}' already exists. Remove it or pick a different name.", .0.display())]
    AlreadyExists(PathBuf),
    #[error(
        "training corpus not found at '{}' (needed for ternary_training): pass --train-data FILE, or use --only to leave ternary_training out",
        .0.display()
    )]
    MissingCorpus(PathBuf),
    #[error("cannot write '{}': {source}; removed what this run had created", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl ScaffoldError {
    /// 1 when the target exists (as the seed script exits), 2 for usage and environment errors.
    pub fn exit_code(&self) -> i32 {
        match self {
            ScaffoldError::AlreadyExists(_) => judge_core::exit::CRITERIA_FAILED,
            _ => judge_core::exit::USAGE_OR_ENVIRONMENT,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scaffolded {
    pub destination: PathBuf,
    pub challenges: Vec<ChallengeId>,
}

/// A model name must name exactly one new folder inside the root.
pub fn validate_model_name(model: &str) -> Result<(), ScaffoldError> {
    let reason = if model.is_empty() {
        Some("it is empty")
    } else if model == "." || model == ".." {
        Some("it names the current or parent folder")
    } else if model.contains('/') || model.contains('\\') {
        Some("it contains a path separator")
    } else if model.starts_with('-') {
        Some("it starts with '-' and would read as an option")
    } else if model.contains('\0') {
        Some("it contains a NUL byte")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ScaffoldError::InvalidModelName(model.to_string(), reason)),
        None => Ok(()),
    }
}

/// The selected challenges in the seed's order, without duplicates.
fn selected(only: Option<&[ChallengeId]>) -> Vec<ChallengeId> {
    ChallengeId::ALL
        .into_iter()
        .filter(|id| only.is_none_or(|only| only.contains(id)))
        .collect()
}

/// Writes the scaffold and reports progress lines to `log` as the seed script prints them.
pub fn scaffold(
    options: &ScaffoldOptions,
    log: &mut dyn Write,
) -> Result<Scaffolded, ScaffoldError> {
    validate_model_name(&options.model)?;
    let destination = options.root.join(&options.model);
    if destination.exists() || destination.is_symlink() {
        return Err(ScaffoldError::AlreadyExists(destination));
    }
    let challenges = selected(options.only.as_deref());
    let corpus = options
        .train_data
        .clone()
        .unwrap_or_else(|| options.root.join(TRAIN_DATA_FILE));
    if challenges.contains(&ChallengeId::TernaryTraining) && !corpus.is_file() {
        return Err(ScaffoldError::MissingCorpus(corpus));
    }

    let created_top = first_missing_ancestor(&destination);
    let result = write_all(&destination, &challenges, &corpus, options.original, log);
    if result.is_err() {
        // Roll back: everything from the first folder this run created downwards.
        let _ = fs::remove_dir_all(&created_top);
    }
    result.map(|()| Scaffolded {
        destination,
        challenges,
    })
}

/// The outermost folder of `path` that does not exist yet (what a rollback must remove).
fn first_missing_ancestor(path: &Path) -> PathBuf {
    let mut top = path.to_path_buf();
    while let Some(parent) = top.parent() {
        if parent.as_os_str().is_empty() || parent.exists() {
            break;
        }
        top = parent.to_path_buf();
    }
    top
}

fn write_all(
    destination: &Path,
    challenges: &[ChallengeId],
    corpus: &Path,
    original: bool,
    log: &mut dyn Write,
) -> Result<(), ScaffoldError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Io { path, source }
    };
    if let Some(parent) = destination.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    // create_dir, not create_dir_all: if another process made it meanwhile, refuse.
    fs::create_dir(destination).map_err(|source| match source.kind() {
        io::ErrorKind::AlreadyExists => ScaffoldError::AlreadyExists(destination.to_path_buf()),
        _ => ScaffoldError::Io {
            path: destination.to_path_buf(),
            source,
        },
    })?;
    for &id in challenges {
        let folder = destination.join(id.as_str());
        fs::create_dir(&folder).map_err(io_error(&folder))?;
        let prompt = folder.join("PROMPT.md");
        fs::write(&prompt, prompts::prompt_markdown(id, original)).map_err(io_error(&prompt))?;
        if id == ChallengeId::TernaryTraining {
            let target = folder.join(TRAIN_DATA_FILE);
            fs::copy(corpus, &target).map_err(io_error(&target))?;
            let _ = writeln!(log, "  [data] {TRAIN_DATA_FILE}");
        }
        let _ = writeln!(log, "  [+] {id}");
    }
    Ok(())
}

/// The seed's closing message: the count, the destination, and the difficulty guide.
pub fn closing_message(done: &Scaffolded) -> String {
    format!(
        "\nScaffolded {} challenges into '{}/'\n\n{DIFFICULTY_GUIDE}",
        done.challenges.len(),
        done.destination.display()
    )
}

/// The seed script's difficulty guide and suggested order.
pub const DIFFICULTY_GUIDE: &str = "\
══════════════════════════════════════════════════════════════════════
  DIFFICULTY GUIDE
══════════════════════════════════════════════════════════════════════

  MEDIUM
    backwards/            Layer Norm backward pass (manual gradients)
    fuse/                 Fused softmax + top-K GPU kernel (CUDA)
    kv/                   KV-cache system design (variable-length batching)

  HARD
    beam_search/          Batched beam search with length penalty + EOS
    flash_attention/      Tiled Flash Attention forward pass (online softmax)

  EXTRA HARD
    dflash_verify/        DFlash tree attention verification (speculative decoding)
    flash_attention_bwd/  Flash Attention backward pass (tiled, recompute, dsoftmax)

  OPEN-ENDED RESEARCH (SOTA-grade)
    ternary_training/     Native ternary-weight LLM training from scratch
                          (BitNet b1.58 lineage, STE, group-wise quantization)

══════════════════════════════════════════════════════════════════════
  HOW TO USE
══════════════════════════════════════════════════════════════════════

  1. Start with MEDIUM challenges to baseline the model
  2. Each subfolder contains PROMPT.md — feed this to the model as-is
  3. The model should produce a .py (or .cu for fuse/) implementation
  4. Run it: cd <model>/<challenge> && python3 <file>.py
  5. All challenges have objective pass/fail criteria in the prompt
  6. Grade it: judge grade <model>/<challenge>   (or judge grade <model>)

  Suggested order (easiest first):
    backwards → fuse → kv → flash_attention → beam_search →
    dflash_verify → flash_attention_bwd → ternary_training

══════════════════════════════════════════════════════════════════════
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_that_are_not_one_new_folder_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\\b", "-n", "--help"] {
            assert!(
                matches!(
                    validate_model_name(bad),
                    Err(ScaffoldError::InvalidModelName(..))
                ),
                "{bad:?} accepted"
            );
        }
        for good in ["gpt-5", "claude_opus.4", "Qwen3 0.6B"] {
            assert!(validate_model_name(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn selection_keeps_the_seed_order() {
        let picked = selected(Some(&[ChallengeId::Kv, ChallengeId::Backwards]));
        assert_eq!(picked, [ChallengeId::Backwards, ChallengeId::Kv]);
        assert_eq!(selected(None).len(), 8);
    }

    #[test]
    fn rollback_target_is_the_outermost_created_folder() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("x/y/model");
        assert_eq!(first_missing_ancestor(&deep), dir.path().join("x"));
    }
}

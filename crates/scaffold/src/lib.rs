//! `judge scaffold`: lays out `MODEL/<challenge>/PROMPT.md` for a model to answer, exactly as the
//! seed's deploy_challenges.sh does, plus the training corpus for ternary_training.
//!
//! Every refusal happens before anything is written, and a failure half way removes what this
//! run created, so a scaffold either exists completely or not at all.

#![warn(missing_docs)]

pub mod prompts;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use judge_core::ChallengeId;
use judge_core::challenge::{CHALLENGES, ChallengeInfo, Difficulty};

/// The prompt's file name in each challenge folder.
pub const PROMPT_FILE_NAME: &str = "PROMPT.md";

/// What to scaffold and where.
#[derive(Debug, Clone, Default)]
pub struct ScaffoldOptions {
    /// The folder that receives MODEL/ (the seed uses the script's own folder).
    pub root: PathBuf,
    /// The model folder's name (see [`validate_model_name`]).
    pub model: String,
    /// The corpus for ternary_training; defaults to ROOT/train_data.txt as in the seed.
    pub train_data: Option<PathBuf>,
    /// Challenges to write, in any order; the seed's order is kept. `None` means all.
    pub only: Option<Vec<ChallengeId>>,
    /// Challenges to leave out.
    pub skip: Vec<ChallengeId>,
    /// Add the selected challenges to an existing model folder; challenge folders that exist
    /// are left exactly as they are.
    pub add: bool,
    /// Write the seed's prompt text alone, without the submission-interface sections.
    pub original: bool,
}

/// Why nothing (or nothing lasting) was scaffolded.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The model name would not make one plain folder below the root: the name, and why.
    #[error("invalid model name {0:?}: {1}")]
    InvalidModelName(String, &'static str),
    /// The model folder exists and `--add` was not given.
    #[error("'{}' already exists. Remove it, pick a different name, or pass --add to add challenges to it.", .0.display())]
    AlreadyExists(PathBuf),
    /// `--add` was given but there is no model folder to add to.
    #[error("'{}' does not exist: --add adds challenges to an existing model folder", .0.display())]
    NothingToAddTo(PathBuf),
    /// `--only` and `--skip` together select no challenge.
    #[error("no challenge selected: --only and --skip leave nothing to write")]
    NothingSelected,
    /// Writing failed half way; what this run created has been removed.
    #[error("cannot write '{}': {source}; removed what this run had created", path.display())]
    Io {
        /// The folder or file being written.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
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
    /// The model folder, ROOT/MODEL.
    pub destination: PathBuf,

    /// Challenge folders this run wrote.
    pub challenges: Vec<ChallengeId>,
    /// Selected challenges whose folder existed already (with `--add`): left untouched.
    pub kept: Vec<ChallengeId>,
    /// Data files that could not be copied because their source is missing: the challenge,
    /// the file name and where it was looked for. The prompt is written all the same.
    pub missing_data: Vec<(ChallengeId, &'static str, PathBuf)>,
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
fn selected(only: Option<&[ChallengeId]>, skip: &[ChallengeId]) -> Vec<ChallengeId> {
    ChallengeId::ALL
        .into_iter()
        .filter(|id| only.is_none_or(|only| only.contains(id)) && !skip.contains(id))
        .collect()
}

/// Writes the scaffold and reports progress lines to `log` as the seed script prints them.
pub fn scaffold(
    options: &ScaffoldOptions,
    log: &mut dyn Write,
) -> Result<Scaffolded, ScaffoldError> {
    validate_model_name(&options.model)?;
    let destination = options.root.join(&options.model);
    let exists = destination.exists() || destination.is_symlink();
    if exists && !options.add {
        return Err(ScaffoldError::AlreadyExists(destination));
    }
    if options.add && !destination.is_dir() {
        return Err(ScaffoldError::NothingToAddTo(destination));
    }
    let selection = selected(options.only.as_deref(), &options.skip);
    if selection.is_empty() {
        return Err(ScaffoldError::NothingSelected);
    }
    let (kept, challenges): (Vec<_>, Vec<_>) = selection.into_iter().partition(|id| {
        let folder = destination.join(id.as_str());
        options.add && (folder.exists() || folder.is_symlink())
    });
    let mut done = Scaffolded {
        destination,
        challenges,
        kept,
        missing_data: Vec::new(),
    };

    // Everything from the first folder this run created downwards: what a rollback removes.
    let created: Vec<PathBuf> = if options.add {
        done.challenges
            .iter()
            .map(|id| done.destination.join(id.as_str()))
            .collect()
    } else {
        vec![first_missing_ancestor(&done.destination)]
    };
    let result = write_all(options, &mut done, log);
    if result.is_err() {
        for path in &created {
            let _ = fs::remove_dir_all(path);
        }
    }
    result.map(|()| done)
}

/// Where the data file `name` is copied from: `--train-data`, else ROOT/name as in the seed.
fn data_source(options: &ScaffoldOptions, name: &str) -> PathBuf {
    options
        .train_data
        .clone()
        .unwrap_or_else(|| options.root.join(name))
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
    options: &ScaffoldOptions,
    done: &mut Scaffolded,
    log: &mut dyn Write,
) -> Result<(), ScaffoldError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Io { path, source }
    };
    let destination = done.destination.clone();
    if !options.add {
        if let Some(parent) = destination.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        // create_dir, not create_dir_all: if another process made it meanwhile, refuse.
        fs::create_dir(&destination).map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => ScaffoldError::AlreadyExists(destination.clone()),
            _ => ScaffoldError::Io {
                path: destination.clone(),
                source,
            },
        })?;
    }
    for &id in &done.kept {
        let _ = writeln!(log, "  [=] {id} (exists, left as it is)");
    }
    for &id in &done.challenges {
        let folder = destination.join(id.as_str());
        fs::create_dir(&folder).map_err(io_error(&folder))?;
        let prompt = folder.join(PROMPT_FILE_NAME);
        fs::write(&prompt, prompts::prompt_markdown(id, options.original))
            .map_err(io_error(&prompt))?;
        if let Some(name) = id.info().data_file {
            let source = data_source(options, name);
            if source.is_file() {
                let target = folder.join(name);
                fs::copy(&source, &target).map_err(io_error(&target))?;
                let _ = writeln!(log, "  [data] {name}");
            } else {
                done.missing_data.push((id, name, source));
            }
        }
        let _ = writeln!(log, "  [+] {id}");
    }
    Ok(())
}

/// The seed's closing message: the count, the destination, and the difficulty guide; then one
/// note per data file that could not be copied, saying how to supply it.
pub fn closing_message(done: &Scaffolded) -> String {
    let mut message = format!(
        "\nScaffolded {} challenges into '{}/'\n\n{}",
        done.challenges.len(),
        done.destination.display(),
        difficulty_guide()
    );
    for (id, name, looked_at) in &done.missing_data {
        message.push_str(&format!(
            "\nnote: {id}/{name} was not written: no file at '{}'. Copy your corpus to '{}', \
             or give it when grading (judge grade --train-data FILE); next time, \
             judge scaffold --train-data FILE.\n",
            looked_at.display(),
            done.destination.join(id.as_str()).join(name).display(),
        ));
    }
    message
}

const RULE: &str = "══════════════════════════════════════════════════════════════════════";

/// The seed script's difficulty guide and suggested order, derived from the challenge table.
pub fn difficulty_guide() -> String {
    difficulty_guide_of(CHALLENGES)
}

/// The guide over some rows of the table (all of them, or the seed's own for the pin test).
fn difficulty_guide_of(rows: &[ChallengeInfo]) -> String {
    let mut guide = format!("{RULE}\n  DIFFICULTY GUIDE\n{RULE}\n");
    for difficulty in Difficulty::ALL {
        guide.push_str(&format!("\n  {}\n", difficulty.guide_heading()));
        for row in rows.iter().filter(|c| c.difficulty == difficulty) {
            guide.push_str(&format!(
                "    {:<22}{}\n",
                format!("{}/", row.name),
                row.summary
            ));
            if let Some(detail) = row.guide_detail {
                guide.push_str(&format!("    {:<22}{detail}\n", ""));
            }
        }
    }
    let mut suggested: Vec<_> = rows.iter().collect();
    suggested.sort_by_key(|c| c.suggested_rank);
    let names: Vec<_> = suggested.iter().map(|c| c.name).collect();
    // The seed breaks the suggested order after its fifth challenge.
    let half = names.len().min(5);
    guide.push_str(&format!(
        "\n{RULE}\n  HOW TO USE\n{RULE}\n\n{HOW_TO_USE}\n  Suggested order (easiest first):\n    {} →\n    {}\n\n{RULE}\n",
        names[..half].join(" → "),
        names[half..].join(" → "),
    ));
    guide
}

const HOW_TO_USE: &str = "  1. Start with MEDIUM challenges to baseline the model
  2. Each subfolder contains PROMPT.md — feed this to the model as-is
  3. The model should produce a .py (or .cu for fuse/) implementation
  4. Run it: cd <model>/<challenge> && python3 <file>.py
  5. All challenges have objective pass/fail criteria in the prompt
  6. Grade it: judge grade <model>/<challenge>   (or judge grade <model>)
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

    /// The guide as it was written out by hand before it was derived from the table.
    const PINNED_GUIDE: &str = "\
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

    #[test]
    fn the_derived_difficulty_guide_is_the_seeds_byte_for_byte() {
        // Over the seed's own challenges, so a challenge added later leaves this pin true.
        let seed_rows: Vec<ChallengeInfo> = CHALLENGES
            .iter()
            .filter(|row| judge_core::challenge::SEED_CHALLENGES.contains(&row.name))
            .copied()
            .collect();
        assert_eq!(difficulty_guide_of(&seed_rows), PINNED_GUIDE);
        for row in CHALLENGES {
            assert!(
                difficulty_guide().contains(row.summary),
                "{} not in the guide",
                row.name
            );
        }
    }

    #[test]
    fn selection_keeps_the_seed_order() {
        let picked = selected(Some(&[ChallengeId::Kv, ChallengeId::Backwards]), &[]);
        assert_eq!(picked, [ChallengeId::Backwards, ChallengeId::Kv]);
        assert_eq!(selected(None, &[]).len(), ChallengeId::COUNT);
        assert_eq!(
            selected(None, &[ChallengeId::Fuse]),
            ChallengeId::ALL
                .into_iter()
                .filter(|id| *id != ChallengeId::Fuse)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn rollback_target_is_the_outermost_created_folder() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("x/y/model");
        assert_eq!(first_missing_ancestor(&deep), dir.path().join("x"));
    }
}

//! `judge examples DIR`: writes the bundled example model folders (a correct and a buggy answer
//! per challenge, and answers written to the bare prompts with the `judge_adapter.py` that maps
//! each onto the interface) as real files, so they can be graded one challenge at a time, copied
//! anywhere, or edited. They are the graders' own fixtures, embedded at build time: the
//! fixtures stay the one copy, and a grader test that changes one changes the example too.

use std::fs;
use std::path::Path;

use judge_core::ChallengeId;

use crate::cli::ExamplesArgs;

/// One file of an example answer.
struct ExampleFile {
    model: &'static str,
    challenge: ChallengeId,
    name: &'static str,
    text: &'static str,
}

/// `example!(MODEL, Challenge, "grader folder", "fixture", "file")` embeds one fixture file.
macro_rules! example {
    ($model:expr, $challenge:ident, $grader:literal, $fixture:literal, $file:literal) => {
        ExampleFile {
            model: $model,
            challenge: ChallengeId::$challenge,
            name: $file,
            text: include_str!(concat!(
                "../../../../graders/",
                $grader,
                "/tests/fixtures/",
                $fixture,
                "/",
                $file
            )),
        }
    };
}

const CORRECT: &str = "reference-solutions";
const BUGGY: &str = "buggy-solutions";
/// Answers written the way models answer the bare prompt (`--original`), each with its adapter.
const LEGACY: &str = "legacy-solutions";

/// The answers, in the seed's order; ternary_training has none (its fixtures are generated
/// training artifacts).
const EXAMPLES: &[ExampleFile] = &[
    example!(CORRECT, Backwards, "backwards", "correct", "layer_norm.py"),
    example!(CORRECT, Fuse, "fuse", "correct", "fused_softmax_topk.cu"),
    example!(CORRECT, Kv, "kv", "correct", "kv_cache.py"),
    example!(
        CORRECT,
        BeamSearch,
        "beam_search",
        "correct",
        "beam_search.py"
    ),
    example!(
        CORRECT,
        FlashAttention,
        "flash_attention",
        "correct",
        "flash_attention.py"
    ),
    example!(
        CORRECT,
        DflashVerify,
        "dflash_verify",
        "correct",
        "dflash_verify.py"
    ),
    example!(
        CORRECT,
        FlashAttentionBwd,
        "flash_attention_bwd",
        "correct",
        "flash_attention_bwd.py"
    ),
    example!(
        CORRECT,
        FlashAttentionBwd,
        "flash_attention_bwd",
        "correct",
        "test_flash_attention_bwd.py"
    ),
    example!(
        BUGGY,
        Backwards,
        "backwards",
        "one_pass_variance",
        "layer_norm.py"
    ),
    example!(
        BUGGY,
        Fuse,
        "fuse",
        "does_not_compile",
        "fused_softmax_topk.cu"
    ),
    example!(BUGGY, Kv, "kv", "reconcatenates", "kv_cache.py"),
    example!(
        BUGGY,
        BeamSearch,
        "beam_search",
        "drops_eos_beams",
        "beam_search.py"
    ),
    example!(
        BUGGY,
        FlashAttention,
        "flash_attention",
        "no_partial_mask",
        "flash_attention.py"
    ),
    example!(
        BUGGY,
        DflashVerify,
        "dflash_verify",
        "no_subtree_invalidation",
        "dflash_verify.py"
    ),
    example!(
        BUGGY,
        FlashAttentionBwd,
        "flash_attention_bwd",
        "d_within_tile",
        "flash_attention_bwd.py"
    ),
    example!(
        LEGACY,
        Backwards,
        "backwards",
        "bare_prompt",
        "layernorm.py"
    ),
    example!(
        LEGACY,
        Backwards,
        "backwards",
        "bare_prompt",
        "judge_adapter.py"
    ),
    example!(LEGACY, Kv, "kv", "bare_prompt", "kv_cache.py"),
    example!(LEGACY, Kv, "kv", "bare_prompt", "judge_adapter.py"),
    example!(
        LEGACY,
        BeamSearch,
        "beam_search",
        "bare_prompt",
        "beam_search.py"
    ),
    example!(
        LEGACY,
        BeamSearch,
        "beam_search",
        "bare_prompt",
        "judge_adapter.py"
    ),
    example!(
        LEGACY,
        DflashVerify,
        "dflash_verify",
        "bare_prompt",
        "dflash.py"
    ),
    example!(
        LEGACY,
        DflashVerify,
        "dflash_verify",
        "bare_prompt",
        "judge_adapter.py"
    ),
];

/// The example model folders, in the order they are listed.
const MODELS: [&str; 3] = [CORRECT, BUGGY, LEGACY];

pub fn run(args: ExamplesArgs) -> anyhow::Result<i32> {
    let dir = &args.dir;
    for model in MODELS {
        let folder = dir.join(model);
        if folder.exists() || folder.is_symlink() {
            eprintln!(
                "error: '{}' already exists; remove it or pick another folder",
                folder.display()
            );
            return Ok(judge_core::exit::CRITERIA_FAILED);
        }
    }
    for file in EXAMPLES {
        let folder = dir.join(file.model).join(file.challenge.as_str());
        fs::create_dir_all(&folder)?;
        write_new(&folder.join(file.name), file.text)?;
    }
    for model in MODELS {
        outln!("  [+] {}", dir.join(model).display());
    }
    outln!(
        "\nGrade them with: judge grade {} --out grades",
        dir.display()
    );
    Ok(judge_core::exit::SUCCESS)
}

/// Creates `path`, refusing to replace anything that is there.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write '{}': {e}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

//! One module per subcommand; each returns the process exit code.

mod cell;
mod docs;
mod doctor;
mod examples;
mod grade;
mod list;
mod output;
mod reference;
mod report;
mod review;
mod run;
mod scaffold;
mod setup;

use crate::cli::Command;

pub fn run(command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Scaffold(args) => scaffold::run(args),
        Command::List(args) => list::run(args),
        Command::Grade(args) => grade::run(args),
        Command::Run(args) => run::run(args),
        Command::Review(args) => review::run(args),
        Command::Reference(args) => reference::run(args),
        Command::Setup(args) => setup::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Report(args) => report::run(args),
        Command::Examples(args) => examples::run(args),
        Command::Completions(args) => docs::completions(args),
        Command::Man => docs::man(),
        Command::GradeCell => cell::serve(),
    }
}

/// Builds the grading context from the shared options.
fn context(run: &crate::cli::RunArgs) -> judge_core::GradeContext {
    let seed = run.seed.unwrap_or_else(random_seed);
    judge_core::GradeContext {
        seed,
        total_timeout: std::time::Duration::from_secs(run.timeout),
        memory_bytes: run.memory_gib << 30,
        train_data: run.train_data.clone(),
        show_progress: !run.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        adapter: None,
        entry: None,
    }
}

/// [`context`] for `judge grade`: with `--adapter` (read once, as any untrusted file: a
/// regular file, never through a link, capped) and `--entry`.
fn grade_context(args: &crate::cli::GradeArgs) -> anyhow::Result<judge_core::GradeContext> {
    use anyhow::Context as _;
    let mut ctx = context(&args.run);
    ctx.adapter = args
        .adapter
        .as_deref()
        .map(|path| {
            judge_core::ExternalAdapter::read(path)
                .with_context(|| format!("--adapter {}", path.display()))
        })
        .transpose()?;
    ctx.entry = args.entry.clone();
    Ok(ctx)
}

/// The key reports are signed and verified with: `--key FILE`, else `$JUDGE_KEY_FILE`, else
/// `report.key` in the judge's cache folder; created on first use.
fn report_key(flag: Option<&std::path::Path>) -> anyhow::Result<judge_core::signing::ReportKey> {
    use anyhow::Context as _;
    use judge_core::signing::{KEY_ENV, KEY_FILE_NAME, ReportKey};
    let from_env = std::env::var_os(KEY_ENV)
        .filter(|path| !path.is_empty())
        .map(std::path::PathBuf::from);
    let path = match flag.map(std::path::Path::to_path_buf).or(from_env) {
        Some(path) => path,
        None => judge_runner::managed_root()
            .context("finding the judge's cache folder for the report key")?
            .join(KEY_FILE_NAME),
    };
    Ok(ReportKey::load_or_create(&path)?)
}

/// A fresh seed from the standard library's per-process random keys (no RNG dependency needed).
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::process::id())
}

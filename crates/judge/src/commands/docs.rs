//! `judge completions SHELL` and `judge man`: generated from the clap definitions, so they
//! never disagree with `--help`.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

pub fn completions(args: CompletionsArgs) -> anyhow::Result<i32> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "judge", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(judge_core::exit::SUCCESS)
}

pub fn man() -> anyhow::Result<i32> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    out!("{}", String::from_utf8_lossy(&page));
    Ok(judge_core::exit::SUCCESS)
}

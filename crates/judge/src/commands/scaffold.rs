//! `judge scaffold -n MODEL`.

use std::io::Write;

use judge_scaffold::{ScaffoldOptions, closing_message, scaffold};

use crate::cli::ScaffoldArgs;

pub fn run(args: ScaffoldArgs) -> anyhow::Result<i32> {
    let root = match args.root {
        Some(root) => root,
        None => std::env::current_dir()?,
    };
    let options = ScaffoldOptions {
        root,
        model: args.model,
        train_data: args.train_data,
        only: args.only,
        skip: args.skip,
        add: args.add,
        original: args.original,
    };
    let mut stdout = std::io::stdout().lock();
    match scaffold(&options, &mut stdout) {
        Ok(done) => {
            write!(stdout, "{}", closing_message(&done))?;
            Ok(judge_core::exit::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {error}");
            Ok(error.exit_code())
        }
    }
}

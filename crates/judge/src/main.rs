//! `judge`: the command-line edge. Parses arguments, wires the graders together, prints.
//! Everything else lives in the library crates.

mod cli;
mod commands;
mod registry;

use std::process::ExitCode;

use clap::Parser;

/// Counts heap bytes so memory criteria can measure our in-process references.
#[global_allocator]
static ALLOCATOR: judge_core::heap::CountingAllocator = judge_core::heap::CountingAllocator;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    let code = match commands::run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            judge_core::exit::USAGE_OR_ENVIRONMENT
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}

/// Diagnostics go to stderr; `JUDGE_LOG` (an env-filter string) overrides `-v`.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("JUDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

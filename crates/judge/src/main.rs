//! `judge`: the command-line edge. Parses arguments, wires the graders together, prints.
//! Everything else lives in the library crates.

/// `println!` that returns an error instead of panicking when stdout is closed
/// (`judge list | head -1`); `main` turns a broken pipe into a quiet exit 0.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// `print!` with the same error handling as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        write!(stdout, $($arg)*)?;
        stdout.flush()?
    }};
}

mod cli;
mod commands;
mod interrupt;
mod registry;

use std::process::ExitCode;

use clap::Parser;

/// Counts heap bytes so memory criteria can measure our in-process references.
#[global_allocator]
static ALLOCATOR: judge_heap::CountingAllocator = judge_heap::CountingAllocator;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    let code = match commands::run(cli.command) {
        Ok(code) => code,
        // The reader went away (`| head`): what it wanted was printed, nothing to report.
        Err(error) if is_broken_pipe(&error) => judge_core::exit::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            judge_core::exit::USAGE_OR_ENVIRONMENT
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

//! One module per subcommand; each returns the process exit code.

mod list;
mod scaffold;

use crate::cli::Command;

pub fn run(command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Scaffold(args) => scaffold::run(args),
        Command::List(args) => list::run(args),
    }
}

//! The command line, declared with clap's derive API.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use judge_core::ChallengeId;

/// Grades LLM solutions to ML-systems challenges against hidden, seeded tests.
///
/// Exit codes: 0 every auto criterion passed; 1 some criterion failed (or the scaffold target
/// exists); 2 usage or environment error, or a fault of the harness itself.
#[derive(Debug, Parser)]
#[command(name = "judge", version, about, long_about = None)]
pub struct Cli {
    /// More diagnostics on stderr (-v info, -vv debug); JUDGE_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write MODEL/<challenge>/PROMPT.md for every challenge (and the ternary corpus).
    Scaffold(ScaffoldArgs),
    /// List the challenges, their difficulty and their criteria.
    List(ListArgs),
}

#[derive(Debug, clap::Args)]
pub struct ScaffoldArgs {
    /// Name of the model folder to create.
    #[arg(
        short = 'n',
        long = "name",
        value_name = "MODEL",
        allow_hyphen_values = true
    )]
    pub model: String,
    /// Folder that receives MODEL/ [default: the current folder].
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Corpus copied into ternary_training/ [default: DIR/train_data.txt].
    #[arg(long, value_name = "FILE")]
    pub train_data: Option<PathBuf>,
    /// Only these challenges (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub only: Option<Vec<ChallengeId>>,
    /// Write the seed's prompts alone, without the "Submission interface" sections.
    #[arg(long)]
    pub original: bool,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

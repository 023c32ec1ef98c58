//! The command line, declared with clap's derive API.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use judge_core::ChallengeId;
use judge_core::discover::Shard;
use serde::{Deserialize, Serialize};

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
    /// Grade submissions in the sandbox against hidden, seeded tests.
    Grade(GradeArgs),
    /// Ask a model (an OpenAI-compatible endpoint) to answer the challenges, then grade it.
    Run(ModelRunArgs),
    /// Ask a model to review the manual criteria of existing reports (kept apart from the score).
    Review(ReviewArgs),
    /// Run our own Rust reference implementations through the same criteria.
    Reference(ReferenceArgs),
    /// Gather every GRADE.json below a folder into a grade matrix (Markdown, JSON or HTML).
    Report(ReportArgs),
    /// Create (or repair) the managed Python environment submissions run under.
    Setup(SetupArgs),
    /// Report what grading needs and whether this machine has it.
    Doctor(DoctorArgs),
    /// Write the bundled example model folders (a correct and a buggy answer per challenge).
    Examples(ExamplesArgs),
    /// Print a shell completion script (e.g. `judge completions bash > /etc/bash_completion.d/judge`).
    Completions(CompletionsArgs),
    /// Print the man page (roff), e.g. `judge man > judge.1 && man ./judge.1`.
    Man,
    /// Internal: grade the one submission described on stdin (`judge grade` runs each
    /// submission in such a child process).
    #[command(name = "grade-cell", hide = true)]
    GradeCell,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ExamplesArgs {
    /// Folder that receives reference-solutions/ and buggy-solutions/.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// Also install a CUDA compiler (PyPI's nvcc wheels, ~130 MB) into the managed
    /// environment, so fuse submissions can be compiled on machines without CUDA.
    #[arg(long)]
    pub cuda: bool,
}

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
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
    /// Leave these challenges out (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub skip: Vec<ChallengeId>,
    /// Add the selected challenges to an existing MODEL folder; challenge folders that
    /// already exist are left as they are.
    #[arg(long)]
    pub add: bool,
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

/// Options shared by everything that runs criteria.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub struct RunArgs {
    /// Seed for the hidden cases [default: random, recorded in the report].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Wall-clock limit for grading one submission, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Address-space limit for submission processes, in GiB.
    #[arg(long, value_name = "GIB", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub memory_gib: u64,
    /// Corpus for ternary_training when the submission folder has none.
    #[arg(long, value_name = "FILE")]
    pub train_data: Option<PathBuf>,
    /// Print the reports as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// No progress display.
    #[arg(short, long)]
    pub quiet: bool,
    /// Key that signs the reports [default: $JUDGE_KEY_FILE, else report.key in the judge's
    /// cache folder, created on first use]. Share one across a cluster.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

/// Serialisable: `judge grade` hands them to each grade-cell child on its stdin.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub struct GradeArgs {
    /// A challenge folder (MODEL/<challenge>), a model folder, or a root of model folders.
    pub path: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
    /// Write GRADE.json files below DIR/<model>/<challenge>/ instead of into the submissions.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Grade through this adapter (a judge_adapter.py kept outside the submission): it is
    /// copied into the scratch copy only, and the grade is marked "via adapter".
    #[arg(long, value_name = "FILE")]
    pub adapter: Option<PathBuf>,
    /// The entry file (relative to the submission folder) when several define the contract.
    #[arg(long, value_name = "FILE")]
    pub entry: Option<String>,
    /// Submissions graded in parallel.
    #[arg(short, long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub jobs: usize,
    /// Grade only shard I of N (0-based), e.g. `--shard $SLURM_ARRAY_TASK_ID/$N`.
    #[arg(long, value_name = "I/N")]
    #[serde(skip)]
    pub shard: Option<Shard>,
    /// Re-grade even when an up-to-date GRADE.json exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Args)]
pub struct ReferenceArgs {
    /// Challenges whose reference to run.
    #[arg(
        value_name = "ID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub challenges: Vec<ChallengeId>,
    /// Every challenge that has a grader.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub run: RunArgs,
    /// Also write each (signed) report to DIR/reference/<challenge>/GRADE.json, where
    /// `judge report DIR` shows it as the reference column.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Folder searched for GRADE.json files: a root of models, a `--out` folder, or a folder
    /// holding the `--out` folders of several shards.
    #[arg(value_name = "ROOT")]
    pub root: PathBuf,
    /// md (for a README), json (for tools) or html (one self-contained page with a heat-map).
    #[arg(long, value_name = "md|json|html", default_value = "md")]
    pub format: judge_report::Format,
    /// Write the report to FILE (atomically) and print its path, instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Key the reports must be signed with [default: $JUDGE_KEY_FILE, else report.key in the
    /// judge's cache folder].
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Also count reports not signed with the key (the page says so); they may be forged.
    #[arg(long)]
    pub accept_unsigned: bool,
    /// Leaderboard arithmetic: skipped auto criteria count as failed and every challenge is in
    /// a total, a missing one as 0. Without it, cells are scored over what ran and totals over
    /// the challenges that ran, each saying so.
    #[arg(long)]
    pub strict: bool,
}

/// How to reach an OpenAI-compatible `/v1/chat/completions` endpoint.
#[derive(Debug, clap::Args)]
pub struct EndpointArgs {
    /// The server: `http://localhost:8000/v1` (vLLM), `http://localhost:8080` (llama.cpp),
    /// `https://api.openai.com/v1`, … (`/v1/chat/completions` is added when missing).
    #[arg(long, value_name = "URL")]
    pub endpoint: String,
    /// Read the API key from this environment variable (never from the command line; it is
    /// sent as a bearer token and written nowhere).
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Seconds one request may take, connection to last byte.
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Tries per request (HTTP 429, 5xx, resets and timeouts are retried with back-off).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub tries: u32,
    /// Longest reply, in tokens [default: the server's].
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,
}

#[derive(Debug, clap::Args)]
pub struct ModelRunArgs {
    /// Name of the model folder (scaffolded when missing, reused when it exists).
    #[arg(
        short = 'n',
        long = "name",
        value_name = "MODEL",
        allow_hyphen_values = true
    )]
    pub model: String,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// The model id the server knows [default: MODEL].
    #[arg(long, value_name = "ID")]
    pub model_id: Option<String>,
    /// Folder that receives MODEL/ (and MODEL@2/, … with --samples) [default: the current folder].
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Only these challenges (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub only: Option<Vec<ChallengeId>>,
    /// Independent answers per challenge: sample 1 in MODEL/, sample k in MODEL@k/.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub samples: u32,
    /// Sampling temperature [default: the server's].
    #[arg(long, value_name = "T")]
    pub temperature: Option<f64>,
    /// Requests in flight at once (each answer is graded by the worker that fetched it).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub concurrency: usize,
    /// A system message sent before every prompt.
    #[arg(long, value_name = "FILE")]
    pub system: Option<PathBuf>,
    /// Ask again for samples that already have a transcript.json.
    #[arg(long)]
    pub force: bool,
    /// Seed for the hidden cases [default: random, recorded in the report].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Wall-clock limit for grading one answer, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub grade_timeout: u64,
    /// Address-space limit for submission processes, in GiB.
    #[arg(long, value_name = "GIB", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub memory_gib: u64,
    /// Corpus for ternary_training (copied into its folders, as `judge scaffold` does).
    #[arg(long, value_name = "FILE")]
    pub train_data: Option<PathBuf>,
    /// No progress display.
    #[arg(short, long)]
    pub quiet: bool,
    /// Key the reports are signed with [default: $JUDGE_KEY_FILE, else report.key in the
    /// judge's cache folder].
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    /// A challenge folder, a model folder or a root of model folders, graded already.
    pub path: PathBuf,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// The reviewing model's id, as the server knows it.
    #[arg(short = 'm', long, value_name = "ID")]
    pub model_id: String,
    /// Review again criteria that already have a review.
    #[arg(long)]
    pub force: bool,
    /// Key the reports are signed with [default: $JUDGE_KEY_FILE, else report.key in the
    /// judge's cache folder].
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

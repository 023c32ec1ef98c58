//! How results reach the user: tables or JSON on stdout, progress on stderr.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use judge_core::{ChallengeId, Report};
use judge_report::render::{terminal, use_colour};

/// The hash of the prompt a submission answers (seed text + interface section).
pub fn prompt_sha256(id: ChallengeId) -> String {
    judge_core::fingerprint::sha256_hex(
        judge_scaffold::prompts::prompt_markdown(id, false).as_bytes(),
    )
}

/// Prints reports as terminal tables, or as one JSON array with `json`.
pub fn print_reports(reports: &[Report], json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(reports)?);
        return Ok(());
    }
    for report in reports {
        print_table(report)?;
    }
    Ok(())
}

/// One report as the terminal table.
pub fn print_table(report: &Report) -> anyhow::Result<()> {
    let colour = use_colour(std::io::stdout().is_terminal());
    outln!("{}", terminal(report, colour, terminal_width()));
    Ok(())
}

/// What every output says of a reused grade, so it never looks fresh.
pub fn cached_note(report: &Report) -> String {
    format!(
        "cached: graded {}, seed {}; --force to re-grade",
        judge_report::render::utc_minute(report.started_unix),
        report.fingerprint.seed
    )
}

fn terminal_width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(120)
}

/// A progress bar on stderr, only when it is a terminal and there is more than one step.
pub fn progress(steps: usize, quiet: bool) -> ProgressBar {
    if quiet || steps < 2 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("the template is valid"),
    );
    bar
}

//! Human renderings of a report: a terminal table and Markdown. JSON is `Report::to_json`.

use std::fmt::Write as _;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};

use crate::criterion::{CriterionKind, CriterionResult, Verdict};
use crate::report::{CandidateKind, Report, Tally};

/// Whether to colour terminal output: only on a TTY, and never when NO_COLOR is set
/// (<https://no-color.org>: any non-empty value).
pub fn use_colour(is_tty: bool) -> bool {
    is_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The label a reader sees: manual criteria are "REVIEW", not "SKIPPED", so nobody mistakes an
/// unread explanation for a skipped test.
pub fn status_label(result: &CriterionResult) -> &'static str {
    match (&result.criterion.kind, &result.verdict) {
        (CriterionKind::Manual, Verdict::Skipped { .. }) => "REVIEW",
        (_, verdict) => verdict.label(),
    }
}

fn status_colour(result: &CriterionResult) -> Color {
    match status_label(result) {
        "PASS" => Color::Green,
        "FAIL" => Color::Red,
        "ERROR" => Color::Magenta,
        "REVIEW" => Color::Cyan,
        _ => Color::Yellow,
    }
}

/// The first line of a report: what was graded, from where, with which seed.
pub fn heading(report: &Report) -> String {
    let what = match report.candidate {
        CandidateKind::Reference => "reference".to_string(),
        CandidateKind::Submission => report
            .submission
            .as_ref()
            .map(|s| s.path.clone())
            .unwrap_or_else(|| "submission".into()),
    };
    let entry = report
        .submission
        .as_ref()
        .and_then(|s| s.entry.as_deref())
        .map(|e| format!(" · entry {e}"))
        .unwrap_or_default();
    format!(
        "{} [{}] — {what}{entry} · seed {}",
        report.challenge,
        report.challenge.difficulty(),
        report.fingerprint.seed
    )
}

fn tally_text(name: &str, tally: &Tally) -> Option<String> {
    if tally.total == 0 {
        return None;
    }
    let mut parts = vec![format!("{}/{} passed", tally.pass, tally.total)];
    for (count, word) in [
        (tally.fail, "failed"),
        (tally.error, "error"),
        (tally.skipped, "skipped"),
    ] {
        if count > 0 {
            parts.push(format!("{count} {word}"));
        }
    }
    Some(format!("{name} {}", parts.join(", ")))
}

/// The closing line: totals per kind and the score.
pub fn summary_line(report: &Report) -> String {
    let mut parts: Vec<String> = [
        tally_text("auto", &report.totals.auto),
        tally_text("self-test", &report.totals.self_test),
    ]
    .into_iter()
    .flatten()
    .collect();
    if report.totals.manual.total > 0 {
        parts.push(format!("{} manual to review", report.totals.manual.total));
    }
    parts.push(format!("score {:.2}", report.score));
    parts.push(format!("{:.1}s", report.seconds));
    parts.join(" · ")
}

/// A table for the terminal, `width` columns wide.
pub fn terminal(report: &Report, colour: bool, width: u16) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(["status", "kind", "criterion", "evidence", "s"]);
    if !colour {
        table.force_no_tty();
    } else {
        table.enforce_styling();
    }
    for result in &report.criteria {
        let status = Cell::new(status_label(result));
        let status = if colour {
            status.fg(status_colour(result))
        } else {
            status
        };
        table.add_row(vec![
            status,
            Cell::new(result.criterion.kind.label()),
            Cell::new(&result.criterion.title),
            Cell::new(result.verdict.detail()),
            Cell::new(format!("{:.2}", result.seconds)),
        ]);
    }
    let mut out = heading(report);
    out.push('\n');
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let _ = writeln!(out, "{table}");
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

/// Escapes the characters that would break a Markdown table cell.
pub fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The report as a Markdown section with one table.
pub fn markdown(report: &Report) -> String {
    let mut out = format!("### {}\n\n", markdown_cell(&heading(report)));
    for note in &report.notes {
        let _ = writeln!(out, "> note: {}", markdown_cell(note));
    }
    if !report.notes.is_empty() {
        out.push('\n');
    }
    out.push_str("| status | kind | criterion | evidence | s |\n|---|---|---|---|---:|\n");
    for result in &report.criteria {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} |",
            status_label(result),
            result.criterion.kind.label(),
            markdown_cell(&result.criterion.title),
            markdown_cell(result.verdict.detail()),
            result.seconds
        );
    }
    let _ = writeln!(out, "\n{}", summary_line(report));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_report;

    #[test]
    fn terminal_table_shows_every_criterion_with_its_evidence() {
        let text = terminal(&sample_report(), false, 200);
        assert!(text.starts_with("flash_attention [HARD] — some-model/flash_attention"));
        assert!(text.contains("entry flash.py"));
        for needle in [
            "PASS",
            "FAIL",
            "SKIPPED",
            "REVIEW",
            "max rel err 2.1e-12",
            "no GPU",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        assert!(!text.contains('\u{1b}'), "no escape codes without colour");
        assert!(text.trim_end().ends_with("1.5s"));
        assert!(text.contains("auto 1/3 passed, 1 failed, 1 skipped"));
    }

    #[test]
    fn colour_adds_escape_codes() {
        let text = terminal(&sample_report(), true, 200);
        assert!(text.contains('\u{1b}'));
    }

    #[test]
    fn markdown_escapes_pipes_and_lists_all_rows() {
        let mut report = sample_report();
        report.criteria[0].verdict = Verdict::pass("a | b");
        let md = markdown(&report);
        assert!(md.contains("a \\| b"));
        assert_eq!(md.lines().filter(|l| l.starts_with("| ")).count(), 1 + 5);
    }

    #[test]
    fn colour_is_off_without_a_tty() {
        assert!(!use_colour(false));
    }
}

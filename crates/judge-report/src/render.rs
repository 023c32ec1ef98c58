//! Human renderings of one report: a terminal table and Markdown (JSON is `Report::to_json`),
//! and the escaping of untrusted text that every rendering here, the matrix's too, goes through.

use std::fmt::Write as _;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};

use judge_schema::{CandidateKind, CriterionKind, CriterionResult, Report, Tally, Verdict};

/// Whether to colour terminal output: only on a TTY, and never when NO_COLOR is set
/// (<https://no-color.org>: any non-empty value).
pub fn use_colour(is_tty: bool) -> bool {
    is_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Untrusted text (evidence, file names, tracebacks, model names) made safe to print: C0 and
/// C1 control characters (ESC starts ANSI and OSC sequences that clear the screen or write the
/// clipboard, CR overwrites a line), DEL, and the Unicode bidirectional controls (U+202E shows
/// what follows reversed) come out as `\u{..}` escapes. Newlines and tabs are kept when
/// `multiline` allows them (a traceback in a table cell), escaped otherwise (a heading or a
/// note, where a newline could forge a line of the judge's own).
pub fn printable(text: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        let bidi = matches!(
            ch,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        );
        let kept_space = multiline && (ch == '\n' || ch == '\t');
        if (ch.is_control() && !kept_space) || bidi || ch == '\u{2028}' || ch == '\u{2029}' {
            let _ = write!(out, "\\u{{{:x}}}", ch as u32);
        } else {
            out.push(ch);
        }
    }
    out
}

/// The label a reader sees: manual criteria are "REVIEW", not "SKIPPED", so nobody mistakes an
/// unread explanation for a skipped test; an ERROR because the interface was not followed is
/// "ERROR C!", so nobody mistakes it for a wrong algorithm (see [`CONTRACT_LEGEND`]).
pub fn status_label(result: &CriterionResult) -> &'static str {
    match (&result.criterion.kind, &result.verdict) {
        (CriterionKind::Manual, Verdict::Skipped { .. }) => "REVIEW",
        (_, verdict) if verdict.is_contract_fault() => "ERROR C!",
        (_, verdict) => verdict.label(),
    }
}

/// The line under a table with "C!" rows.
pub const CONTRACT_LEGEND: &str = "C! = interface not followed: the answer could not be checked \
     because it does not meet the interface (missing name, wrong signature, return type or \
     shape); it scores as ERROR, and is not a wrong answer";

fn status_colour(result: &CriterionResult) -> Color {
    match status_label(result) {
        "PASS" => Color::Green,
        "FAIL" => Color::Red,
        "ERROR" => Color::Magenta,
        "ERROR C!" => Color::DarkYellow,
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
            .map(|s| printable(&s.path, false))
            .unwrap_or_else(|| "submission".into()),
    };
    let entry = report
        .submission
        .as_ref()
        .and_then(|s| s.entry.as_deref())
        .map(|e| format!(" · entry {}", printable(e, false)))
        .unwrap_or_default();
    let adapter = adapter_mark(report)
        .map(|mark| format!(" · {mark}"))
        .unwrap_or_default();
    format!(
        "{} [{}] — {what}{entry}{adapter} · seed {}",
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

/// Seconds since the epoch as a UTC date and minute (the civil-from-days algorithm of Howard
/// Hinnant, so no date crate is needed for one line).
pub fn utc_minute(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let minutes = (unix % 86_400) / 60;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minutes / 60,
        minutes % 60
    )
}

/// `via adapter judge_adapter.py`, for a grade made through an adapter: not an answer that
/// followed the interface.
pub fn adapter_mark(report: &Report) -> Option<String> {
    let adapter = report.submission.as_ref()?.adapter.as_ref()?;
    Some(format!("via adapter {}", printable(&adapter.path, false)))
}

fn has_contract_rows(report: &Report) -> bool {
    report
        .criteria
        .iter()
        .any(|r| r.verdict.is_contract_fault())
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
    if has_contract_rows(report) {
        parts.push("C! interface not followed".to_string());
    }
    if let Some(mark) = adapter_mark(report) {
        parts.push(mark);
    }
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
            Cell::new(printable(&result.criterion.title, false)),
            Cell::new(printable(result.verdict.detail(), true)),
            Cell::new(format!("{:.2}", result.seconds)),
        ]);
    }
    let mut out = heading(report);
    out.push('\n');
    for note in &report.notes {
        let _ = writeln!(out, "note: {}", printable(note, false));
    }
    let _ = writeln!(out, "{table}");
    if has_contract_rows(report) {
        let _ = writeln!(out, "{CONTRACT_LEGEND}");
    }
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

/// Escapes the characters that would break a Markdown table cell, and what [`printable`]
/// escapes.
pub fn markdown_cell(text: &str) -> String {
    printable(text, true).replace('|', "\\|").replace('\n', " ")
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
    if has_contract_rows(report) {
        let _ = writeln!(out, "\n{CONTRACT_LEGEND}");
    }
    let _ = writeln!(out, "\n{}", summary_line(report));
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn utc_minutes_are_civil_dates() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_minute(1_796_298_900), "2026-12-03 11:55 UTC");
    }

    use super::*;
    use judge_schema::sample::sample_report;

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
    fn contract_errors_and_adapters_are_marked_in_the_terminal_and_markdown() {
        let mut report = sample_report();
        report.criteria[0].verdict =
            Verdict::contract_error("expected f(a, b); found f(model, a, b)");
        report.submission.as_mut().unwrap().adapter = Some(judge_schema::report::AdapterInfo {
            path: "judge_adapter.py".into(),
            sha256: "ab".repeat(32),
        });
        for text in [terminal(&report, false, 200), markdown(&report)] {
            assert!(text.contains("ERROR C!"), "{text}");
            assert!(text.contains(CONTRACT_LEGEND), "{text}");
            assert!(text.contains("via adapter judge_adapter.py"), "{text}");
        }
        let plain = terminal(&sample_report(), false, 200);
        assert!(
            !plain.contains("C!") && !plain.contains("via adapter"),
            "{plain}"
        );
    }

    #[test]
    fn colour_is_off_without_a_tty() {
        assert!(!use_colour(false));
    }

    /// Hostile strings a submission controls: ANSI clear-screen, an OSC 52 clipboard write, a
    /// carriage return and newline that forge the judge's summary line, and a U+202E override.
    const HOSTILE: &str = "ok\u{1b}[2J\u{1b}]52;c;Y3VybCBldmlsLnNo\u{7}\r\nauto 9/9 passed · score 1.00\u{202e}gnp.exe";

    fn hostile_report() -> Report {
        let mut report = sample_report();
        report.criteria[0].verdict = Verdict::fail(HOSTILE);
        report.notes.push(format!("skipped {HOSTILE}"));
        report.submission.as_mut().unwrap().path = format!("model{HOSTILE}");
        report
    }

    #[test]
    fn control_characters_and_bidi_overrides_are_shown_escaped() {
        assert_eq!(
            printable("a\u{1b}[2J\tb\nc\u{202e}d\u{9b}", true),
            "a\\u{1b}[2J\tb\nc\\u{202e}d\\u{9b}"
        );
        assert_eq!(printable("a\nb\tc", false), "a\\u{a}b\\u{9}c");
        assert_eq!(printable("plain · ü ✓", false), "plain · ü ✓");
    }

    #[test]
    fn hostile_evidence_cannot_drive_the_terminal_or_forge_a_line() {
        for text in [
            terminal(&hostile_report(), false, 200),
            terminal(&hostile_report(), true, 200),
            markdown(&hostile_report()),
        ] {
            for raw in ['\r', '\u{7}', '\u{202e}'] {
                assert!(!text.contains(raw), "{raw:?} reached the output:\n{text}");
            }
            assert!(
                !text.contains("\u{1b}[2J") && !text.contains("\u{1b}]52"),
                "{text}"
            );
            assert!(text.contains("\\u{1b}[2J") && text.contains("\\u{202e}gnp.exe"));
            // The forged summary only ever appears inside a table cell or an escaped line.
            assert!(
                !text.lines().any(|l| l.starts_with("auto 9/9")),
                "a forged line:\n{text}"
            );
        }
    }
}

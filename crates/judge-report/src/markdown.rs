//! The matrix as Markdown for a README: the table, the ranking, the failing criteria per cell
//! (compact), then the problems.

use std::fmt::Write as _;

use crate::grade::{GRADE_SCALE, Grade, percent};
use crate::matrix::{Cell, Matrix, REFERENCE_COLUMN, Status};

/// Evidence longer than this is cut in the Markdown (the HTML and JSON keep all of it).
const EVIDENCE_CHARS: usize = 200;

/// Escapes report text for Markdown: backslash-escapes the punctuation that would start code,
/// emphasis, links, HTML or a table cell border, and folds newlines. Reports are untrusted, so
/// `<script>` must come out as text.
pub fn md_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' | '`' | '*' | '<' | '>' | '|' | '[' | ']' | '&' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// What a cell that is not counted shows instead of a score.
pub(crate) const UNVERIFIED: &str = "unverified";

/// `87% B`, `40% ERR`, with a dagger when stale and a double dagger when counted unsigned;
/// `unverified` when not counted.
pub(crate) fn cell_text(cell: &Cell) -> String {
    if !cell.counted {
        return UNVERIFIED.to_string();
    }
    let stale = if cell.stale { " †" } else { "" };
    let unsigned = if cell.verified { "" } else { " ‡" };
    format!("{}% {}{stale}{unsigned}", percent(cell.score), cell.grade)
}

/// What the page says when `--accept-unsigned` counted reports this judge did not sign.
pub fn accept_unsigned_notice() -> &'static str {
    "Unsigned reports are counted (--accept-unsigned): cells marked ‡ are not signed by this \
     judge's key, so anyone could have written them."
}

/// The sentence under the table that says how to read it.
pub fn legend() -> String {
    let steps: Vec<String> = GRADE_SCALE
        .iter()
        .filter(|(grade, _)| *grade != Grade::F)
        .map(|(grade, minimum)| format!("{grade} ≥ {}%", percent(*minimum)))
        .collect();
    let lowest = GRADE_SCALE
        .iter()
        .rev()
        .nth(1)
        .map_or(0, |(_, minimum)| percent(*minimum));
    format!(
        "Score = weighted fraction of auto criteria passed (skipped ones count as not passed; \
         self-test and manual criteria never count). Grades: {}, F below {lowest}%. \
         Totals are the mean over all 8 challenges; a challenge without a report counts as 0. \
         ERR = the judge itself failed on that cell (harness fault): re-grade it. \
         † = stale report (another grader version or prompt; see Problems). \
         unverified = a report not signed by this judge's key (planted, forged or edited): \
         not counted.",
        steps.join(", ")
    )
}

/// The whole matrix as Markdown.
pub fn markdown(matrix: &Matrix) -> String {
    let mut out = String::from("## Grade matrix\n\n");
    if matrix.accept_unsigned {
        let _ = writeln!(out, "> **{}**\n", accept_unsigned_notice());
    }
    table(matrix, &mut out);
    let _ = writeln!(out, "\n{}\n", legend());
    ranking(matrix, &mut out);
    failing(matrix, &mut out);
    problems(matrix, &mut out);
    out
}

fn table(matrix: &Matrix, out: &mut String) {
    let header: Vec<String> = matrix.models.iter().map(|m| md_text(m)).collect();
    let _ = writeln!(out, "| challenge | difficulty | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|---|{}", "---:|".repeat(matrix.models.len()));
    for row in &matrix.challenges {
        let cells: Vec<String> = matrix
            .models
            .iter()
            .map(|model| {
                matrix
                    .cell(model, row.id)
                    .map(cell_text)
                    .unwrap_or_default()
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            row.id,
            row.difficulty,
            cells.join(" | ")
        );
    }
    let totals: Vec<String> = matrix
        .totals
        .iter()
        .map(|t| format!("**{}% {}**", percent(t.score), t.grade))
        .collect();
    let _ = writeln!(out, "| **total** | | {} |", totals.join(" | "));
    let ranks: Vec<String> = matrix
        .totals
        .iter()
        .map(|t| t.rank.map_or("—".to_string(), |r| r.to_string()))
        .collect();
    let _ = writeln!(out, "| **rank** | | {} |", ranks.join(" | "));
}

fn ranking(matrix: &Matrix, out: &mut String) {
    out.push_str("### Ranking\n\n");
    let challenges = matrix.challenges.len();
    for total in &matrix.totals {
        let place = match total.rank {
            Some(rank) => format!("{rank}."),
            None => "-".to_string(),
        };
        let baseline = if total.model == REFERENCE_COLUMN {
            " (our reference, unranked)"
        } else {
            ""
        };
        let mut flags = String::new();
        if total.harness_faults > 0 {
            let _ = write!(flags, " · {} ERR", total.harness_faults);
        }
        if total.stale > 0 {
            let _ = write!(flags, " · {} stale", total.stale);
        }
        if total.unverified > 0 {
            let counted = if matrix.accept_unsigned {
                "counted"
            } else {
                "not counted"
            };
            let _ = write!(flags, " · {} unverified ({counted})", total.unverified);
        }
        let _ = writeln!(
            out,
            "{place} **{}**{baseline} — {}% ({}) · {}/{challenges} challenges graded{flags}",
            md_text(&total.model),
            percent(total.score),
            total.grade,
            total.graded,
        );
    }
    out.push('\n');
}

fn failing(matrix: &Matrix, out: &mut String) {
    out.push_str("### Failing criteria\n\n");
    let mut any = false;
    for model in &matrix.models {
        for row in &matrix.challenges {
            let Some(cell) = matrix.cell(model, row.id).filter(|c| c.counted) else {
                continue;
            };
            let review: Vec<String> = cell
                .criteria
                .iter()
                .filter(|c| c.status == Status::Review)
                .map(|c| md_text(&c.id))
                .collect();
            if cell.failing.is_empty() && review.is_empty() {
                continue;
            }
            any = true;
            let _ = writeln!(
                out,
                "**{} · {}** — {}",
                md_text(model),
                row.id,
                cell_text(cell)
            );
            for line in &cell.failing {
                let harness = if line.harness_fault { " (harness)" } else { "" };
                let _ = writeln!(
                    out,
                    "- {}{harness} {} ({}): {}",
                    line.status.label(),
                    md_text(&line.id),
                    md_text(&line.title),
                    md_text(&cut(&line.evidence, EVIDENCE_CHARS))
                );
            }
            if !review.is_empty() {
                let _ = writeln!(out, "- needs review: {}", review.join(", "));
            }
            out.push('\n');
        }
    }
    if !any {
        out.push_str("None.\n\n");
    }
}

fn problems(matrix: &Matrix, out: &mut String) {
    out.push_str("### Problems\n\n");
    if matrix.problems.is_empty() {
        out.push_str("None.\n");
        return;
    }
    for problem in &matrix.problems {
        let _ = writeln!(
            out,
            "- {} — {}: {}",
            md_text(&problem.path),
            problem.kind.label(),
            md_text(&problem.reason)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_report_text_is_escaped() {
        assert_eq!(
            md_text("<script>alert(1)</script> | a*b*\nnext"),
            "\\<script\\>alert(1)\\</script\\> \\| a\\*b\\* next"
        );
    }

    #[test]
    fn long_evidence_is_cut_on_a_character_boundary() {
        assert_eq!(cut("ééé", 2), "éé…");
        assert_eq!(cut("abc", 3), "abc");
    }
}

//! The matrix as Markdown for a README: where it came from, the table, the ranking, the failing
//! criteria per cell (compact), the cells that need a reviewer, then the problems.

use std::fmt::Write as _;

use crate::render::printable;

use crate::grade::{GRADE_SCALE, Grade, percent};
use judge_schema::ChallengeId;

use crate::matrix::{Cell, Matrix, REFERENCE_COLUMN, Status, Total};

/// Evidence longer than this is cut in the Markdown (the HTML and JSON keep all of it).
const EVIDENCE_CHARS: usize = 200;

/// Escapes report text for Markdown: backslash-escapes the punctuation that would start code,
/// emphasis, links, HTML or a table cell border, and folds newlines. Reports are untrusted, so
/// `<script>` must come out as text, and control characters and bidi overrides as escapes
/// ([`printable`]).
pub fn md_text(text: &str) -> String {
    let text = printable(text, true);
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

/// What a challenge without a report shows.
pub(crate) const NO_ANSWER: &str = "no answer";

/// Skip reasons longer than this are cut in a cell (the criteria keep all of it).
const NOT_RUN_CHARS: usize = 40;

/// `87% B`, `40% ERR`, `75% B (2 skipped)`, `not run: no GPU`, with a
/// dagger when stale and a double dagger when counted unsigned; `unverified` when not counted.
/// `C!` when criteria could not be checked because the interface was not followed, and
/// `via adapter` when the grade went through one.
pub(crate) fn cell_text(cell: &Cell) -> String {
    let text = score_text(cell);
    if !cell.counted {
        return text;
    }
    let contract = if cell.contract_faults > 0 {
        format!(" {CONTRACT_MARK}")
    } else {
        String::new()
    };
    let adapter = if cell.adapter.is_some() {
        format!(" ({VIA_ADAPTER})")
    } else {
        String::new()
    };
    format!("{text}{contract}{adapter}")
}

/// What marks a cell (and a criterion) whose ERROR is the interface not followed.
pub(crate) const CONTRACT_MARK: &str = "C!";

/// What marks a grade made through an adapter.
pub(crate) const VIA_ADAPTER: &str = "via adapter";

fn score_text(cell: &Cell) -> String {
    if !cell.counted {
        return UNVERIFIED.to_string();
    }
    let stale = if cell.stale { " †" } else { "" };
    let unsigned = if cell.verified { "" } else { " ‡" };
    if let Some(reason) = &cell.not_run {
        return format!("not run: {}{stale}{unsigned}", cut(reason, NOT_RUN_CHARS));
    }
    let skipped = if cell.skipped > 0 {
        format!(" ({} skipped)", cell.skipped)
    } else {
        String::new()
    };
    format!(
        "{}% {}{skipped}{stale}{unsigned}",
        percent(cell.score),
        cell.grade
    )
}

/// What the page says when `--accept-unsigned` counted reports this judge did not sign.
pub fn accept_unsigned_notice() -> &'static str {
    "Unsigned reports are counted (--accept-unsigned): cells marked ‡ are not signed by this \
     judge's key, so anyone could have written them."
}

/// The sentence under the table that says how to read it.
pub fn legend(strict: bool) -> String {
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
    let arithmetic = if strict {
        format!(
            "Score = weighted fraction of auto criteria passed (strict: skipped ones count as not \
             passed). Totals are the mean over all {} challenges; a challenge without a report \
             counts as 0.",
            ChallengeId::COUNT
        )
    } else {
        "Score = weighted fraction of the auto criteria that ran that passed; (N skipped) says \
         how many did not run here (no GPU, no corpus), and \"not run\" a cell where none did — \
         that is no verdict on the answer. Totals are the mean over the challenges that ran, \
         \"over N\" saying how many; \"no answer\" cells are not in it. --strict scores \
         skips as failures and every challenge (missing = 0), for leaderboards."
            .to_string()
    };
    format!(
        "{arithmetic} Self-test and manual criteria never count. Grades: {}, F below {lowest}%. \
         ERR = the judge itself failed on that cell (harness fault): re-grade it. \
         † = stale report (another grader version or prompt; see Problems). \
         C! = interface not followed: criteria that could not be checked because the answer \
         does not meet the interface (missing name, wrong signature, return type or shape); \
         they score as ERROR, which is not a wrong answer. \
         via adapter = graded through a judge_adapter.py that maps the answer's own API onto \
         the interface: not an answer that followed it. \
         unverified = a report not signed by this judge's key (planted, forged or edited): \
         not counted.",
        steps.join(", ")
    )
}

/// The whole matrix as Markdown.
pub fn markdown(matrix: &Matrix) -> String {
    let mut out = String::from("## Grade matrix\n\n");
    let counted = matrix.cells.iter().filter(|c| c.counted).count();
    let _ = writeln!(out, "{}\n", md_text(&matrix.provenance.sentence(counted)));
    if matrix.accept_unsigned {
        let _ = writeln!(out, "> **{}**\n", accept_unsigned_notice());
    }
    table(matrix, &mut out);
    let _ = writeln!(out, "\n{}\n", legend(matrix.strict));
    ranking(matrix, &mut out);
    failing(matrix, &mut out);
    needs_review(matrix, &mut out);
    problems(matrix, &mut out);
    out
}

/// `**75% B**`, and `over 6` when a total that is not strict left challenges out.
pub(crate) fn total_text(total: &Total) -> String {
    let over = if total.over as usize == ChallengeId::COUNT {
        String::new()
    } else {
        format!(" over {}", total.over)
    };
    format!("{}% {}{over}", percent(total.score), total.grade)
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
                    .map_or(NO_ANSWER.to_string(), cell_text)
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
        .map(|t| format!("**{}**", total_text(t)))
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
    out.push_str("### Ranking\n\nBy the strict total (every challenge; skips and missing answers count as 0).\n\n");
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
            "{place} **{}**{baseline} — {}% ({}) over {} of {challenges} challenges · \
             strict {}% · {}/{challenges} graded{flags}",
            md_text(&total.model),
            percent(total.score),
            total.grade,
            total.over,
            percent(total.strict_score),
            total.graded,
        );
    }
    out.push('\n');
}

/// Every cell with a lost point, and the criteria behind it.
fn failing(matrix: &Matrix, out: &mut String) {
    out.push_str("### Failing criteria\n\n");
    let mut any = false;
    for (model, row, cell) in counted_cells(matrix) {
        if cell.failing.is_empty() {
            continue;
        }
        any = true;
        let _ = writeln!(
            out,
            "**{} · {}** — {}",
            md_text(model),
            row,
            cell_text(cell)
        );
        for line in &cell.failing {
            let harness = if line.harness_fault {
                " (harness)"
            } else if line.contract_fault {
                " C! (interface not followed)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "- {}{harness} {} ({}): {}",
                line.status.label(),
                md_text(&line.id),
                md_text(&line.title),
                md_text(&cut(&line.evidence, EVIDENCE_CHARS))
            );
        }
        out.push('\n');
    }
    if !any {
        out.push_str("None.\n\n");
    }
}

/// Every cell with manual criteria (prose the prompt asks for) that a person must read.
fn needs_review(matrix: &Matrix, out: &mut String) {
    out.push_str("### Needs review\n\n");
    let mut any = false;
    for (model, row, cell) in counted_cells(matrix) {
        let review: Vec<String> = cell
            .criteria
            .iter()
            .filter(|c| c.status == Status::Review)
            .map(|c| md_text(&c.id))
            .collect();
        if review.is_empty() {
            continue;
        }
        any = true;
        let _ = writeln!(
            out,
            "- **{} · {}**: {}",
            md_text(model),
            row,
            review.join(", ")
        );
    }
    out.push_str(if any { "\n" } else { "None.\n\n" });
}

/// The counted cells, by model column then by challenge row.
fn counted_cells(matrix: &Matrix) -> impl Iterator<Item = (&String, ChallengeId, &Cell)> {
    matrix.models.iter().flat_map(move |model| {
        matrix.challenges.iter().filter_map(move |row| {
            matrix
                .cell(model, row.id)
                .filter(|c| c.counted)
                .map(|cell| (model, row.id, cell))
        })
    })
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

    #[test]
    fn control_characters_and_bidi_overrides_in_report_text_are_escaped() {
        let hostile = "ok\u{1b}[2J\u{1b}]52;c;Y3VybA==\u{7}\rauto 9/9 passed\u{202e}gnp.exe";
        let text = md_text(hostile);
        for raw in ['\u{1b}', '\u{7}', '\r', '\u{202e}'] {
            assert!(!text.contains(raw), "{raw:?} in {text:?}");
        }
        assert!(text.contains("\\\\u{1b}\\[2J"), "{text}");
        assert!(text.contains("\\\\u{202e}gnp.exe"), "{text}");
        let html = crate::html::escape_html(hostile);
        assert!(
            !html.contains('\u{1b}') && !html.contains('\u{202e}'),
            "{html}"
        );
    }
}

//! The matrix as one self-contained HTML page: a heat-map table and, per cell, the criteria
//! behind it. Inline CSS and JS only; nothing is fetched, so the file works offline and
//! attached to an e-mail.
//!
//! Every string taken from a report is escaped ([`escape_html`]); element ids are built from
//! [`dom_id`], which keeps only characters that are safe in an id, a URL and a CSS selector. The
//! script embeds no report data, so no report text can end up inside `<script>`.
//!
//! Stable hooks (for tests and for users' own tooling):
//! - `table#matrix`, each cell `td.cell#cell-<model>-<challenge>` with `data-score` and
//!   `data-grade`; cells without a report are `td.cell.empty`;
//! - per cell with a report, `details.criteria#criteria-<model>-<challenge>`, holding a
//!   `table.criteria-table` whose rows are `tr.criterion.status-<STATUS>`;
//! - clicking a cell opens its details; `?open=cell-<model>-<challenge>` (or the same as the URL
//!   fragment) opens one on load; once the script ran, `<body data-ready="1">`.

use std::fmt::Write as _;

use judge_schema::ChallengeId;

use crate::render::printable;

use crate::grade::{Grade, percent};
use crate::markdown::{NO_ANSWER, UNVERIFIED, accept_unsigned_notice, cell_text, legend};
use crate::matrix::{Cell, Matrix, REFERENCE_COLUMN, Total};

/// Escapes text for HTML element content and quoted attribute values, after the control
/// characters and bidi overrides a browser would act on ([`printable`]).
pub fn escape_html(text: &str) -> String {
    let text = printable(text, true);
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// A model name as a piece of an element id: ASCII letters, digits, `_`, `.` and `-` stay, every
/// other byte becomes `~XX` (hex). Injective, so two models never share an id.
pub fn dom_id(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "~{byte:02X}");
        }
    }
    out
}

/// `cell-<model>-<challenge>`: the id of a matrix cell.
pub fn cell_id(model: &str, challenge: ChallengeId) -> String {
    format!("cell-{}-{challenge}", dom_id(model))
}

/// `criteria-<model>-<challenge>`: the id of a cell's criteria panel.
pub fn criteria_id(model: &str, challenge: ChallengeId) -> String {
    format!("criteria-{}-{challenge}", dom_id(model))
}

/// Scores at or below this are full red: the hue spends its range where the grades differ.
const HEAT_FLOOR: f64 = 0.3;

/// Heat-map colour: hue from red (score ≤ [`HEAT_FLOOR`]) through amber to green (score 1),
/// dark enough for white text.
fn heat_colour(score: f64) -> String {
    let hue = 120.0 * ((score - HEAT_FLOOR) / (1.0 - HEAT_FLOOR)).clamp(0.0, 1.0);
    format!("hsl({hue:.0} 62% 36%)")
}

const STYLE: &str = r#"
:root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232a; }
body { margin: 24px 32px; background: #f6f7f9; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
.meta, .legend { color: #5b6570; font-size: 13px; max-width: 110ch; }
table.matrix { border-collapse: separate; border-spacing: 3px; margin-top: 12px; }
table.matrix th { font-size: 13px; font-weight: 600; text-align: left; padding: 4px 8px; }
table.matrix thead th.model { text-align: center; max-width: 130px; overflow-wrap: anywhere; }
table.matrix th.challenge { white-space: nowrap; }
td.difficulty { font-size: 11px; color: #5b6570; letter-spacing: .04em; padding: 0 8px; white-space: nowrap; }
td.cell { min-width: 96px; height: 42px; text-align: center; border-radius: 6px; color: #fff;
  font-variant-numeric: tabular-nums; cursor: pointer; padding: 0; }
td.cell a { color: inherit; text-decoration: none; display: block; padding: 10px 6px; }
td.cell .grade { font-weight: 700; font-size: 15px; margin-left: 6px; }
td.cell .reason { display: block; font-size: 11px; opacity: 0.85; }
td.cell.not-run { background: repeating-linear-gradient(45deg, #d5d9de, #d5d9de 6px, #e6e9ec 6px, #e6e9ec 12px); color: #333; }
td.cell.empty { color: #8a939c; font-size: 12px; }
td.cell.empty { background: #e3e6ea; cursor: default; }
td.cell.err { background: repeating-linear-gradient(45deg, #5e4b8b 0 8px, #725fa0 8px 16px) !important; }
td.cell.stale a::after { content: " \2020"; }
td.cell.contract { background-image: repeating-linear-gradient(-45deg, rgba(255,255,255,.35) 0 4px, transparent 4px 10px) !important; }
td.cell .adapter { display: block; font-size: 11px; font-style: italic; }
tr.criterion.contract td.status { background: repeating-linear-gradient(-45deg, #f3d9a4 0 4px, #fbeed2 4px 10px); }
td.cell.unsigned a::after { content: " \2021"; }
td.cell.unverified { background: repeating-linear-gradient(45deg, #8a939c 0 8px, #9aa3ac 8px 16px); }
td.cell.unverified .pct { font-size: 12px; }
p.warning { background: #fff4d6; border: 1px solid #d4a72c; border-radius: 6px; padding: 8px 12px; max-width: 110ch; font-weight: 600; }
td.cell.selected, td.cell:focus { outline: 3px solid #1d232a; outline-offset: 1px; }
tfoot td.cell { cursor: default; }
tfoot th { padding-top: 8px; }
td.rank { text-align: center; font-weight: 700; font-size: 15px; }
.scale { display: flex; gap: 3px; margin: 10px 0; font-size: 12px; }
.scale span { padding: 3px 8px; border-radius: 4px; color: #fff; }
ol.ranking li { margin: 3px 0; }
/* With the script running, only the chosen cell's criteria show, right under the matrix;
   without it, every cell's criteria are listed, collapsed. */
body[data-ready="1"] details.criteria:not([open]) { display: none; }
body[data-ready="1"] #details:not(:has(details[open])) h2 { display: none; }
details.criteria { background: #fff; border: 1px solid #d9dde2; border-radius: 8px; margin: 6px 0; padding: 0 14px; max-width: 1200px; }
details.criteria[open] { box-shadow: 0 2px 12px rgba(0,0,0,.10); border-color: #9aa4ae; }
details.criteria summary { cursor: pointer; padding: 9px 0; font-weight: 600; }
details.criteria summary .score { font-variant-numeric: tabular-nums; color: #5b6570; font-weight: 500; margin-left: 8px; }
table.criteria-table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 0 0 12px; }
.criteria-table th, .criteria-table td { border-top: 1px solid #eceff2; padding: 5px 8px; vertical-align: top; text-align: left; }
.criteria-table td.status { font-weight: 700; font-size: 11px; letter-spacing: .05em; white-space: nowrap; }
tr.status-FAIL td, tr.status-ERROR td { background: #fff6f5; }
tr.status-PASS td.status { color: #1a7f37; }
tr.status-FAIL td.status { color: #cf222e; }
tr.status-ERROR td.status { color: #8250df; }
tr.status-SKIPPED td.status { color: #9a6700; }
tr.status-REVIEW td.status { color: #0969da; }
td.evidence { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px;
  white-space: pre-wrap; overflow-wrap: anywhere; max-width: 80ch; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; color: #5b6570; }
ul.problems li { margin: 3px 0; }
.problem-kind { font-weight: 600; }
"#;

/// Opens the criteria of a clicked cell (closing the others) and the one named by `?open=` or
/// the URL fragment on load. Touches only elements by id; reads no report data. It does not
/// scroll on load: the panel sits right under the matrix, and headless screenshots of a
/// scrolled page come out blank.
const SCRIPT: &str = r##"
(function () {
  function detailsFor(cellId) {
    return document.getElementById(cellId.replace(/^cell-/, "criteria-"));
  }
  function openCell(cellId) {
    var cell = document.getElementById(cellId);
    var details = detailsFor(cellId);
    if (!cell || !details) return false;
    document.querySelectorAll("td.cell.selected").forEach(function (c) { c.classList.remove("selected"); });
    document.querySelectorAll("details.criteria[open]").forEach(function (d) { if (d !== details) d.open = false; });
    cell.classList.add("selected");
    details.open = true;
    return true;
  }
  document.querySelectorAll("details.criteria").forEach(function (details) {
    details.addEventListener("toggle", function () {
      var cell = document.getElementById(details.dataset.cell);
      if (!details.open && cell) cell.classList.remove("selected");
    });
  });
  document.querySelectorAll("tbody td.cell:not(.empty)").forEach(function (cell) {
    cell.tabIndex = 0;
    cell.addEventListener("click", function (event) {
      event.preventDefault();
      if (openCell(cell.id)) {
        history.replaceState(null, "", "#" + cell.id);
        detailsFor(cell.id).scrollIntoView({ block: "nearest" });
      }
    });
    cell.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); openCell(cell.id); }
    });
  });
  var wanted = new URLSearchParams(location.search).get("open");
  if (!wanted) {
    try { wanted = decodeURIComponent(location.hash.slice(1)); } catch (malformed) { wanted = ""; }
  }
  if (wanted) openCell(wanted.replace(/^criteria-/, "cell-"));
  document.body.dataset.ready = "1";
})();
"##;

/// The whole page.
pub fn html(matrix: &Matrix) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<title>judge — grade matrix</title>\n<style>");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n<h1>Grade matrix</h1>\n");
    let submissions = matrix
        .models
        .iter()
        .filter(|m| *m != REFERENCE_COLUMN)
        .count();
    let _ = writeln!(
        out,
        "<p class=\"meta\">{submissions} model(s) · {} challenge(s) · {} report(s) · {} problem(s). \
         Click a cell for the criteria behind it.</p>",
        matrix.challenges.len(),
        matrix.cells.len(),
        matrix.problems.len()
    );
    let counted = matrix.cells.iter().filter(|c| c.counted).count();
    let _ = writeln!(
        out,
        "<p class=\"meta\" id=\"provenance\">{}</p>",
        escape_html(&matrix.provenance.sentence(counted))
    );
    if matrix.accept_unsigned {
        let _ = writeln!(
            out,
            "<p class=\"warning\" id=\"accept-unsigned\">{}</p>",
            escape_html(accept_unsigned_notice())
        );
    }
    matrix_table(matrix, &mut out);
    scale(matrix, &mut out);
    let _ = writeln!(
        out,
        "<p class=\"legend\">{}</p>",
        escape_html(&legend(matrix.strict))
    );
    details(matrix, &mut out);
    ranking(matrix, &mut out);
    problems(matrix, &mut out);
    out.push_str("<script>");
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

fn matrix_table(matrix: &Matrix, out: &mut String) {
    out.push_str(
        "<table id=\"matrix\" class=\"matrix\">\n<thead><tr><th>challenge</th><th>difficulty</th>",
    );
    for model in &matrix.models {
        let _ = write!(
            out,
            "<th class=\"model\" scope=\"col\">{}</th>",
            escape_html(model)
        );
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &matrix.challenges {
        let _ = write!(
            out,
            "<tr id=\"row-{id}\"><th class=\"challenge\" scope=\"row\" title=\"{summary}\">{id}</th>\
             <td class=\"difficulty\">{difficulty}</td>",
            id = row.id,
            summary = escape_html(&row.summary),
            difficulty = row.difficulty
        );
        for model in &matrix.models {
            match matrix.cell(model, row.id) {
                Some(cell) => matrix_cell(cell, out),
                None => {
                    let _ = write!(
                        out,
                        "<td class=\"cell empty\" id=\"{}\" title=\"no report\">\
                         <span class=\"pct\">{NO_ANSWER}</span></td>",
                        cell_id(model, row.id)
                    );
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n<tfoot>\n<tr class=\"total\"><th>total</th><td></td>");
    for total in &matrix.totals {
        total_cell(total, matrix.challenges.len(), out);
    }
    out.push_str("</tr>\n<tr class=\"rank\"><th>rank</th><td></td>");
    for total in &matrix.totals {
        let rank = total.rank.map_or("—".to_string(), |r| r.to_string());
        let _ = write!(out, "<td class=\"rank\">{rank}</td>");
    }
    out.push_str("</tr>\n</tfoot>\n</table>\n");
}

fn matrix_cell(cell: &Cell, out: &mut String) {
    if !cell.counted {
        let _ = write!(
            out,
            "<td class=\"cell unverified\" id=\"{id}\" data-grade=\"{UNVERIFIED}\" \
             title=\"not signed by this judge: not counted\"><a href=\"#{criteria}\">\
             <span class=\"pct\">{UNVERIFIED}</span></a></td>",
            id = cell_id(&cell.model, cell.challenge),
            criteria = criteria_id(&cell.model, cell.challenge),
        );
        return;
    }
    if let Some(reason) = &cell.not_run {
        let _ = write!(
            out,
            "<td class=\"cell not-run\" id=\"{id}\" data-grade=\"not run\" \
             title=\"{title}\"><a href=\"#{criteria}\"><span class=\"pct\">not run</span>\
             <span class=\"reason\">{short}</span></a></td>",
            id = cell_id(&cell.model, cell.challenge),
            title = escape_html(&format!(
                "{} · {}: no auto criterion ran here: {reason}",
                cell.model, cell.challenge
            )),
            criteria = criteria_id(&cell.model, cell.challenge),
            short = escape_html(cell_text(cell).trim_start_matches("not run: ")),
        );
        return;
    }
    let mut classes = String::from("cell");
    if cell.grade == Grade::Err {
        classes.push_str(" err");
    }
    if cell.stale {
        classes.push_str(" stale");
    }
    if !cell.verified {
        classes.push_str(" unsigned");
    }
    if cell.contract_faults > 0 {
        classes.push_str(" contract");
    }
    if cell.adapter.is_some() {
        classes.push_str(" adapter");
    }
    let title = format!(
        "{} · {}: auto {} passed, {} failed, {} error, {} skipped; {} to review{}{}{}{}{}",
        cell.model,
        cell.challenge,
        cell.pass,
        cell.fail,
        cell.error,
        cell.skipped,
        cell.review,
        if cell.harness_fault {
            "; harness fault"
        } else {
            ""
        },
        if cell.stale { "; stale" } else { "" },
        if cell.verified {
            ""
        } else {
            "; not signed by this judge"
        },
        if cell.contract_faults > 0 {
            format!(
                "; C! interface not followed: {} criteria could not be checked",
                cell.contract_faults
            )
        } else {
            String::new()
        },
        match &cell.adapter {
            Some(adapter) => format!(
                "; via adapter {}: not an answer that followed the interface",
                adapter.path
            ),
            None => String::new(),
        },
    );
    let _ = write!(
        out,
        "<td class=\"{classes}\" id=\"{id}\" data-score=\"{score:.4}\" data-grade=\"{grade}\" \
         style=\"background:{colour}\" title=\"{title}\"><a href=\"#{criteria}\">\
         <span class=\"pct\">{pct}%</span><span class=\"grade\">{grade}</span>{contract}{skipped}{adapter}</a></td>",
        skipped = if cell.skipped > 0 {
            format!("<span class=\"reason\">{} skipped</span>", cell.skipped)
        } else {
            String::new()
        },
        contract = if cell.contract_faults > 0 {
            "<span class=\"reason\">C! interface not followed</span>"
        } else {
            ""
        },
        adapter = if cell.adapter.is_some() {
            "<span class=\"adapter\">via adapter</span>"
        } else {
            ""
        },
        id = cell_id(&cell.model, cell.challenge),
        score = cell.score,
        grade = cell.grade,
        colour = heat_colour(cell.score),
        title = escape_html(&title),
        criteria = criteria_id(&cell.model, cell.challenge),
        pct = percent(cell.score),
    );
}

fn total_cell(total: &Total, challenges: usize, out: &mut String) {
    let _ = write!(
        out,
        "<td class=\"cell total\" data-score=\"{score:.4}\" data-grade=\"{grade}\" \
         style=\"background:{colour}\" title=\"{title}\"><span class=\"pct\">{pct}%</span>\
         <span class=\"grade\">{grade}</span>{over}</td>",
        score = total.score,
        grade = total.grade,
        colour = heat_colour(total.score),
        title = escape_html(&format!(
            "{}: mean over {} of {challenges} challenges, {} graded",
            total.model, total.over, total.graded
        )),
        pct = percent(total.score),
        over = if total.over as usize == challenges {
            String::new()
        } else {
            format!("<span class=\"reason\">over {}</span>", total.over)
        },
    );
}

fn scale(matrix: &Matrix, out: &mut String) {
    out.push_str("<div class=\"scale\">");
    let steps = &matrix.grade_scale;
    for (i, step) in steps.iter().enumerate() {
        // The lowest grade is "below the next one up", not "≥ 0%".
        let range = match (i + 1 == steps.len(), i.checked_sub(1)) {
            (true, Some(above)) => format!("&lt; {}%", percent(steps[above].min_score)),
            _ => format!("≥ {}%", percent(step.min_score)),
        };
        let _ = write!(
            out,
            "<span style=\"background:{}\">{} {range}</span>",
            heat_colour(step.min_score),
            step.grade,
        );
    }
    out.push_str(
        "<span class=\"err-sample\" style=\"background:#5e4b8b\">ERR harness fault</span></div>\n",
    );
}

fn ranking(matrix: &Matrix, out: &mut String) {
    out.push_str("<h2>Ranking</h2>\n<ol class=\"ranking\">\n");
    for total in matrix.totals.iter().filter(|t| t.rank.is_some()) {
        let _ = writeln!(
            out,
            "<li value=\"{rank}\"><strong>{model}</strong> — {pct}% ({grade}) · {graded}/{all} challenges graded{unverified}</li>",
            rank = total.rank.unwrap_or_default(),
            model = escape_html(&total.model),
            pct = percent(total.score),
            grade = total.grade,
            graded = total.graded,
            all = matrix.challenges.len(),
            unverified = match (total.unverified, matrix.accept_unsigned) {
                (0, _) => String::new(),
                (n, true) => format!(" · {n} unverified (counted)"),
                (n, false) => format!(" · {n} unverified (not counted)"),
            },
        );
    }
    out.push_str("</ol>\n");
}

fn details(matrix: &Matrix, out: &mut String) {
    out.push_str("<section id=\"details\">\n<h2>Criteria per cell</h2>\n");
    for model in &matrix.models {
        for row in &matrix.challenges {
            let Some(cell) = matrix.cell(model, row.id) else {
                continue;
            };
            let _ = write!(
                out,
                "<details class=\"criteria\" id=\"{id}\" data-cell=\"{cell_id}\"><summary>{model} · {challenge}\
                 <span class=\"score\">{standing}{stale} · seed {seed} · {version}</span></summary>\n\
                 <table class=\"criteria-table\"><thead><tr><th>status</th><th>kind</th><th>criterion</th>\
                 <th>evidence</th></tr></thead><tbody>\n",
                id = criteria_id(model, row.id),
                cell_id = cell_id(model, row.id),
                model = escape_html(model),
                challenge = row.id,
                standing = match (cell.counted, cell.verified) {
                    (false, _) => format!("{UNVERIFIED}: not counted"),
                    (true, true) => format!("{}% {}", percent(cell.score), cell.grade),
                    (true, false) => format!("{}% {} · unsigned", percent(cell.score), cell.grade),
                },
                stale = if cell.stale { " · stale" } else { "" },
                seed = cell.seed,
                version = escape_html(&cell.grader_version),
            );
            for line in &cell.criteria {
                let harness = match (line.harness_fault, line.contract_fault) {
                    (true, _) => " (harness)",
                    (false, true) => " C!",
                    (false, false) => "",
                };
                let contract = if line.contract_fault {
                    " contract\" title=\"interface not followed"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "<tr class=\"criterion status-{status}{contract}\"><td class=\"status\">{status}{harness}</td>\
                     <td>{kind}</td><td>{title} <code>{id}</code></td><td class=\"evidence\">{evidence}</td></tr>",
                    status = line.status.label(),
                    kind = line.kind.label(),
                    title = escape_html(&line.title),
                    id = escape_html(&line.id),
                    evidence = escape_html(&line.evidence),
                );
            }
            out.push_str("</tbody></table></details>\n");
        }
    }
    out.push_str("</section>\n");
}

fn problems(matrix: &Matrix, out: &mut String) {
    out.push_str("<h2>Problems</h2>\n");
    if matrix.problems.is_empty() {
        out.push_str("<p class=\"meta\" id=\"problems\">None.</p>\n");
        return;
    }
    out.push_str("<ul id=\"problems\" class=\"problems\">\n");
    for problem in &matrix.problems {
        let _ = writeln!(
            out,
            "<li class=\"problem\"><code>{path}</code> — <span class=\"problem-kind\">{kind}</span>: {reason}</li>",
            path = escape_html(&problem.path),
            kind = problem.kind.label(),
            reason = escape_html(&problem.reason),
        );
    }
    out.push_str("</ul>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(
            escape_html(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn dom_ids_keep_safe_characters_and_encode_the_rest_injectively() {
        assert_eq!(dom_id("gpt-4.1_mini"), "gpt-4.1_mini");
        assert_eq!(dom_id("a b\"<"), "a~20b~22~3C");
        assert_ne!(dom_id("a~20b"), dom_id("a b"));
        assert_eq!(
            cell_id("m/1", ChallengeId::BeamSearch),
            "cell-m~2F1-beam_search"
        );
    }

    #[test]
    fn heat_runs_from_red_to_green() {
        assert_eq!(heat_colour(0.0), "hsl(0 62% 36%)");
        assert_eq!(heat_colour(0.3), "hsl(0 62% 36%)");
        assert_eq!(heat_colour(0.65), "hsl(60 62% 36%)");
        assert_eq!(heat_colour(1.0), "hsl(120 62% 36%)");
        assert_eq!(heat_colour(7.0), "hsl(120 62% 36%)");
    }
}

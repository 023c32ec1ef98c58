//! The model reviews of manual criteria (`judge review`), rendered apart from the matrix: the
//! score is the harness's alone, a review is an opinion and is labelled with who gave it.

use crate::markdown::md_text;
use crate::matrix::Matrix;

/// Reasons longer than this are cut in the Markdown (the JSON keeps all of it).
const REASON_CHARS: usize = 300;

/// A Markdown section listing every review of the matrix's cells; empty when there is none.
pub fn markdown(matrix: &Matrix) -> String {
    let reviewed: Vec<_> = matrix
        .cells
        .iter()
        .flat_map(|cell| cell.reviews.iter().map(move |review| (cell, review)))
        .collect();
    if reviewed.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n## Reviews of manual criteria (not counted in any score)\n\n");
    out.push_str("| model | challenge | criterion | reviewed by | verdict | reasons |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for (cell, review) in reviewed {
        let reasons: String = review.reasons.chars().take(REASON_CHARS).collect();
        let cut = if review.reasons.chars().count() > REASON_CHARS {
            "…"
        } else {
            ""
        };
        out.push_str(&format!(
            "| {} | {} | {} | reviewed by {} | {} | {}{cut} |\n",
            md_text(&cell.model),
            cell.challenge,
            md_text(&review.criterion),
            md_text(&review.reviewer),
            review.verdict.label(),
            md_text(&reasons),
        ));
    }
    out
}

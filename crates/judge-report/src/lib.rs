//! `judge report`: every GRADE.json below a folder gathered into one grade matrix — rows are the
//! eight challenges in the seed's order, columns the models ranked by their total, each cell a
//! score and a letter grade — rendered as Markdown (for a README), JSON (for tools) or one
//! self-contained HTML page with a heat-map.
//!
//! Only reports signed with the judge's key are counted ([`Checks`]); a report's model and
//! challenge come from where it sits, its criteria are checked against the registered grader.
//! Files that cannot be used (unreadable, malformed, another schema, misplaced, unverified,
//! duplicates, stale) are listed as problems, never fatal. The matrix does not depend on which
//! shard folder a report sits in, so the `--out` folders of several `--shard I/N` runs merge
//! into the same matrix as one run over everything.

#![warn(missing_docs)]

pub mod checks;
pub mod gather;
pub mod grade;
pub mod html;
pub mod markdown;
pub mod matrix;
pub mod passk;
pub mod render;
pub mod reviews;

use std::fmt;
use std::str::FromStr;

pub use checks::{Checks, RegisteredGrader};
pub use gather::{GatherError, Gathered, Problem, ProblemKind, gather};
pub use grade::{GRADE_SCALE, Grade, letter_grade, percent};
pub use html::html;
pub use markdown::markdown;
pub use matrix::{Cell, CriterionLine, MATRIX_SCHEMA, Matrix, REFERENCE_COLUMN, Status, Total};
pub use passk::{PassAtK, pass_at_k};

/// An output format of `judge report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `md`: tables for a README.
    #[default]
    Markdown,
    /// `json`: the matrix as data, for tools.
    Json,
    /// `html`: one self-contained page with a heat-map.
    Html,
}

impl Format {
    /// The matrix in this format. The Markdown adds the pass@k table when a model has several
    /// samples, and the reviews of manual criteria when there are any.
    pub fn render(self, matrix: &Matrix) -> String {
        match self {
            Format::Markdown => {
                let mut text = markdown(matrix);
                let samples = PassAtK::of(matrix);
                if samples.has_samples() {
                    text.push_str(&samples.markdown());
                }
                text.push_str(&reviews::markdown(matrix));
                text
            }
            Format::Json => {
                let mut json = matrix.to_json();
                json.push('\n');
                json
            }
            Format::Html => html(matrix),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Markdown => "md",
            Format::Json => "json",
            Format::Html => "html",
        })
    }
}

/// A format name that is not `md`, `json` or `html`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format '{0}' (known: md, json, html)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "md" | "markdown" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            "html" => Ok(Format::Html),
            _ => Err(UnknownFormat(s.to_string())),
        }
    }
}

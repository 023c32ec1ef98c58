//! `judge report ROOT`: every GRADE.json below ROOT as one grade matrix (Markdown, JSON or HTML).
//! Only reports signed with the judge's key count, checked against the graders this binary has.
//! Unusable files are listed in the output, never fatal: the exit code is 0 whenever a matrix
//! was produced, 2 when ROOT is missing or holds no GRADE.json at all.

use judge_core::session;
use judge_report::{Checks, Matrix, RegisteredGrader};

use super::output::prompt_sha256;
use crate::cli::ReportArgs;
use crate::registry;

pub fn run(args: ReportArgs) -> anyhow::Result<i32> {
    let key = super::report_key(args.key.as_deref())?;
    let graders = registered_graders();
    let checks = Checks {
        key: &key,
        graders: &graders,
        accept_unsigned: args.accept_unsigned,
        strict: args.strict,
    };
    let matrix = Matrix::from_root(&args.root, &checks)?;
    if !matrix.problems.is_empty() {
        eprintln!(
            "warning: {} problem(s) with GRADE.json files below '{}', listed in the report",
            matrix.problems.len(),
            args.root.display()
        );
    }
    let text = args.format.render(&matrix);
    match &args.out {
        Some(path) => {
            judge_core::report::write_atomic(path, text.as_bytes())?;
            outln!("{}", path.display());
        }
        None => out!("{text}"),
    }
    Ok(judge_core::exit::SUCCESS)
}

/// The graders this binary has, as the matrix checks reports against them.
pub(super) fn registered_graders() -> Vec<RegisteredGrader> {
    registry::graders()
        .iter()
        .map(|grader| RegisteredGrader {
            challenge: grader.id(),
            version: session::grader_version(grader.as_ref()),
            prompt_sha256: prompt_sha256(grader.id()),
            criteria: grader.criteria(),
        })
        .collect()
}

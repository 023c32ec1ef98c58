//! `judge report ROOT`: every GRADE.json below ROOT as one grade matrix (Markdown, JSON or HTML).
//! Unusable files are listed in the output, never fatal: the exit code is 0 whenever a matrix
//! was produced, 2 when ROOT is missing or holds no GRADE.json at all.

use judge_report::Matrix;

use crate::cli::ReportArgs;

pub fn run(args: ReportArgs) -> anyhow::Result<i32> {
    let matrix = Matrix::from_root(&args.root)?;
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

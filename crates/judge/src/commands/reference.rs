//! `judge reference ID... | --all`: our Rust references through the graders' own criteria.

use judge_core::{ChallengeId, Report, session};

use super::output::{print_reports, progress, prompt_sha256};
use crate::cli::ReferenceArgs;
use crate::registry;

pub fn run(args: ReferenceArgs) -> anyhow::Result<i32> {
    let wanted: Vec<ChallengeId> = if args.all {
        ChallengeId::ALL.to_vec()
    } else {
        args.challenges.clone()
    };
    let mut graders = Vec::new();
    for id in wanted {
        match registry::grader(id) {
            Some(grader) => graders.push(grader),
            None if args.all => {}
            None => {
                eprintln!("error: no grader for '{id}' yet");
                return Ok(judge_core::exit::USAGE_OR_ENVIRONMENT);
            }
        }
    }
    if graders.is_empty() {
        eprintln!("error: no graders exist yet");
        return Ok(judge_core::exit::USAGE_OR_ENVIRONMENT);
    }
    let ctx = super::context(&args.run);
    let bar = progress(graders.len(), args.run.quiet);
    let mut reports: Vec<Report> = Vec::new();
    for grader in &graders {
        bar.set_message(grader.id().to_string());
        reports.push(session::grade_reference(
            grader.as_ref(),
            &prompt_sha256(grader.id()),
            &ctx,
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();
    print_reports(&reports, args.run.json)?;
    Ok(judge_core::exit::for_reports(&reports))
}

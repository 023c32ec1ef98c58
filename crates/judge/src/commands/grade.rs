//! `judge grade PATH`: discover submissions, grade them (in parallel with `--jobs`), write each
//! GRADE.json as soon as it is known (signed with the judge's key), then print.

use std::path::PathBuf;
use std::sync::Mutex;

use judge_core::discover::{SubmissionDir, discover};
use judge_core::report::{REPORT_FILE_NAME, UNNAMED_MODEL_DIR};
use judge_core::signing::ReportKey;
use judge_core::{Report, session};

use super::output::{print_reports, progress, prompt_sha256};
use crate::cli::GradeArgs;
use crate::registry;

/// Where a submission's GRADE.json goes.
fn report_path(sub: &SubmissionDir, out: Option<&PathBuf>) -> PathBuf {
    match out {
        Some(out) => out
            .join(sub.model.as_deref().unwrap_or(UNNAMED_MODEL_DIR))
            .join(sub.challenge.as_str())
            .join(REPORT_FILE_NAME),
        None => sub.dir.join(REPORT_FILE_NAME),
    }
}

pub fn run(args: GradeArgs) -> anyhow::Result<i32> {
    let discovery = discover(&args.path)?;
    for refused in &discovery.refused {
        eprintln!("warning: '{}' {}", refused.path.display(), refused.reason);
    }
    for misnamed in &discovery.misnamed {
        eprintln!("warning: {misnamed}, not graded");
    }
    let mut found = discovery.submissions;
    if let Some(shard) = args.shard {
        found = shard.select(found);
    }
    let (gradable, no_grader): (Vec<_>, Vec<_>) = found
        .into_iter()
        .partition(|s| registry::grader(s.challenge).is_some());
    for sub in &no_grader {
        eprintln!(
            "warning: {}: no grader for '{}' yet, not graded",
            sub.label(),
            sub.challenge
        );
    }
    if gradable.is_empty() {
        eprintln!(
            "error: nothing to grade below '{}' (challenge folders are named after an id: {})",
            args.path.display(),
            judge_core::challenge::known_names()
        );
        return Ok(judge_core::exit::USAGE_OR_ENVIRONMENT);
    }

    let key = super::report_key(args.run.key.as_deref())?;
    let ctx = super::context(&args.run);
    let bar = progress(gradable.len(), args.run.quiet);
    let queue = Mutex::new(gradable.iter().enumerate());
    let results: Mutex<Vec<(usize, Report)>> = Mutex::new(Vec::new());
    let write_failures = Mutex::new(0usize);
    let jobs = args.jobs.max(1).min(gradable.len());

    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue lock").next();
                    let Some((index, sub)) = next else { break };
                    bar.set_message(sub.label());
                    let report = super::cell::grade_in_child(sub, &args, &ctx, &key);
                    let path = report_path(sub, args.out.as_ref());
                    if let Err(e) = report.write_atomic(&path) {
                        bar.suspend(|| eprintln!("error: {}: {e}", sub.label()));
                        *write_failures.lock().expect("counter lock") += 1;
                    }
                    results.lock().expect("results lock").push((index, report));
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();

    let mut results = results.into_inner().expect("threads joined");
    results.sort_by_key(|(index, _)| *index);
    let reports: Vec<Report> = results.into_iter().map(|(_, r)| r).collect();
    print_reports(&reports, args.run.json)?;
    if write_failures.into_inner().expect("threads joined") > 0 {
        return Ok(judge_core::exit::USAGE_OR_ENVIRONMENT);
    }
    Ok(judge_core::exit::for_reports(&reports))
}

/// Grades one submission (the report signed), or reuses its GRADE.json when this judge signed
/// it and nothing it depends on changed. `say` tells the user why an existing report is not
/// reused when that is not simply "there is none" or "it is out of date".
pub(super) fn grade_one(
    sub: &SubmissionDir,
    args: &GradeArgs,
    ctx: &judge_core::GradeContext,
    key: &ReportKey,
    say: &dyn Fn(&str),
) -> Report {
    let grader = registry::grader(sub.challenge).expect("partitioned on having a grader");
    let prompt = prompt_sha256(sub.challenge);
    if !args.force
        && let Some(existing) = up_to_date(sub, args, grader.as_ref(), &prompt, ctx.seed, key, say)
    {
        tracing::info!("{}: up to date, not re-graded", sub.label());
        return existing;
    }
    tracing::info!("{}: grading with seed {}", sub.label(), ctx.seed);
    let mut report = session::grade_submission(grader.as_ref(), sub, &prompt, ctx);
    key.sign(&mut report);
    report
}

/// The existing report when this judge signed it and it grades exactly this submission. A
/// report that cannot be read (a link, a FIFO, a huge file), does not parse or is not signed
/// with `key` means "grade again", said through `say`; a missing one or a tree that cannot be
/// hashed means the same, silently.
fn up_to_date(
    sub: &SubmissionDir,
    args: &GradeArgs,
    grader: &dyn judge_core::Challenge,
    prompt: &str,
    seed: u64,
    key: &ReportKey,
    say: &dyn Fn(&str),
) -> Option<Report> {
    let existing = match Report::read(&report_path(sub, args.out.as_ref())) {
        Ok(existing) => existing,
        Err(judge_core::ReportError::Read(error)) if error.is_not_found() => return None,
        Err(error) => {
            say(&format!(
                "existing {REPORT_FILE_NAME} not reused ({error}); grading again"
            ));
            return None;
        }
    };
    if let Err(unverified) = key.verify(&existing) {
        say(&format!(
            "existing {REPORT_FILE_NAME} is {unverified}; grading again"
        ));
        return None;
    }
    let wanted = session::fingerprint(grader, prompt, Some(&sub.dir), seed).ok()?;
    session::is_up_to_date(&existing, &wanted, args.run.seed.is_some()).then_some(existing)
}

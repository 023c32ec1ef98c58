//! `judge grade PATH`: discover submissions, grade them (in parallel with `--jobs`), write each
//! GRADE.json as soon as it is known (signed with the judge's key), then print.

use std::path::PathBuf;
use std::sync::Mutex;

use judge_core::discover::{SubmissionDir, discover};
use judge_core::report::{REPORT_FILE_NAME, UNNAMED_MODEL_DIR};
use judge_core::signing::ReportKey;
use judge_core::{Report, ReportFile, session};

use judge_llm::TRANSCRIPT_FILE_NAME;
use judge_report::render;
use judge_scaffold::PROMPT_FILE_NAME;

use super::output::{cached_note, print_table, progress, prompt_sha256};
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
    // A challenge folder holding only what the scaffold wrote is no answer: one line, no report.
    let (gradable, unanswered): (Vec<_>, Vec<_>) = gradable.into_iter().partition(is_answered);
    for sub in &unanswered {
        outln!(
            "{}: no answer (nothing but what `judge scaffold` wrote)",
            render::printable(&sub.label(), false)
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

    // An adapter maps one challenge's interface: grading other challenges through it is a
    // mistake, refused before anything runs.
    if let Some(adapter) = &args.adapter {
        let mut challenges: Vec<&str> = gradable.iter().map(|s| s.challenge.as_str()).collect();
        challenges.sort_unstable();
        challenges.dedup();
        if challenges.len() > 1 {
            eprintln!(
                "error: --adapter {} maps one challenge's interface, but '{}' holds {}; grade \
                 one challenge folder (or a folder of one challenge) with it",
                adapter.display(),
                args.path.display(),
                challenges.join(", ")
            );
            return Ok(judge_core::exit::USAGE_OR_ENVIRONMENT);
        }
    }
    let key = super::report_key(args.run.key.as_deref())?;
    let ctx = super::grade_context(&args)?;
    crate::interrupt::install()?;
    let run_started = std::time::Instant::now();
    // Results as they come: the table on a terminal, one line each when piped; JSON at the end.
    let as_they_come = !args.run.json;
    let tables = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let bar = progress(gradable.len(), args.run.quiet);
    let queue = Mutex::new(gradable.iter().enumerate());
    let results: Mutex<Vec<(usize, Report, bool)>> = Mutex::new(Vec::new());
    let write_failures = Mutex::new(0usize);
    let jobs = args.jobs.max(1).min(gradable.len());

    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    if crate::interrupt::requested() {
                        break;
                    }
                    let next = queue.lock().expect("queue lock").next();
                    let Some((index, sub)) = next else { break };
                    bar.set_message(sub.label());
                    let path = report_path(sub, args.out.as_ref());
                    // Reused when the cell hands back the very report that was there: the
                    // signature covers every field.
                    let before = Report::read(&path).ok().and_then(|r| r.signature);
                    let Some(report) = super::cell::grade_in_child(sub, &args, &ctx, &key) else {
                        break;
                    };
                    let cached = before.is_some() && before == report.signature;
                    if let Err(e) = report.write_atomic(&path) {
                        bar.suspend(|| eprintln!("error: {}: {e}", sub.label()));
                        *write_failures.lock().expect("counter lock") += 1;
                    }
                    if as_they_come {
                        bar.suspend(|| print_finished(sub, &report, cached, tables));
                    }
                    results
                        .lock()
                        .expect("results lock")
                        .push((index, report, cached));
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();

    let mut results = results.into_inner().expect("threads joined");
    results.sort_by_key(|(index, _, _)| *index);
    let interrupted = crate::interrupt::requested();
    if interrupted {
        let finished: Vec<usize> = results.iter().map(|(index, _, _)| *index).collect();
        let unfinished: Vec<String> = gradable
            .iter()
            .enumerate()
            .filter(|(index, _)| !finished.contains(index))
            .map(|(_, sub)| render::printable(&sub.label(), false))
            .collect();
        eprintln!(
            "interrupted: {} of {} submission(s) finished (their reports are written); not graded: {}",
            finished.len(),
            gradable.len(),
            unfinished.join(", ")
        );
    }
    let cached: Vec<bool> = results.iter().map(|(_, _, cached)| *cached).collect();
    let reports: Vec<Report> = results.into_iter().map(|(_, r, _)| r).collect();
    if args.run.json {
        print_json(&reports, &cached)?;
    } else {
        outln!("{}", run_summary(&reports, &cached, run_started.elapsed()));
    }
    if interrupted {
        return Ok(crate::interrupt::EXIT_INTERRUPTED);
    }
    if write_failures.into_inner().expect("threads joined") > 0 {
        return Ok(judge_core::exit::USAGE_OR_ENVIRONMENT);
    }
    Ok(judge_core::exit::for_reports(&reports))
}

/// Whether a challenge folder holds anything besides what the scaffold or the judge put there
/// (PROMPT.md, the challenge's data file, GRADE.json, a `judge run` transcript, hidden files).
fn is_answered(sub: &SubmissionDir) -> bool {
    let scaffolded = |name: &str| {
        name.starts_with('.')
            || [PROMPT_FILE_NAME, REPORT_FILE_NAME, TRANSCRIPT_FILE_NAME].contains(&name)
            || sub.challenge.info().data_file == Some(name)
    };
    let Ok(entries) = std::fs::read_dir(&sub.dir) else {
        // Unreadable: let grading say why.
        return true;
    };
    entries
        .filter_map(Result::ok)
        .any(|entry| !scaffolded(&entry.file_name().to_string_lossy()))
}

/// One finished submission: its table on a terminal, else one line; and whether it was reused.
/// Printing errors (a closed stdout) are left to the end of the run, which reports them.
fn print_finished(sub: &SubmissionDir, report: &Report, cached: bool, table: bool) {
    if table {
        let _ = print_table(report);
        if cached {
            let _ = print_line(&cached_note(report));
        }
    } else {
        let cached = if cached {
            format!(" ({})", cached_note(report))
        } else {
            String::new()
        };
        let _ = print_line(&format!(
            "{}: {}{cached}",
            render::printable(&sub.label(), false),
            render::summary_line(report)
        ));
    }
}

fn print_line(line: &str) -> anyhow::Result<()> {
    outln!("{line}");
    Ok(())
}

/// The reports as one JSON array; a reused one carries `"cached": {"graded_unix", "seed"}`
/// beside its fields (the array is output, not a GRADE.json).
fn print_json(reports: &[Report], cached: &[bool]) -> anyhow::Result<()> {
    let values = reports
        .iter()
        .zip(cached)
        .map(|(report, &cached)| {
            let mut value = serde_json::to_value(report)?;
            if cached && let Some(fields) = value.as_object_mut() {
                fields.insert(
                    "cached".into(),
                    serde_json::json!({
                        "graded_unix": report.started_unix,
                        "seed": report.fingerprint.seed,
                    }),
                );
            }
            Ok(value)
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    outln!("{}", serde_json::to_string_pretty(&values)?);
    Ok(())
}

/// The run's closing line: how many were graded, how they fared, how many were reused.
fn run_summary(reports: &[Report], cached: &[bool], took: std::time::Duration) -> String {
    let passed = reports
        .iter()
        .filter(|r| r.all_auto_passed() && !r.has_harness_fault())
        .count();
    let harness = reports.iter().filter(|r| r.has_harness_fault()).count();
    let cached = cached.iter().filter(|c| **c).count();
    let mut parts = vec![
        format!("{passed} passed every auto criterion"),
        format!("{} did not", reports.len() - passed - harness),
    ];
    if harness > 0 {
        parts.push(format!("{harness} with a harness fault (re-grade)"));
    }
    if cached > 0 {
        parts.push(format!("{cached} cached (--force to re-grade)"));
    }
    format!(
        "judge grade: {} submission(s) in {:.1}s: {}",
        reports.len(),
        took.as_secs_f64(),
        parts.join(", ")
    )
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
        && let Some(existing) = up_to_date(sub, args, grader.as_ref(), &prompt, ctx, key, say)
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
    ctx: &judge_core::GradeContext,
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
    let wanted = session::fingerprint_via(
        grader,
        prompt,
        Some(&sub.dir),
        ctx.seed,
        ctx.adapter.as_ref(),
    )
    .ok()?;
    session::is_up_to_date(&existing, &wanted, args.run.seed.is_some()).then_some(existing)
}

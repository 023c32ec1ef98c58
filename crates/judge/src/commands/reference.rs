//! `judge reference ID... | --all`: our Rust references through the graders' own criteria —
//! proof that every criterion can be met and that the checks run. The reports are signed like
//! every report the judge writes, so `judge report` can show them as the reference column.

use std::fmt::Write as _;

use judge_core::report::REPORT_FILE_NAME;
use judge_core::{ChallengeId, CriterionKind, Report, ReportFile, Verdict, session};
use judge_report::REFERENCE_COLUMN;

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
    let mut missing = Vec::new();
    for id in wanted {
        match registry::grader(id) {
            Some(grader) => graders.push(grader),
            None if args.all => missing.push(id),
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
    let key = super::report_key(args.run.key.as_deref())?;
    let ctx = super::context(&args.run);
    let bar = progress(graders.len(), args.run.quiet);
    let mut reports: Vec<Report> = Vec::new();
    let mut write_failed = false;
    for grader in &graders {
        bar.set_message(grader.id().to_string());
        let mut report =
            session::grade_reference(grader.as_ref(), &prompt_sha256(grader.id()), &ctx);
        key.sign(&mut report);
        if let Some(out) = &args.out {
            let path = out
                .join(REFERENCE_COLUMN)
                .join(grader.id().as_str())
                .join(REPORT_FILE_NAME);
            if let Err(e) = report.write_atomic(&path) {
                bar.suspend(|| eprintln!("error: {}: {e}", grader.id()));
                write_failed = true;
            }
        }
        reports.push(report);
        bar.inc(1);
    }
    bar.finish_and_clear();
    if args.run.json {
        print_reports(&reports, true)?;
    } else {
        // The full table for a challenge named on the command line or one that did not pass;
        // the summary for everything.
        let detailed: Vec<Report> = reports
            .iter()
            .filter(|r| !args.all || !r.all_auto_passed() || r.has_harness_fault())
            .cloned()
            .collect();
        print_reports(&detailed, false)?;
        out!("{}", summary(&reports, &missing));
    }
    if write_failed {
        return Ok(judge_core::exit::USAGE_OR_ENVIRONMENT);
    }
    Ok(judge_core::exit::for_reports(&reports))
}

/// One line per challenge: auto criteria passed of total, what was skipped and why, seconds.
fn summary(reports: &[Report], missing: &[ChallengeId]) -> String {
    let mut rows: Vec<(usize, String)> = Vec::new();
    for report in reports {
        let auto = report.totals.auto;
        // Skipped criteria grouped by reason: "a, b (no GPU)".
        let mut skipped: Vec<(String, Vec<&str>)> = Vec::new();
        for result in &report.criteria {
            if let (CriterionKind::Auto, Verdict::Skipped { reason }) =
                (result.criterion.kind, &result.verdict)
            {
                match skipped.iter_mut().find(|(r, _)| r == reason) {
                    Some((_, ids)) => ids.push(&result.criterion.id),
                    None => skipped.push((reason.clone(), vec![&result.criterion.id])),
                }
            }
        }
        let skipped: Vec<String> = skipped
            .into_iter()
            .map(|(reason, ids)| format!("{} ({reason})", ids.join(", ")))
            .collect();
        rows.push((
            report.challenge.seed_index(),
            format!(
                "{:<20} {:>6}  {:>7.1}  {}",
                report.challenge.as_str(),
                format!("{}/{}", auto.pass, auto.total),
                report.seconds,
                if skipped.is_empty() {
                    "-".to_string()
                } else {
                    skipped.join("; ")
                }
            ),
        ));
    }
    for id in missing {
        rows.push((
            id.seed_index(),
            format!("{:<20} {:>6}  {:>7}  no grader yet", id.as_str(), "-", "-"),
        ));
    }
    rows.sort();
    let mut out = format!(
        "{:<20} {:>6}  {:>7}  skipped\n",
        "challenge", "auto", "seconds"
    );
    for (_, row) in rows {
        out.push_str(&row);
        out.push('\n');
    }
    let failed: u32 = reports
        .iter()
        .map(|r| r.totals.auto.fail + r.totals.auto.error)
        .sum();
    let total: f64 = reports.iter().map(|r| r.seconds).sum();
    let _ = writeln!(
        out,
        "\n{} challenge(s), {} auto criteria not passed, {total:.1}s",
        reports.len(),
        failed
    );
    out
}

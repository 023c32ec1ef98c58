//! `judge review PATH --endpoint URL -m MODEL`: a model's opinion on each manual criterion of
//! existing reports, stored as a `review` block in the GRADE.json and shown apart. A review
//! never changes a verdict, the totals or the score: the objective grade stays objective.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use judge_core::discover::{SubmissionDir, discover};
use judge_core::report::REPORT_FILE_NAME;
use judge_core::review::{Review, ReviewVerdict};
use judge_core::{CriterionKind, Report, ReportFile};
use judge_llm::review::{ReviewedFile, parse_verdict, review_request};
use judge_llm::{Client, ClientError, TRANSCRIPT_FILE_NAME};

use crate::cli::ReviewArgs;

/// A file larger than this is not shown to the reviewer (it is data, not an explanation).
const FILE_LIMIT: u64 = 256 << 10;
/// Most bytes of files shown in one review request.
const FILES_TOTAL_LIMIT: usize = 1 << 20;

pub fn run(args: ReviewArgs) -> anyhow::Result<i32> {
    let client = super::run::client(&args.endpoint)?;
    let key = super::report_key(args.key.as_deref())?;
    let submissions = discover(&args.path)?.submissions;
    let mut reviewed = 0usize;
    let mut failures = 0usize;
    for sub in &submissions {
        let path = sub.dir.join(REPORT_FILE_NAME);
        let mut report = match Report::read(&path) {
            Ok(report) => report,
            Err(e) => {
                eprintln!("warning: {}: not reviewed: {e}", sub.label());
                continue;
            }
        };
        // Only the judge's own reports: signing a review into a forged one would vouch for it.
        if let Err(unverified) = key.verify(&report) {
            eprintln!(
                "warning: {}: not reviewed: its {REPORT_FILE_NAME} is {unverified}; grade it again first",
                sub.label()
            );
            continue;
        }
        let manual: Vec<_> = report
            .criteria
            .iter()
            .filter(|r| r.criterion.kind == CriterionKind::Manual)
            .map(|r| r.criterion.clone())
            .filter(|c| args.force || !report.reviews.iter().any(|rv| rv.criterion == c.id))
            .collect();
        if manual.is_empty() {
            continue;
        }
        let files = reviewed_files(sub, &report);
        let prompt = judge_scaffold::prompts::prompt_markdown(sub.challenge, false);
        for criterion in manual {
            let request = review_request(
                &args.model_id,
                &prompt,
                &criterion.id,
                &criterion.title,
                &files,
                args.endpoint.max_tokens,
            );
            let review = match ask(&client, &request, &args.model_id, &criterion.id) {
                Ok(review) => review,
                Err(ClientError::Fatal(message)) => {
                    eprintln!("error: {message}");
                    return Ok(judge_core::exit::USAGE_OR_ENVIRONMENT);
                }
                Err(failed) => {
                    eprintln!(
                        "error: {}: {}: no reply: {failed}",
                        sub.label(),
                        criterion.id
                    );
                    failures += 1;
                    continue;
                }
            };
            outln!(
                "{}  {}  reviewed by {}: {} — {}",
                sub.label(),
                criterion.id,
                review.reviewer,
                review.verdict.label(),
                judge_report::render::printable(&review.reasons, false)
            );
            report.reviews.retain(|r| r.criterion != criterion.id);
            report.reviews.push(review);
            reviewed += 1;
        }
        key.sign(&mut report);
        if let Err(e) = report.write_atomic(&path) {
            eprintln!("error: {}: {e}", sub.label());
            failures += 1;
        }
    }
    if reviewed == 0 && failures == 0 {
        eprintln!(
            "nothing to review below '{}' (no graded manual criterion without a review; --force reviews again)",
            args.path.display()
        );
    }
    Ok(if failures > 0 {
        judge_core::exit::USAGE_OR_ENVIRONMENT
    } else {
        judge_core::exit::SUCCESS
    })
}

/// Asks for a verdict; a reply that is not the verdict object is asked for once more, then the
/// criterion is recorded as unreviewed with what was wrong.
fn ask(
    client: &Client,
    request: &judge_llm::ChatRequest,
    reviewer: &str,
    criterion: &str,
) -> Result<Review, ClientError> {
    let reviewed_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut usage = judge_llm::Usage::default();
    let mut problem = String::new();
    for _ in 0..2 {
        let exchange = client.complete(request, &|reason, wait| {
            eprintln!(
                "{criterion}: {reason}; retrying in {:.1}s",
                wait.as_secs_f64()
            )
        })?;
        usage.add(exchange.response.usage.unwrap_or_default());
        match parse_verdict(exchange.response.content()) {
            Ok(parsed) => {
                return Ok(Review {
                    criterion: criterion.to_string(),
                    reviewer: reviewer.to_string(),
                    verdict: if parsed.pass {
                        ReviewVerdict::Pass
                    } else {
                        ReviewVerdict::Fail
                    },
                    reasons: parsed.reasons,
                    prompt_tokens: usage.prompt_tokens,
                    completion_tokens: usage.completion_tokens,
                    reviewed_unix,
                });
            }
            Err(reason) => problem = reason,
        }
    }
    Ok(Review {
        criterion: criterion.to_string(),
        reviewer: reviewer.to_string(),
        verdict: ReviewVerdict::Unreviewed,
        reasons: format!("no valid verdict in two replies: {problem}"),
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        reviewed_unix,
    })
}

/// The submission's text files, as its report lists them, read like any submission file (no
/// link, capped); the harness's own files and the challenge's data file are left out.
fn reviewed_files(sub: &SubmissionDir, report: &Report) -> Vec<ReviewedFile> {
    let data_file = sub.challenge.info().data_file;
    let harness_files = ["PROMPT.md", REPORT_FILE_NAME, TRANSCRIPT_FILE_NAME];
    let mut total = 0usize;
    let mut files = Vec::new();
    let listed = report.submission.iter().flat_map(|s| s.files.iter());
    for file in listed {
        let name = file.path.as_str();
        if harness_files.contains(&name) || Some(name) == data_file {
            continue;
        }
        let Ok(opened) = judge_core::untrusted_fs::open_regular_beneath(&sub.dir, Path::new(name))
        else {
            continue;
        };
        let full = sub.dir.join(name);
        let Ok(bytes) = judge_core::untrusted_fs::read_capped_from(opened, &full, FILE_LIMIT)
        else {
            continue;
        };
        let Ok(content) = String::from_utf8(bytes) else {
            continue;
        };
        if total + content.len() > FILES_TOTAL_LIMIT {
            break;
        }
        total += content.len();
        files.push(ReviewedFile {
            name: name.to_string(),
            content,
        });
    }
    files
}

//! Grading one candidate end to end: fingerprint, run the grader, assemble the GRADE.json.
//! The binary decides *what* to grade; this module decides nothing about verdicts.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::criterion::Verdict;
use crate::discover::SubmissionDir;
use crate::fingerprint::{combined_hash, hash_tree, sha256_hex};
use crate::grading::{ADAPTER_FILE_NAME, Challenge, ExternalAdapter, GradeContext, Graded};
use crate::report::{
    CandidateKind, FileHash, Fingerprint, MACHINE_ENVIRONMENT_KEY, Report, SCHEMA_VERSION,
    SubmissionInfo, Totals, score,
};
use crate::scorecard::Scorecard;

/// The fingerprint a fresh grade of `submission` would carry. `None` for the reference.
pub fn fingerprint(
    challenge: &dyn Challenge,
    prompt_sha256: &str,
    submission: Option<&Path>,
    seed: u64,
) -> Result<Fingerprint, crate::untrusted_fs::TreeError> {
    fingerprint_via(challenge, prompt_sha256, submission, seed, None)
}

/// [`fingerprint`] of a submission graded through an adapter from outside it (`--adapter`).
pub fn fingerprint_via(
    challenge: &dyn Challenge,
    prompt_sha256: &str,
    submission: Option<&Path>,
    seed: u64,
    adapter: Option<&ExternalAdapter>,
) -> Result<Fingerprint, crate::untrusted_fs::TreeError> {
    let submission_sha256 = match submission {
        Some(dir) => submission_hash(&hash_tree(dir)?, adapter),
        None => String::new(),
    };
    Ok(fingerprint_of(
        challenge,
        prompt_sha256,
        submission_sha256,
        seed,
    ))
}

/// The submission hash: its files and, when one comes from outside the folder, the adapter it
/// is graded through (so adding, changing or dropping `--adapter` grades again, and a report
/// made without it is stale). The adapter is hashed under a name no file in a folder can have.
fn submission_hash(files: &[FileHash], adapter: Option<&ExternalAdapter>) -> String {
    let mut files = files.to_vec();
    if let Some(adapter) = adapter {
        files.push(FileHash {
            path: format!("\0--adapter\0{ADAPTER_FILE_NAME}"),
            sha256: adapter.sha256(),
        });
    }
    combined_hash(&files)
}

/// `kv/1`: the grader version a fresh report of `challenge` records.
pub fn grader_version(challenge: &dyn Challenge) -> String {
    format!("{}/{}", challenge.id(), challenge.version())
}

fn fingerprint_of(
    challenge: &dyn Challenge,
    prompt_sha256: &str,
    submission_sha256: String,
    seed: u64,
) -> Fingerprint {
    Fingerprint {
        prompt_sha256: prompt_sha256.to_string(),
        grader_version: grader_version(challenge),
        submission_sha256,
        seed,
    }
}

/// Whether `existing` already grades exactly this input. Without an explicit seed any seed
/// will do: the user asked for "a grade", not for a particular draw of hidden cases.
pub fn is_up_to_date(existing: &Report, wanted: &Fingerprint, seed_given: bool) -> bool {
    let same = &existing.fingerprint;
    same.prompt_sha256 == wanted.prompt_sha256
        && same.grader_version == wanted.grader_version
        && same.submission_sha256 == wanted.submission_sha256
        && (!seed_given || same.seed == wanted.seed)
        && !existing.has_harness_fault()
}

/// Runs `grade` and never lets a grader panic take the run down: a panic turns every criterion
/// into a harness ERROR naming it.
fn guarded(challenge: &dyn Challenge, grade: impl FnOnce() -> Graded) -> Graded {
    catch_unwind(AssertUnwindSafe(grade)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let mut card = Scorecard::new(&challenge.criteria());
        card.decide_remaining(
            None,
            &Verdict::harness_error(format!("grader panicked: {message}")),
        );
        Graded {
            results: card.finish("grader panicked"),
            ..Graded::default()
        }
    })
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `x86_64 linux 6.1.0, 2 CPUs, Intel(R) Xeon(R) …`: what a reader needs to place timings.
fn machine_description() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, m)| m.trim().to_string())
            })
        })
        .unwrap_or_default();
    format!(
        "{} {} {}, {cpus} CPUs, {model}",
        std::env::consts::ARCH,
        std::env::consts::OS,
        kernel.trim()
    )
    .trim_end_matches([',', ' '])
    .to_string()
}

fn assemble(
    challenge: &dyn Challenge,
    candidate: CandidateKind,
    model: Option<String>,
    submission: Option<SubmissionInfo>,
    fingerprint: Fingerprint,
    started: (u64, Instant),
    mut graded: Graded,
) -> Report {
    graded
        .environment
        .entry(MACHINE_ENVIRONMENT_KEY.to_string())
        .or_insert_with(machine_description);
    Report {
        schema: SCHEMA_VERSION,
        judge_version: env!("CARGO_PKG_VERSION").to_string(),
        challenge: challenge.id(),
        model,
        candidate,
        submission,
        fingerprint,
        environment: graded.environment,
        notes: graded.notes,
        started_unix: started.0,
        seconds: started.1.elapsed().as_secs_f64(),
        totals: Totals::of(&graded.results),
        score: score(&graded.results),
        criteria: graded.results,
        reviews: Vec::new(),
        signature: None,
    }
}

/// Grades a submission folder and returns its report (not yet written anywhere).
pub fn grade_submission(
    challenge: &dyn Challenge,
    submission: &SubmissionDir,
    prompt_sha256: &str,
    ctx: &GradeContext,
) -> Report {
    let started = (now_unix(), Instant::now());
    let (files, submission_sha256, graded) = match hash_tree(&submission.dir) {
        Ok(files) => {
            let sha256 = submission_hash(&files, ctx.adapter.as_ref());
            let graded = guarded(challenge, || {
                challenge.grade_submission(&submission.dir, ctx)
            });
            (files, sha256, graded)
        }
        // A folder the judge cannot walk is the submission's ERROR, not graded at all; its
        // hash names the refusal, so it matches no walkable tree.
        Err(e) => {
            let reason = format!("the submission folder cannot be graded: {e}");
            let graded = every_criterion(challenge, &Verdict::error(reason.clone()));
            (Vec::new(), sha256_hex(reason.as_bytes()), graded)
        }
    };
    let fingerprint = fingerprint_of(challenge, prompt_sha256, submission_sha256, ctx.seed);
    submission_report(challenge, submission, files, fingerprint, started, graded)
}

/// Every criterion of `challenge` decided as `verdict`: grading that could not start or end.
fn every_criterion(challenge: &dyn Challenge, verdict: &Verdict) -> Graded {
    let mut card = Scorecard::new(&challenge.criteria());
    card.decide_remaining(None, verdict);
    Graded {
        results: card.finish(verdict.detail()),
        ..Graded::default()
    }
}

/// The report of a submission folder, its files as hashed and the entry the grader chose.
fn submission_report(
    challenge: &dyn Challenge,
    submission: &SubmissionDir,
    files: Vec<FileHash>,
    fingerprint: Fingerprint,
    started: (u64, Instant),
    graded: Graded,
) -> Report {
    let info = SubmissionInfo {
        path: submission.dir.display().to_string(),
        entry: graded.entry.clone(),
        files,
        adapter: graded.adapter.clone(),
    };
    assemble(
        challenge,
        CandidateKind::Submission,
        submission.model.clone(),
        Some(info),
        fingerprint,
        started,
        graded,
    )
}

/// The report of a submission whose grading could not finish (the judge's grading process for
/// it crashed or ran out of time): every criterion gets `verdict`. The folder is not hashed
/// again, since reading it may be what went wrong.
pub fn ungraded_submission(
    challenge: &dyn Challenge,
    submission: &SubmissionDir,
    prompt_sha256: &str,
    ctx: &GradeContext,
    started: (u64, Instant),
    verdict: &Verdict,
) -> Report {
    let fingerprint = fingerprint_of(challenge, prompt_sha256, String::new(), ctx.seed);
    let graded = every_criterion(challenge, verdict);
    submission_report(
        challenge,
        submission,
        Vec::new(),
        fingerprint,
        started,
        graded,
    )
}

/// Seconds since the Unix epoch and the instant grading started, as the report records them.
pub fn start_clock() -> (u64, Instant) {
    (now_unix(), Instant::now())
}

/// Grades our own Rust reference through the same criteria.
pub fn grade_reference(
    challenge: &dyn Challenge,
    prompt_sha256: &str,
    ctx: &GradeContext,
) -> Report {
    let started = (now_unix(), Instant::now());
    let fingerprint = fingerprint_of(challenge, prompt_sha256, String::new(), ctx.seed);
    let graded = guarded(challenge, || challenge.grade_reference(ctx));
    assemble(
        challenge,
        CandidateKind::Reference,
        None,
        None,
        fingerprint,
        started,
        graded,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::ChallengeId;
    use crate::criterion::Criterion;

    /// A grader whose verdicts are scripted, to test the session without a real grader.
    struct Scripted {
        panic: bool,
    }

    impl Challenge for Scripted {
        fn id(&self) -> ChallengeId {
            ChallengeId::Kv
        }
        fn version(&self) -> &'static str {
            "1"
        }
        fn criteria(&self) -> Vec<Criterion> {
            vec![Criterion::auto("a", "a"), Criterion::manual("m", "m")]
        }
        fn grade_reference(&self, _: &GradeContext) -> Graded {
            let mut card = Scorecard::new(&self.criteria());
            card.check("a", || Verdict::pass("exact"));
            card.decide_remaining(None, &Verdict::skipped("manual: needs review"));
            Graded {
                results: card.finish("unused"),
                ..Graded::default()
            }
        }
        fn grade_submission(&self, dir: &Path, ctx: &GradeContext) -> Graded {
            assert!(!self.panic, "boom in {}", dir.display());
            let mut graded = self.grade_reference(ctx);
            graded.entry = Some("kv.py".into());
            graded
        }
    }

    fn submission(dir: &Path) -> SubmissionDir {
        std::fs::write(dir.join("kv.py"), "pass\n").unwrap();
        SubmissionDir {
            model: Some("m".into()),
            challenge: ChallengeId::Kv,
            dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn a_submission_report_carries_files_entry_fingerprint_and_totals() {
        let dir = tempfile::tempdir().unwrap();
        let sub = submission(dir.path());
        let report = grade_submission(
            &Scripted { panic: false },
            &sub,
            "p",
            &GradeContext::with_seed(9),
        );
        assert_eq!(report.fingerprint.seed, 9);
        assert_eq!(report.fingerprint.grader_version, "kv/1");
        let info = report.submission.as_ref().unwrap();
        assert_eq!(info.entry.as_deref(), Some("kv.py"));
        assert_eq!(info.files[0].path, "kv.py");
        assert_eq!(report.totals.auto.pass, 1);
        assert_eq!(report.score, 1.0);

        let wanted = fingerprint(&Scripted { panic: false }, "p", Some(dir.path()), 3).unwrap();
        assert!(is_up_to_date(&report, &wanted, false));
        assert!(!is_up_to_date(&report, &wanted, true), "seed differs");
        std::fs::write(dir.path().join("kv.py"), "changed\n").unwrap();
        let changed = fingerprint(&Scripted { panic: false }, "p", Some(dir.path()), 9).unwrap();
        assert!(!is_up_to_date(&report, &changed, true));
    }

    #[test]
    fn a_panicking_grader_becomes_harness_errors_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let sub = submission(dir.path());
        let report = grade_submission(
            &Scripted { panic: true },
            &sub,
            "p",
            &GradeContext::with_seed(1),
        );
        assert!(report.has_harness_fault());
        assert!(report.criteria[0].verdict.detail().contains("boom"));
        assert_eq!(report.criteria.len(), 2);
    }

    #[test]
    fn a_folder_the_judge_cannot_walk_is_the_submissions_error() {
        let real = tempfile::tempdir().unwrap();
        let holder = tempfile::tempdir().unwrap();
        let link = holder.path().join("kv");
        std::os::unix::fs::symlink(real.path(), &link).unwrap();
        let mut sub = submission(real.path());
        sub.dir = link;
        let report = grade_submission(
            &Scripted { panic: false },
            &sub,
            "p",
            &GradeContext::with_seed(1),
        );
        assert!(!report.has_harness_fault());
        assert_eq!(
            crate::exit::for_reports([&report]),
            crate::exit::CRITERIA_FAILED
        );
        assert!(report.criteria.iter().all(|r| r.verdict.label() == "ERROR"));
        assert!(
            report.criteria[0]
                .verdict
                .detail()
                .contains("symbolic link"),
            "{}",
            report.criteria[0].verdict.detail()
        );
        assert_eq!(report.fingerprint.submission_sha256.len(), 64);
        assert_ne!(report.fingerprint.submission_sha256, combined_hash(&[]));
    }
}

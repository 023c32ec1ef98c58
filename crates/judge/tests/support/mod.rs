//! What the end-to-end tests share: the binary under a test key, and reports built from the
//! registered graders' own criteria.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use judge_core::ReportFile;
use judge_core::report::{Fingerprint, Totals, score};
use judge_core::signing::{KEY_ENV, ReportKey};
use judge_core::{
    CandidateKind, Challenge, ChallengeId, CriterionKind, CriterionResult, Report, Verdict,
};

/// The key every test run of the binary signs with: below cargo's per-target scratch folder,
/// never the judge's real key.
pub fn key_path() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("judge-tests.key")
}

pub fn key() -> ReportKey {
    ReportKey::load_or_create(&key_path()).expect("the test key is created")
}

/// The judge binary, signing with the test key, without colours.
pub fn judge_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_judge"));
    command.env("NO_COLOR", "1").env(KEY_ENV, key_path());
    command
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The grader the binary registers for `id`.
pub fn grader(id: ChallengeId) -> Box<dyn Challenge> {
    match id {
        ChallengeId::Backwards => Box::new(grader_backwards::BackwardsGrader),
        ChallengeId::Kv => Box::new(grader_kv::KvGrader),
        ChallengeId::FlashAttention => Box::new(grader_flash_attention::FlashAttentionGrader),
        other => panic!("no test helper for {other}"),
    }
}

/// The prompt hash a fresh report of `id` records (public: the prompt is in the scaffold).
pub fn prompt_sha256(id: ChallengeId) -> String {
    judge_core::fingerprint::sha256_hex(
        judge_scaffold::prompts::prompt_markdown(id, false).as_bytes(),
    )
}

/// An unsigned report of `model` for `id` with its grader's criteria, every auto criterion
/// passing when `pass` and failing otherwise, everything else "needs review". Its fingerprint
/// is what a current grade records: exactly what a forger can fill in from public data.
pub fn report(model: &str, id: ChallengeId, pass: bool) -> Report {
    let grader = grader(id);
    let criteria: Vec<CriterionResult> = grader
        .criteria()
        .into_iter()
        .enumerate()
        .map(|(i, criterion)| {
            let verdict = match (criterion.kind, pass) {
                (CriterionKind::Auto, true) => Verdict::pass("ok"),
                (CriterionKind::Auto, false) => Verdict::fail(format!("wrong <b>{i}</b>")),
                _ => Verdict::skipped("manual: needs review"),
            };
            CriterionResult {
                criterion,
                verdict,
                seconds: 0.0,
            }
        })
        .collect();
    Report {
        schema: judge_core::SCHEMA_VERSION,
        judge_version: "0.1.0".into(),
        challenge: id,
        model: Some(model.into()),
        candidate: CandidateKind::Submission,
        submission: None,
        fingerprint: Fingerprint {
            prompt_sha256: prompt_sha256(id),
            grader_version: judge_core::session::grader_version(grader.as_ref()),
            submission_sha256: "bb".repeat(32),
            seed: 1,
        },
        environment: BTreeMap::new(),
        notes: vec![],
        started_unix: 100,
        seconds: 0.1,
        totals: Totals::of(&criteria),
        score: score(&criteria),
        criteria,
        reviews: Vec::new(),
        signature: None,
    }
}

/// Writes `report` signed with the test key to ROOT/<dir>/GRADE.json.
pub fn put(root: &Path, dir: &str, report: &Report) {
    let mut signed = report.clone();
    key().sign(&mut signed);
    put_unsigned(root, dir, &signed);
}

/// Writes `report` as it is.
pub fn put_unsigned(root: &Path, dir: &str, report: &Report) {
    report
        .write_atomic(&root.join(dir).join("GRADE.json"))
        .expect("fixture report is written");
}

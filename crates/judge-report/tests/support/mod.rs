//! GRADE.json fixtures built from `judge_core::Report` values, and one scenario tree that has a
//! bit of everything: full, partial and tied models, the reference, an ERR cell, a stale and a
//! duplicate report, malformed and wrong-schema files, a hidden folder and a symbolic link.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use judge_core::ReportFile;
use judge_core::report::{FileHash, Fingerprint, SubmissionInfo, Totals, score};
use judge_core::signing::ReportKey;
use judge_core::{CandidateKind, ChallengeId, Criterion, CriterionResult, Report, Verdict};
use judge_report::{Checks, Matrix, RegisteredGrader};

/// The key the fixtures are signed with: a file below cargo's per-target scratch folder, never
/// the judge's real key.
pub fn key() -> ReportKey {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("judge-report-tests.key");
    ReportKey::load_or_create(&path).expect("the test key is created")
}

/// The matrix of `root` as `judge report` builds it, without registered graders.
pub fn matrix(root: &Path) -> Matrix {
    matrix_with(root, &[], false)
}

/// The matrix of `root` checked against `graders`, counting unsigned reports when asked, with
/// `--strict` arithmetic (the scenario's scores were worked out by hand with it).
pub fn matrix_with(root: &Path, graders: &[RegisteredGrader], accept_unsigned: bool) -> Matrix {
    matrix_scored(root, graders, accept_unsigned, true)
}

/// [`matrix_with`] with the arithmetic chosen: `strict` or scored over what ran.
pub fn matrix_scored(
    root: &Path,
    graders: &[RegisteredGrader],
    accept_unsigned: bool,
    strict: bool,
) -> Matrix {
    let key = key();
    let checks = Checks {
        key: &key,
        graders,
        accept_unsigned,
        strict,
    };
    Matrix::from_root(root, &checks).expect("the tree has reports")
}

pub const XSS: &str = "<script>alert(1)</script> & \"quotes\" 'too'";

pub fn auto(id: &str, weight: u32, verdict: Verdict) -> CriterionResult {
    CriterionResult {
        criterion: Criterion::auto(id, &format!("{id} title")).with_weight(weight),
        verdict,
        seconds: 0.1,
    }
}

pub fn manual(id: &str) -> CriterionResult {
    CriterionResult {
        criterion: Criterion::manual(id, &format!("{id} title")),
        verdict: Verdict::skipped("manual: needs review"),
        seconds: 0.0,
    }
}

pub fn self_test(id: &str, verdict: Verdict) -> CriterionResult {
    CriterionResult {
        criterion: Criterion::self_test(id, &format!("{id} title")),
        verdict,
        seconds: 0.2,
    }
}

/// `passed` auto criteria of weight 1 that pass and `failed` that fail.
pub fn tally(passed: usize, failed: usize) -> Vec<CriterionResult> {
    let pass = (0..passed).map(|i| auto(&format!("ok_{i}"), 1, Verdict::pass("within tolerance")));
    let fail = (0..failed).map(|i| {
        auto(
            &format!("bad_{i}"),
            1,
            Verdict::fail("max rel err 3e-2 > 1e-4"),
        )
    });
    pass.chain(fail).collect()
}

/// A schema-v1 report whose stored score and totals agree with its criteria.
pub fn report(
    model: Option<&str>,
    challenge: ChallengeId,
    criteria: Vec<CriterionResult>,
) -> Report {
    Report {
        schema: judge_core::SCHEMA_VERSION,
        judge_version: "0.1.0".into(),
        challenge,
        model: model.map(str::to_string),
        candidate: CandidateKind::Submission,
        submission: Some(SubmissionInfo {
            path: format!("{}/{challenge}", model.unwrap_or("_")),
            entry: Some("solution.py".into()),
            files: vec![FileHash {
                path: "solution.py".into(),
                sha256: "ab".repeat(32),
            }],
            adapter: None,
        }),
        fingerprint: Fingerprint {
            prompt_sha256: "cd".repeat(32),
            grader_version: format!("{challenge}/1"),
            submission_sha256: "ef".repeat(32),
            seed: 42,
        },
        environment: BTreeMap::new(),
        notes: vec![],
        started_unix: 1_000,
        seconds: 1.0,
        totals: Totals::of(&criteria),
        score: score(&criteria),
        criteria,
        reviews: Vec::new(),
        signature: None,
    }
}

pub fn reference(challenge: ChallengeId) -> Report {
    let mut report = report(None, challenge, tally(3, 0));
    report.candidate = CandidateKind::Reference;
    report.submission = None;
    report
}

/// Writes `report`, signed with [`key`], to ROOT/<dir>/GRADE.json.
pub fn put(root: &Path, dir: &str, report: &Report) {
    let mut signed = report.clone();
    key().sign(&mut signed);
    put_unsigned(root, dir, &signed);
}

/// Writes `report` as it is (a forgery has no signature, or a wrong one).
pub fn put_unsigned(root: &Path, dir: &str, report: &Report) {
    report
        .write_atomic(&root.join(dir).join("GRADE.json"))
        .expect("fixture report is written");
}

pub fn put_text(root: &Path, dir: &str, text: &str) {
    fs::create_dir_all(root.join(dir)).unwrap();
    fs::write(root.join(dir).join("GRADE.json"), text).unwrap();
}

use ChallengeId::*;

/// The scenario tree. Scores by hand (weights in brackets):
///
/// | challenge           | reference | gamma | alpha                          | beta   | delta |
/// |---------------------|-----------|-------|--------------------------------|--------|-------|
/// | backwards           | 1 A       | 1 A   | 4/4 = 1 A                      | 1 A †  | 1 A   |
/// | fuse                | 1 A       | 1 A   | 3/4 = .75 B (dup: older 0/1)   | 1 A    | 1 A   |
/// | kv                  | 1 A       | 1 A   | [2]/[3] = .667 C               | 1 A    | 1 A   |
/// | beam_search         | 1 A       | 1 A   | 1/2 = .5 D (XSS evidence)      |        |       |
/// | flash_attention     | 1 A       | 1 A   | [3]/[5] = .6 C (+skip, manual) |        |       |
/// | dflash_verify       | 1 A       |       | 9/10 = .9 A                    |        |       |
/// | flash_attention_bwd | 1 A       |       | 0/2 = 0 F                      |        |       |
/// | ternary_training    | 1 A       |       | 1/2 = .5 ERR (harness fault)   |        |       |
///
/// Totals: reference 1 (A, unranked); gamma 5/8 = .625 C rank 1; alpha 4.91667/8 = .61458 C
/// rank 2; beta and delta 3/8 = .375 F, both rank 3.
pub fn write_scenario(root: &Path) {
    for id in ChallengeId::ALL {
        put(root, &format!("reference/{id}"), &reference(id));
    }
    for id in [Backwards, Fuse, Kv, BeamSearch, FlashAttention] {
        put(
            root,
            &format!("gamma/{id}"),
            &report(Some("gamma"), id, tally(2, 0)),
        );
    }
    for model in ["beta", "delta"] {
        for id in [Backwards, Fuse, Kv] {
            let mut r = report(Some(model), id, tally(1, 0));
            if model == "beta" && id == Backwards {
                r.fingerprint.grader_version = "backwards/0".into();
                r.started_unix = 900;
            }
            if model == "delta" && id == Fuse {
                r.score = 0.25; // tampered: the criteria say 1
            }
            put(root, &format!("{model}/{id}"), &r);
        }
    }

    let alpha = |id, criteria| report(Some("alpha"), id, criteria);
    put(root, "alpha/backwards", &alpha(Backwards, tally(4, 0)));
    put(root, "alpha/fuse", &alpha(Fuse, tally(3, 1)));
    let mut older = alpha(Fuse, tally(0, 1));
    older.started_unix = 500;
    put(root, "out/alpha/fuse", &older);
    put(
        root,
        "alpha/kv",
        &alpha(
            Kv,
            vec![
                auto("paged", 2, Verdict::pass("matches contiguous")),
                auto("no_copy", 1, Verdict::fail("copied 4096 B per step")),
            ],
        ),
    );
    put(
        root,
        "alpha/beam_search",
        &alpha(
            BeamSearch,
            vec![
                auto("eos_retention", 1, Verdict::fail(XSS)),
                auto("length_penalty", 1, Verdict::pass("ok")),
            ],
        ),
    );
    put(
        root,
        "alpha/flash_attention",
        &alpha(
            FlashAttention,
            vec![
                auto("matches_naive", 3, Verdict::pass("max rel err 2e-12")),
                auto("no_nxn", 1, Verdict::fail("peak 134217728 B ≥ 20% of N×N")),
                auto("gpu_speed", 1, Verdict::skipped("no GPU")),
                self_test("own_tests", Verdict::pass("exit 0")),
                manual("explain_rescale"),
            ],
        ),
    );
    put(
        root,
        "alpha/dflash_verify",
        &alpha(DflashVerify, tally(9, 1)),
    );
    put(
        root,
        "alpha/flash_attention_bwd",
        &alpha(FlashAttentionBwd, tally(0, 2)),
    );
    put(
        root,
        "alpha/ternary_training",
        &alpha(
            TernaryTraining,
            vec![
                auto("projection", 1, Verdict::pass("ternary")),
                auto("perplexity", 1, Verdict::harness_error("python missing")),
            ],
        ),
    );

    // Problems.
    put_text(root, "broken/kv", "{not json");
    put_text(root, "future/kv", r#"{"schema": 2, "challenge": "kv"}"#);
    put(
        root,
        "x/reference/kv",
        &report(Some("reference"), Kv, tally(1, 0)),
    );
    // Hidden folders are skipped without a word: this would otherwise be a duplicate of alpha/kv.
    let mut hidden = alpha(Kv, tally(0, 3));
    hidden.started_unix = 9_999;
    put(root, ".cache/alpha/kv", &hidden);
    std::os::unix::fs::symlink(root.join("alpha"), root.join("linked")).unwrap();
}

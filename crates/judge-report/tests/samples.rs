//! pass@k over sample folders (`M/`, `M@2/`, …) and the reviews section, through the matrix.

mod support;

use judge_core::ChallengeId::*;
use judge_core::review::{Review, ReviewVerdict};
use judge_report::{Format, PassAtK};
use support::{XSS, manual, put, report, tally};

#[test]
fn four_samples_two_passing_give_pass_at_1_one_half_and_pass_at_2_five_sixths() {
    let dir = tempfile::tempdir().unwrap();
    for (folder, passed) in [("m", true), ("m@2", false), ("m@3", true), ("m@4", false)] {
        let criteria = if passed { tally(2, 0) } else { tally(1, 1) };
        put(
            dir.path(),
            &format!("{folder}/backwards"),
            &report(Some(folder), Backwards, criteria),
        );
    }
    // A fifth sample the judge failed on is no evidence about the model: left out of n.
    let mut faulty = report(Some("m@5"), Backwards, tally(1, 0));
    faulty.criteria[0].verdict = judge_core::Verdict::harness_error("the endpoint gave no reply");
    put(dir.path(), "m@5/backwards", &faulty);
    // Another model with one sample: pass@2 is not defined for it.
    put(
        dir.path(),
        "solo/backwards",
        &report(Some("solo"), Backwards, tally(2, 0)),
    );

    let matrix = support::matrix(dir.path());
    let table = PassAtK::of(&matrix);
    assert!(table.has_samples());
    assert_eq!(table.ks, [1, 2]);
    let m = table.rows.iter().find(|r| r.model == "m").unwrap();
    assert_eq!((m.samples, m.passed), (4, 2));
    assert!((m.mean_score - 0.75).abs() < 1e-12);
    assert_eq!(m.pass_at[0], (1, 0.5));
    assert_eq!(m.pass_at[1].0, 2);
    assert!((m.pass_at[1].1 - 5.0 / 6.0).abs() < 1e-12);
    let solo = table.rows.iter().find(|r| r.model == "solo").unwrap();
    assert_eq!(solo.pass_at, [(1, 1.0)]);

    let md = Format::Markdown.render(&matrix);
    assert!(md.contains("| pass@1 | pass@2 |"), "{md}");
    assert!(
        md.contains("| m | backwards | 4 | 2 | 0.750 | 0.500 | 0.833 |"),
        "{md}"
    );
    assert!(
        md.contains("| solo | backwards | 1 | 1 | 1.000 | 1.000 | — |"),
        "{md}"
    );
}

#[test]
fn one_sample_each_adds_no_pass_at_k_table() {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "a/kv", &report(Some("a"), Kv, tally(1, 0)));
    let md = Format::Markdown.render(&support::matrix(dir.path()));
    assert!(!md.contains("pass@"), "{md}");
}

#[test]
fn reviews_are_listed_apart_with_their_reviewer_and_leave_the_score_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut criteria = tally(1, 1);
    criteria.push(manual("explain"));
    let mut graded = report(Some("a"), FlashAttention, criteria);
    graded.reviews.push(Review {
        criterion: "explain".into(),
        reviewer: "judge-model".into(),
        verdict: ReviewVerdict::Pass,
        reasons: XSS.into(),
        prompt_tokens: 10,
        completion_tokens: 5,
        reviewed_unix: 0,
    });
    put(dir.path(), "a/flash_attention", &graded);
    let matrix = support::matrix(dir.path());
    let cell = matrix.cell("a", FlashAttention).unwrap();
    assert_eq!(cell.score, 0.5);
    assert_eq!(cell.review, 1, "the criterion still awaits a human: REVIEW");
    assert_eq!(cell.reviews, graded.reviews);
    let md = Format::Markdown.render(&matrix);
    assert!(md.contains("## Reviews of manual criteria (not counted in any score)"));
    assert!(
        md.contains("| a | flash_attention | explain | reviewed by judge-model | PASS |"),
        "{md}"
    );
    assert!(!md.contains("<script>"), "reasons are escaped");
    let json = Format::Json.render(&matrix);
    assert!(json.contains("\"reviewer\": \"judge-model\""));
}

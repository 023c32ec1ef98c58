//! `judge run` and `judge review` end to end against the canned OpenAI-compatible server of
//! judge-llm on 127.0.0.1: real grading of real replies, retries, fatal answers, resume, pass@k,
//! the key's absence from everything written, reviews kept apart from the score.

use std::fs;
use std::path::{Path, PathBuf};
mod support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use judge_core::review::ReviewVerdict;
use judge_core::{Fault, Report, ReportFile, Verdict};
use judge_llm::Transcript;
use judge_llm::mock::{Canned, MockServer};

const KEY_VAR: &str = "JUDGE_TEST_API_KEY";
const KEY: &str = "sk-test-9f8e7d6c5b4a-never-written";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../graders/backwards/tests/fixtures")
        .join(name);
    let file = fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "py"))
        .unwrap();
    fs::read_to_string(file).unwrap()
}

/// A reply holding the correct backwards answer in the format the prompts ask for.
fn good_reply() -> String {
    format!(
        "Here is my solution.\n\n```python file=layer_norm.py\n{}```\n",
        fixture("correct")
    )
}

/// A reply whose answer is wrong (one-pass variance: cancels catastrophically).
fn bad_reply() -> String {
    format!(
        "```python file=layer_norm.py\n{}```\n",
        fixture("one_pass_variance")
    )
}

fn judge(root: &Path, args: &[&str]) -> Command {
    let mut command = support::judge_command();
    command.args(args).arg("--root").arg(root).env(KEY_VAR, KEY);
    command
}

fn run(root: &Path, server: &MockServer, extra: &[&str]) -> Output {
    let url = server.url();
    let mut args = vec![
        "run",
        "-n",
        "m",
        "--endpoint",
        &url,
        "--only",
        "backwards",
        "--api-key-env",
        KEY_VAR,
        "--seed",
        "7",
        "-q",
    ];
    args.extend_from_slice(extra);
    judge(root, &args).output().expect("judge runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn report(root: &Path, folder: &str) -> Report {
    Report::read(&root.join(folder).join("backwards/GRADE.json")).unwrap()
}

fn transcript(root: &Path, folder: &str) -> PathBuf {
    root.join(folder).join("backwards/transcript.json")
}

/// Every file below `dir`.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_below(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_correct_reply_grades_pass_end_to_end_and_the_key_is_written_nowhere() {
    let root = tempfile::tempdir().unwrap();
    let server = MockServer::start(5, |_, _| Canned::reply(good_reply()));
    let out = run(root.path(), &server, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let dir = root.path().join("m/backwards");
    assert_eq!(
        fs::read_to_string(dir.join("layer_norm.py")).unwrap(),
        fixture("correct")
    );
    assert!(dir.join("PROMPT.md").is_file(), "scaffolded");
    let graded = report(root.path(), "m");
    assert!(graded.all_auto_passed(), "{graded:?}");
    assert_eq!(graded.score, 1.0);

    let kept = Transcript::read(&transcript(root.path(), "m")).unwrap();
    assert_eq!(kept.files, ["layer_norm.py"]);
    assert_eq!(kept.usage.total_tokens, 150);
    assert_eq!(kept.finish_reason.as_deref(), Some("stop"));
    assert_eq!(kept.attempts, 1);
    assert!(
        kept.request.messages[0]
            .content
            .contains("layer normalization")
    );
    assert!(kept.raw_reply.contains("layer_norm_backward"));

    let stdout = text(&out.stdout);
    assert!(stdout.contains("| backwards |"), "the matrix: {stdout}");
    assert!(
        stdout.contains("tokens: 1 request(s) answered in this run, 0 sample(s) resumed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("prompt 100, completion 50, total 150"),
        "{stdout}"
    );

    // The key went to the server as a bearer token, and nowhere else.
    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(!sent[0].body.contains(KEY));
    for file in files_below(root.path()) {
        let bytes = fs::read(&file).unwrap();
        assert!(
            !text(&bytes).contains(KEY),
            "the key is in {}",
            file.display()
        );
    }
    assert!(!text(&out.stdout).contains(KEY) && !text(&out.stderr).contains(KEY));
}

#[test]
fn two_files_under_headings_are_both_written_and_graded() {
    let root = tempfile::tempdir().unwrap();
    let reply = format!(
        "**layer_norm.py**\n\n```python\n{}```\n\n# file: test_layer_norm.py\n```python\nfrom layer_norm import layer_norm_forward\n\nif __name__ == \"__main__\":\n    pass\n```\n",
        fixture("correct")
    );
    let server = MockServer::start(5, move |_, _| Canned::reply(reply.clone()));
    let out = run(root.path(), &server, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let kept = Transcript::read(&transcript(root.path(), "m")).unwrap();
    assert_eq!(kept.files, ["layer_norm.py", "test_layer_norm.py"]);
    assert!(root.path().join("m/backwards/test_layer_norm.py").is_file());
    let graded = report(root.path(), "m");
    assert!(graded.all_auto_passed(), "{graded:?}");
    let files: Vec<_> = graded
        .submission
        .unwrap()
        .files
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert!(
        files.contains(&"test_layer_norm.py".to_string()),
        "{files:?}"
    );
}

#[test]
fn a_reply_without_code_is_the_submissions_error_not_the_harness() {
    let root = tempfile::tempdir().unwrap();
    let server = MockServer::start(5, |_, _| {
        Canned::reply("I am sorry, I cannot help with that.\n```\nprint('unnamed')\n```\n")
    });
    let out = run(root.path(), &server, &[]);
    assert_eq!(out.status.code(), Some(1), "a failed submission: {out:?}");
    let graded = report(root.path(), "m");
    assert!(!graded.criteria.is_empty());
    for result in &graded.criteria {
        assert_eq!(
            result.verdict,
            Verdict::Error {
                evidence: "no files found in the reply".into(),
                fault: Fault::Submission
            },
            "{}",
            result.criterion.id
        );
    }
    assert!(!graded.has_harness_fault());
    let kept = Transcript::read(&transcript(root.path(), "m")).unwrap();
    assert!(kept.files.is_empty());
    assert_eq!(kept.unnamed_blocks, 1);
}

#[test]
fn a_reply_cut_at_max_tokens_is_graded_as_is_and_says_so() {
    let root = tempfile::tempdir().unwrap();
    let reply = format!(
        "{}\n```python file=notes.py\n# and then I would",
        good_reply()
    );
    let server = MockServer::start(5, move |_, _| Canned::cut(reply.clone()));
    let out = run(root.path(), &server, &["--max-tokens", "100"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let graded = report(root.path(), "m");
    assert!(graded.all_auto_passed());
    assert!(
        graded.notes.iter().any(|n| n.contains("cut at max_tokens")),
        "{:?}",
        graded.notes
    );
    let kept = Transcript::read(&transcript(root.path(), "m")).unwrap();
    assert!(kept.cut_by_max_tokens);
    assert_eq!(kept.request.max_tokens, Some(100));
    assert_eq!(kept.files, ["layer_norm.py", "notes.py"]);
}

#[test]
fn rate_limited_twice_then_answered_is_retried_and_graded() {
    let root = tempfile::tempdir().unwrap();
    let server = MockServer::start(10, |i, _| match i {
        0 | 1 => Canned::status(429, Some("0")),
        _ => Canned::reply(good_reply()),
    });
    let out = run(root.path(), &server, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(server.requests().len(), 3);
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("HTTP 429").count(), 2, "{stderr}");
    assert!(stderr.contains("retrying in 0.0s"), "{stderr}");
    let kept = Transcript::read(&transcript(root.path(), "m")).unwrap();
    assert_eq!(kept.attempts, 3);
    assert!(report(root.path(), "m").all_auto_passed());
}

#[test]
fn server_errors_forever_are_that_samples_error_and_the_run_goes_on() {
    let root = tempfile::tempdir().unwrap();
    // Sample 1 (asked first: one worker) meets 500 on all three tries; sample 2 is answered.
    let server = MockServer::start(10, |i, _| match i {
        0..=2 => Canned::status(500, Some("0")),
        _ => Canned::reply(good_reply()),
    });
    let out = run(
        root.path(),
        &server,
        &["--samples", "2", "--tries", "3", "--concurrency", "1"],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "an endpoint fault, not the model's: {out:?}"
    );
    assert_eq!(server.requests().len(), 4);
    let failed = report(root.path(), "m");
    assert!(failed.has_harness_fault());
    let evidence = failed.criteria[0].verdict.detail();
    assert!(
        evidence.contains("the endpoint gave no reply: HTTP 500"),
        "{evidence}"
    );
    assert!(evidence.contains("after 3 tries"), "{evidence}");
    assert!(
        !transcript(root.path(), "m").exists(),
        "a later run asks again"
    );
    assert!(report(root.path(), "m@2").all_auto_passed());
    assert!(text(&out.stdout).contains("| backwards |"), "{out:?}");
}

#[test]
fn a_bad_key_or_a_wrong_url_stops_the_run_at_once_with_exit_2() {
    let root = tempfile::tempdir().unwrap();
    let server = MockServer::start(10, |_, _| Canned::status(401, None));
    let out = run(root.path(), &server, &["--samples", "3"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(server.requests().len(), 1, "nothing after the 401");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("refused the credentials (HTTP 401)"),
        "{stderr}"
    );
    assert!(stderr.contains("stopped"), "{stderr}");
    assert!(!root.path().join("m/backwards/GRADE.json").exists());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let out = judge(
        root.path(),
        &[
            "run",
            "-n",
            "w",
            "--endpoint",
            &url,
            "--only",
            "backwards",
            "-q",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("connection refused"), "{out:?}");

    let out = judge(
        root.path(),
        &[
            "run",
            "-n",
            "k",
            "--endpoint",
            &url,
            "--api-key-env",
            "JUDGE_TEST_UNSET_VAR",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        text(&out.stderr).contains("JUDGE_TEST_UNSET_VAR is not set"),
        "{out:?}"
    );
}

#[test]
fn a_run_killed_half_way_resumes_with_only_the_missing_samples() {
    let root = tempfile::tempdir().unwrap();
    let first = MockServer::start(10, |i, _| match i {
        0 | 1 => Canned::reply(good_reply()),
        _ => Canned::Hang,
    });
    let url = first.url();
    let mut child = judge(
        root.path(),
        &[
            "run",
            "-n",
            "m",
            "--endpoint",
            &url,
            "--only",
            "backwards",
            "--samples",
            "4",
            "--concurrency",
            "1",
            "--seed",
            "7",
            "-q",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    assert!(
        first.wait_for_requests(3, Duration::from_secs(300)),
        "third request"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(transcript(root.path(), "m").exists());
    assert!(transcript(root.path(), "m@2").exists());
    assert!(
        !transcript(root.path(), "m@3").exists(),
        "killed while asking"
    );
    drop(first);

    let second = MockServer::start(10, |_, _| Canned::reply(good_reply()));
    let out = run(
        root.path(),
        &second,
        &["--samples", "4", "--concurrency", "1"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(second.requests().len(), 2, "only samples 3 and 4 are asked");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("tokens: 2 request(s) answered in this run, 2 sample(s) resumed"),
        "{stdout}"
    );
    for folder in ["m", "m@2", "m@3", "m@4"] {
        assert!(report(root.path(), folder).all_auto_passed(), "{folder}");
    }

    // --force asks again for every sample.
    let third = MockServer::start(10, |_, _| Canned::reply(good_reply()));
    let out = run(root.path(), &third, &["--samples", "4", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(third.requests().len(), 4);
}

#[test]
fn four_samples_two_correct_give_pass_at_1_half_and_pass_at_2_five_sixths() {
    let root = tempfile::tempdir().unwrap();
    let server = MockServer::start(10, |i, _| {
        if i % 2 == 0 {
            Canned::reply(good_reply())
        } else {
            Canned::reply(bad_reply())
        }
    });
    let out = run(
        root.path(),
        &server,
        &[
            "--samples",
            "4",
            "--concurrency",
            "1",
            "--temperature",
            "0.8",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "two samples fail: {out:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("| pass@1 | pass@2 |"), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| m | backwards | 4 | 2 |"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.ends_with(" 0.500 | 0.833 |"), "{row}");
    let body: serde_json::Value = serde_json::from_str(&server.requests()[0].body).unwrap();
    assert_eq!(body["temperature"], 0.8);

    // `judge report` over the same root shows the same table.
    let out = support::judge_command()
        .args(["report"])
        .arg(root.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out.stdout).contains(row), "{}", text(&out.stdout));
}

#[test]
fn reviews_land_in_their_block_and_leave_the_score_alone() {
    let root = tempfile::tempdir().unwrap();
    let server = MockServer::start(5, |_, _| Canned::reply(good_reply()));
    assert_eq!(run(root.path(), &server, &[]).status.code(), Some(0));
    let before = report(root.path(), "m");
    let manual: Vec<String> = before
        .criteria
        .iter()
        .filter(|r| r.criterion.kind == judge_core::CriterionKind::Manual)
        .map(|r| r.criterion.id.clone())
        .collect();
    assert_eq!(manual.len(), 3, "backwards has three manual criteria");

    // Criterion 1: a verdict at once. Criterion 2: prose, then a verdict (retried once).
    // Criterion 3 and on: prose twice, so unreviewed.
    let reviewer = MockServer::start(20, |i, _| match i {
        0 => Canned::reply(r#"{"verdict": "pass", "reasons": "Explains O(BTD) time."}"#),
        1 => Canned::reply("It looks fine to me."),
        2 => {
            Canned::reply("```json\n{\"verdict\": \"fail\", \"reasons\": \"No fusion plan.\"}\n```")
        }
        _ => Canned::reply("no idea"),
    });
    let url = reviewer.url();
    let path = root.path().join("m");
    let out = support::judge_command()
        .args(["review"])
        .arg(&path)
        .args(["--endpoint", &url, "-m", "reviewer-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("reviewed by reviewer-1: PASS"), "{stdout}");
    let asked = reviewer.requests();
    assert!(
        asked
            .iter()
            .all(|r| r.last_message().contains("layer_norm_backward")),
        "files included"
    );
    assert!(
        asked[0]
            .last_message()
            .contains(&format!("(criterion `{}`)", manual[0]))
    );

    let after = report(root.path(), "m");
    assert_eq!(after.score, before.score);
    assert_eq!(after.criteria, before.criteria, "verdicts untouched");
    assert_eq!(after.totals, before.totals);
    assert_eq!(after.reviews.len(), manual.len());
    assert_eq!(after.reviews[0].criterion, manual[0]);
    assert_eq!(after.reviews[0].verdict, ReviewVerdict::Pass);
    assert_eq!(after.reviews[0].reviewer, "reviewer-1");
    assert_eq!(after.reviews[0].prompt_tokens, 100);
    assert_eq!(after.reviews[1].verdict, ReviewVerdict::Fail);
    assert_eq!(after.reviews[1].prompt_tokens, 200, "two replies counted");
    if let Some(third) = after.reviews.get(2) {
        assert_eq!(third.verdict, ReviewVerdict::Unreviewed);
        assert!(
            third.reasons.contains("no valid verdict"),
            "{}",
            third.reasons
        );
    }

    // The matrix shows the review apart, with its reviewer.
    let out = support::judge_command()
        .args(["report"])
        .arg(root.path())
        .output()
        .unwrap();
    let md = text(&out.stdout);
    assert!(md.contains("reviewed by reviewer-1 | PASS"), "{md}");

    // Reviewed criteria are not asked again.
    let again = MockServer::start(5, |_, _| Canned::reply("unused"));
    let url = again.url();
    let out = support::judge_command()
        .args(["review"])
        .arg(&path)
        .args(["--endpoint", &url, "-m", "reviewer-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(again.requests().is_empty());

    // A report the judge did not sign (here: edited) is not reviewed, so never re-signed.
    let grade = root.path().join("m/backwards/GRADE.json");
    let mut edited = report(root.path(), "m");
    edited.reviews.clear();
    edited.notes.push("edited by hand".into());
    edited.write_atomic(&grade).unwrap();
    let out = support::judge_command()
        .args(["review"])
        .arg(&path)
        .args(["--endpoint", &url, "-m", "reviewer-1", "--force"])
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains("not reviewed"), "{out:?}");
    assert!(again.requests().is_empty());
    assert!(report(root.path(), "m").reviews.is_empty());
}

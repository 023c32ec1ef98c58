//! `judge grade` against GRADE.json files a submission controls: a forged report, a tampered
//! one, FIFOs, devices and sparse files under that name, planted temporary-file links, a
//! symlinked challenge folder, reports planted in subfolders. The submission used is one the
//! grader fails quickly (no contract function), so a surviving PASS can only be forged.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use judge_core::fingerprint::{combined_hash, hash_tree};
use judge_core::{ChallengeId, Report, ReportFile, session};
use support::{judge_command, key, prompt_sha256, put_unsigned, report, text};

/// Runs the judge, killing it (and failing) if it has not finished within `limit`.
fn judge_within(args: &[&str], limit: Duration) -> Output {
    let mut child = judge_command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the judge binary runs");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("judge {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn judge(args: &[&str]) -> Output {
    judge_within(args, Duration::from_secs(300))
}

/// MODEL/flash_attention/ with a submission that has no contract function.
fn failing_submission(root: &Path, model: &str) -> std::path::PathBuf {
    let dir = root.join(model).join("flash_attention");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("attn.py"), "def attention(q):\n    return q\n").unwrap();
    dir
}

fn passes(report: &Report) -> u32 {
    report.totals.auto.pass
}

#[test]
fn a_forged_or_tampered_report_in_the_submission_is_graded_again() {
    let root = tempfile::tempdir().unwrap();
    let dir = failing_submission(root.path(), "m");
    // Every criterion PASS, the fingerprint filled in from public data.
    let mut forged = report("m", ChallengeId::FlashAttention, true);
    forged.fingerprint.submission_sha256 = combined_hash(&hash_tree(&dir).unwrap());
    forged.fingerprint.seed = 5;
    put_unsigned(root.path(), "m/flash_attention", &forged);
    let grader = support::grader(ChallengeId::FlashAttention);
    let prompt = prompt_sha256(ChallengeId::FlashAttention);
    let wanted = session::fingerprint(grader.as_ref(), &prompt, Some(&dir), 5).unwrap();
    assert!(
        session::is_up_to_date(&forged, &wanted, true),
        "the forgery matches everything the fingerprint checks"
    );

    let args = ["grade", dir.to_str().unwrap(), "--seed", "5", "--json"];
    let out = judge(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("existing GRADE.json is not signed by this judge"),
        "{stderr}"
    );
    let printed: Vec<Report> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        passes(&printed[0]),
        0,
        "no contract function: nothing passes"
    );
    let written = Report::read(&dir.join("GRADE.json")).unwrap();
    assert_eq!(key().verify(&written), Ok(()));
    assert!(written.totals.auto.fail + written.totals.auto.error > 0);
    assert_ne!(written.criteria[0].verdict, forged.criteria[0].verdict);

    // Its own signed report is reused silently.
    let signed = fs::read_to_string(dir.join("GRADE.json")).unwrap();
    let out = judge(&args);
    assert!(
        !text(&out.stderr).contains("not signed"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fs::read_to_string(dir.join("GRADE.json")).unwrap(), signed);

    // Edited after signing: every verdict a PASS. Graded again, and said why.
    fs::write(
        dir.join("GRADE.json"),
        signed
            .replace("\"status\": \"fail\"", "\"status\": \"pass\"")
            .replace("\"status\": \"error\"", "\"status\": \"pass\""),
    )
    .unwrap();
    let out = judge(&args);
    assert!(
        text(&out.stderr).contains("signature does not match"),
        "{}",
        text(&out.stderr)
    );
    let regraded = Report::read(&dir.join("GRADE.json")).unwrap();
    assert_eq!(key().verify(&regraded), Ok(()));
    assert!(regraded.totals.auto.fail + regraded.totals.auto.error > 0);
}

#[test]
fn a_fifo_dev_zero_or_sparse_report_means_grade_again_and_never_blocks() {
    let root = tempfile::tempdir().unwrap();
    for model in ["fifo", "zero", "sparse"] {
        failing_submission(root.path(), model);
    }
    let fifo = root.path().join("fifo/flash_attention/GRADE.json");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    symlink(
        "/dev/zero",
        root.path().join("zero/flash_attention/GRADE.json"),
    )
    .unwrap();
    fs::File::create(root.path().join("sparse/flash_attention/GRADE.json"))
        .unwrap()
        .set_len(4 << 30)
        .unwrap();

    // Before, the FIFO blocked the judge forever and /dev/zero grew it until it was killed.
    let out = judge_within(
        &["grade", root.path().to_str().unwrap(), "--json", "--quiet"],
        Duration::from_secs(180),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    for reason in ["FIFO", "symbolic link", "over the limit"] {
        assert!(stderr.contains(reason), "{reason}: {stderr}");
    }
    let printed: Vec<Report> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed.len(), 3);
    for model in ["fifo", "zero", "sparse"] {
        let path = root.path().join(model).join("flash_attention/GRADE.json");
        assert!(
            fs::symlink_metadata(&path).unwrap().file_type().is_file(),
            "{model}"
        );
        assert_eq!(
            key().verify(&Report::read(&path).unwrap()),
            Ok(()),
            "{model}"
        );
    }
}

#[test]
fn planted_temporary_file_links_are_never_written_through() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("root-owned.txt");
    fs::write(&victim, "untouched").unwrap();
    let dir = failing_submission(root.path(), "m");
    // Every name the old writer could have picked for a pid below 512, and the report itself.
    for n in 0..512 {
        symlink(&victim, dir.join(format!(".GRADE.json.tmp-{n}"))).unwrap();
    }
    symlink(&victim, dir.join("GRADE.json")).unwrap();

    let out = judge(&["grade", dir.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
    let written = dir.join("GRADE.json");
    assert!(
        fs::symlink_metadata(&written)
            .unwrap()
            .file_type()
            .is_file()
    );
    assert_eq!(key().verify(&Report::read(&written).unwrap()), Ok(()));
    let links = fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_symlink())
        .count();
    assert_eq!(links, 512, "the planted links are left as they were");
}

#[test]
fn a_symlinked_challenge_folder_is_refused_with_the_reason() {
    let root = tempfile::tempdir().unwrap();
    let victim = failing_submission(root.path(), "victim");
    fs::create_dir_all(root.path().join("plagiarist")).unwrap();
    let link = root.path().join("plagiarist/flash_attention");
    symlink(&victim, &link).unwrap();

    let out = judge(&["grade", root.path().to_str().unwrap(), "--json", "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("plagiarist/flash_attention"), "{stderr}");
    assert!(stderr.contains("is a symbolic link"), "{stderr}");
    let printed: Vec<Report> = serde_json::from_slice(&out.stdout).unwrap();
    let models: Vec<_> = printed.iter().map(|r| r.model.clone().unwrap()).collect();
    assert_eq!(models, ["victim"]);
    let written = Report::read(&victim.join("GRADE.json")).unwrap();
    assert_eq!(written.model.as_deref(), Some("victim"));

    let out = judge(&["grade", link.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is a symbolic link"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn reports_planted_in_subfolders_are_neither_hashed_nor_trusted() {
    let root = tempfile::tempdir().unwrap();
    let dir = failing_submission(root.path(), "m");
    let args = ["grade", dir.to_str().unwrap(), "--seed", "5", "--quiet"];
    let out = judge(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let first = fs::read_to_string(dir.join("GRADE.json")).unwrap();

    // What a submission could plant to rewrite another model's cell.
    put_unsigned(&dir, "victim/kv", &report("victim", ChallengeId::Kv, false));
    let out = judge(&args);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        fs::read_to_string(dir.join("GRADE.json")).unwrap(),
        first,
        "unchanged submission hash: the report is reused"
    );
    let out = judge(&["report", root.path().to_str().unwrap(), "--format", "json"]);
    let matrix: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(matrix["models"], serde_json::json!(["m"]));
    assert_eq!(matrix["problems"][0]["kind"], "misplaced", "{matrix}");
}

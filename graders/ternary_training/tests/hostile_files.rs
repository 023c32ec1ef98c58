//! A submission's files are data the judge reads as root: none of them may make it read
//! outside the folder, block, or allocate without bound. Every hazard is built here at run
//! time (links, FIFOs, a decompression bomb), never committed. Its own test binary, so the
//! peak RSS read from /proc/self/status is this grading's alone.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use grader_ternary_training::TernaryTrainingGrader;
use grader_ternary_training::artifacts::{LATENT_WEIGHTS_FILE, PACKED_WEIGHTS_FILE, RESULTS_FILE};
use grader_ternary_training::corpus::TRAIN_DATA_FILE;
use judge_core::discover::SubmissionDir;
use judge_core::{GradeContext, session};

const SECRET: &str = "TOPSECRET first line of a root-only file";

fn fifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
}

/// An `.npz` of `bytes` zeros in one deflated entry: a few hundred kB on disk.
fn zip_bomb(path: &Path, bytes: usize) {
    let mut zip = zip::ZipWriter::new(fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("model.norm.weight.npy", options).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..bytes >> 20 {
        zip.write_all(&chunk).unwrap();
    }
    zip.finish().unwrap();
}

/// Peak resident memory of this process so far (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

#[test]
fn hostile_files_get_verdicts_without_reading_outside_blocking_or_unbounded_memory() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("shadow");
    fs::write(&secret, format!("{SECRET}\n")).unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();

    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ternary_training");
    fs::create_dir(&dir).unwrap();
    symlink(&secret, dir.join(TRAIN_DATA_FILE)).unwrap();
    // Each would block a reader forever if opened blocking.
    fifo(&dir.join(RESULTS_FILE));
    fifo(&dir.join("train.py"));
    symlink("/dev/zero", dir.join(PACKED_WEIGHTS_FILE)).unwrap();
    let bomb = dir.join(LATENT_WEIGHTS_FILE);
    zip_bomb(&bomb, 1 << 30);
    let bomb_size = fs::metadata(&bomb).unwrap().len();
    assert!(bomb_size < 8 << 20, "the bomb is small: {bomb_size} bytes");
    let before = peak_rss();

    let sub = SubmissionDir {
        model: Some("hostile".into()),
        challenge: judge_core::ChallengeId::TernaryTraining,
        dir: dir.clone(),
    };
    let report = session::grade_submission(
        &TernaryTrainingGrader,
        &sub,
        "test-prompt",
        &GradeContext::with_seed(1),
    );

    let evidence: Vec<String> = report
        .criteria
        .iter()
        .map(|r| {
            format!(
                "{} {}: {}",
                r.verdict.label(),
                r.criterion.id,
                r.verdict.detail()
            )
        })
        .collect();
    let all = evidence.join("\n");
    assert!(!all.contains("TOPSECRET"), "the secret leaked:\n{all}");
    assert!(!report.has_harness_fault(), "{all}");
    assert!(
        all.contains("train_data.txt is a symbolic link"),
        "the corpus link is refused with its reason:\n{all}"
    );
    assert!(
        all.contains("FIFO"),
        "the FIFO results.json is named:\n{all}"
    );
    assert!(all.contains("inflates to"), "the bomb is named:\n{all}");
    assert!(!report.all_auto_passed());
    let after = fs::metadata(&secret).unwrap();
    assert_eq!(
        after.len(),
        SECRET.len() as u64 + 1,
        "the outside file is unchanged"
    );

    // The bomb would hold 1 GiB inflated; the grading stays far below that.
    let grown = peak_rss().saturating_sub(before);
    assert!(grown < 256 << 20, "peak RSS grew by {grown} bytes");
}

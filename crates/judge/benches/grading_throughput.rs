//! Grading throughput on the bundled correct answers (`judge examples`, reference-solutions):
//! how much of a grade is the submission's own compute inside its calls and how much is the
//! harness's (worker start, sandbox copy, argument and result transfer, the reference's answers,
//! comparisons), and what `--jobs 2` gains over `--jobs 1`.
//!
//! ```text
//! cargo bench -p judge --bench grading_throughput [-- --seed N --repeats N]
//! ```
//!
//! The split is measured in this process: each challenge is graded through the same session
//! entry point `judge grade`'s cells use, and the worker's per-call `seconds` are summed by
//! [`judge_runner::CallTally`] (a process-wide tally; nothing in GRADE.json changes). The
//! `--jobs` comparison runs the real binary on the whole model folder, alternating `--jobs 1`
//! and `--jobs 2`, each into a fresh `--out` folder with `--force`; medians are reported with the
//! load average, since the machine is shared. fuse (CUDA) is left out: it needs a GPU and is not
//! a NumPy challenge.

// The registry is the one list of graders; the bench reads it rather than naming them again.
// Its own tests compile here without running (a bench has no test harness): hence the allow.
#[allow(unused_imports)]
#[path = "../src/registry.rs"]
mod registry;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use judge_core::discover::SubmissionDir;
use judge_core::{ChallengeId, CriterionKind, GradeContext, session};
use judge_runner::CallTally;

struct Options {
    seed: u64,
    repeats: usize,
}

fn options() -> Options {
    let mut o = Options {
        seed: 17,
        repeats: 2,
    };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        match (pair[0].as_str(), pair[1].parse::<u64>()) {
            ("--seed", Ok(v)) => o.seed = v,
            ("--repeats", Ok(v)) => o.repeats = (v as usize).max(1),
            _ => {}
        }
    }
    o
}

fn judge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_judge"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The NumPy challenges' folders of the example model, fuse removed from disk too so that the
/// binary grades the same set.
fn numpy_challenges(model: &Path) -> Vec<(ChallengeId, PathBuf)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(model)
        .expect("the example model folder")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(id) = name.parse::<ChallengeId>() else {
            continue;
        };
        if id == ChallengeId::Fuse {
            std::fs::remove_dir_all(entry.path()).expect("fuse folder removed");
        } else {
            found.push((id, entry.path()));
        }
    }
    found.sort_by_key(|(id, _)| id.as_str().to_string());
    found
}

/// Wall seconds of `judge grade MODEL --jobs N` into a fresh folder.
fn grade_wall(model: &Path, out: &Path, jobs: usize, seed: u64) -> f64 {
    let started = Instant::now();
    let status = judge()
        .arg("grade")
        .arg(model)
        .args(["--jobs", &jobs.to_string(), "--seed", &seed.to_string()])
        .args(["--force", "--quiet", "--out"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("judge grade runs");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        status.success() || status.code() == Some(1),
        "judge grade: {status}"
    );
    seconds
}

fn main() {
    let o = options();
    let root = tempfile::tempdir().expect("temporary folder");
    let status = judge()
        .arg("examples")
        .arg(root.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("judge examples runs");
    assert!(status.success(), "judge examples: {status}");
    let model = root.path().join("reference-solutions");
    let challenges = numpy_challenges(&model);

    println!(
        "grading throughput: {} NumPy challenges of reference-solutions, seed {}, load average {} at start",
        challenges.len(),
        o.seed,
        load_average()
    );
    println!(
        "| challenge | auto passed | calls | grade s | submission compute s | transfer s | self-test s | rest of harness s | harness / compute | slowest criterion s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let ctx = GradeContext::with_seed(o.seed);
    let (mut wall_sum, mut compute_sum, mut self_test_sum) = (0.0, 0.0, 0.0);
    for (id, dir) in &challenges {
        let grader = registry::grader(*id).expect("every table row has a grader");
        let submission = SubmissionDir {
            model: Some("reference-solutions".into()),
            challenge: *id,
            dir: dir.clone(),
        };
        let before = CallTally::now();
        let started = Instant::now();
        let report = session::grade_submission(grader.as_ref(), &submission, "bench", &ctx);
        let wall = started.elapsed().as_secs_f64();
        let calls = CallTally::now().since(&before);
        let transfer = calls.round_trip_seconds - calls.call_seconds;
        // The submission's own tests run as scripts, outside any call: neither its call compute
        // nor the harness's, so shown apart and left out of the ratio.
        let self_test: f64 = report
            .criteria
            .iter()
            .filter(|r| r.criterion.kind == CriterionKind::SelfTest)
            .map(|r| r.seconds)
            .sum();
        let harness = wall - calls.call_seconds - self_test;
        let slowest = report
            .criteria
            .iter()
            .max_by(|a, b| a.seconds.total_cmp(&b.seconds))
            .map(|r| format!("{} {:.2}", r.criterion.id, r.seconds))
            .unwrap_or_default();
        println!(
            "| {} | {}/{} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0}% | {} |",
            id.as_str(),
            report.totals.auto.pass,
            report.totals.auto.total,
            calls.calls,
            wall,
            calls.call_seconds,
            transfer,
            self_test,
            harness - transfer,
            100.0 * harness / calls.call_seconds,
            slowest
        );
        self_test_sum += self_test;
        wall_sum += wall;
        compute_sum += calls.call_seconds;
    }
    let harness_sum = wall_sum - compute_sum - self_test_sum;
    let overhead = harness_sum / compute_sum;
    println!(
        "| all | | | {wall_sum:.2} | {compute_sum:.2} | | {self_test_sum:.2} | {harness_sum:.2} (with transfer) | {:.0}% | |",
        100.0 * overhead
    );

    let (mut serial, mut parallel) = (Vec::new(), Vec::new());
    for repeat in 0..o.repeats {
        for (jobs, walls) in [(1, &mut serial), (2, &mut parallel)] {
            let out = root.path().join(format!("out-{repeat}-{jobs}"));
            walls.push(grade_wall(&model, &out, jobs, o.seed));
        }
    }
    println!(
        "\njudge grade (binary, whole folder), median of {}: --jobs 1 {:.2} s, --jobs 2 {:.2} s; load average {} at end",
        o.repeats,
        median(serial.clone()),
        median(parallel.clone()),
        load_average()
    );
    println!(
        "the binary's --jobs 1 beyond the in-process grades (cell processes, reports, discovery): {:.2} s",
        median(serial.clone()) - wall_sum
    );
    let speedup = median(serial) / median(parallel);
    println!(
        "SUMMARY|3 grading|harness / submission compute (in-process)|{:.2}|≤ 0.50",
        overhead
    );
    println!(
        "SUMMARY|3 grading|--jobs 1 / --jobs 2 wall (binary)|{speedup:.2}|≥ 1.7 on 2 idle cores"
    );
}

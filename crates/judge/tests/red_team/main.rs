//! The red-team suite (issue 12 §5), in the spirit of DOMjudge's sandbox-regression
//! submissions: one case per attack, each a hostile submission written at test time and graded
//! by the real `judge grade`, with the verdicts it must end in. A case passes only if
//! - the criteria its attack targets end FAIL or ERROR with the stated evidence, never PASS;
//! - `judge` exits 1 (a verdict against the submission), never 2 (a harness fault), and no
//!   criterion is a harness ERROR;
//! - afterwards the machine is clean ([`clean::leftovers`]) and the submission folder is
//!   unchanged.
//!
//! The sandbox's own hostile cases (fork loop, 50 GiB allocation, a gigabyte of output, a
//! loopback connection, writes outside the scratch copy, a setsid escapee, patched
//! tracemalloc/time/numpy, stopped tracemalloc, importing torch, a crash, a segfault) are the
//! eleven of `crates/judge-runner/tests/hostile.rs`, run against the worker directly; the
//! attacks on reports (a forged or tampered GRADE.json, planted reports, a symlinked folder)
//! are in `hostile_grade.rs` beside this suite.

mod attacks;
mod clean;
#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::Value as Json;

/// Cases run one at a time: each owns the machine while its leftovers are checked, and the
/// graders' memory cases should not compete for two cores.
static SERIAL: Mutex<()> = Mutex::new(());

const SEED: &str = "7";

/// What one criterion must end as.
struct Expect {
    criterion: &'static str,
    /// The labels allowed (`fail`, `error`); never `pass`.
    statuses: &'static [&'static str],
    /// A piece of its evidence.
    evidence: &'static str,
}

const fn expect(
    criterion: &'static str,
    statuses: &'static [&'static str],
    evidence: &'static str,
) -> Expect {
    Expect {
        criterion,
        statuses,
        evidence,
    }
}

const FAIL: &[&str] = &["fail"];
const ERROR: &[&str] = &["error"];

/// Grades `source` as `file` of a `challenge` submission and checks `expected` and the
/// machine afterwards.
fn attack(name: &str, challenge: &str, file: &str, source: &str, expected: &[Expect]) {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = tempfile::tempdir().expect("a temp folder");
    let dir = root.path().join("red-team").join(challenge);
    std::fs::create_dir_all(&dir).expect("the submission folder");
    std::fs::write(dir.join(file), source).expect("the submission file");
    let before = clean::snapshot(&dir);
    let reports = tempfile::tempdir().expect("a reports folder");

    let mut child = support::judge_command()
        .arg("grade")
        .arg(&dir)
        .args([
            "--seed",
            SEED,
            "--json",
            "--quiet",
            "--timeout",
            "240",
            "--out",
        ])
        .arg(reports.path())
        .env("JUDGE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("judge starts");
    let judge_pid = child.id();
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let (judges, sandboxed_seen) = watch_sandboxes(&mut child, judge_pid);
    let status = child.wait().expect("judge ends");
    let stdout = stdout.join().expect("stdout read");
    let stderr = String::from_utf8_lossy(&stderr.join().expect("stderr read")).into_owned();
    let report: Json = serde_json::from_slice::<Json>(&stdout)
        .ok()
        .and_then(|all| all.get(0).cloned())
        .unwrap_or_else(|| panic!("{name}: no JSON report; stderr:\n{stderr}"));
    let criteria = report["criteria"].as_array().expect("criteria");
    let table = describe(criteria);
    eprintln!(
        "{name}: score {} exit {:?}\n{table}",
        report["score"],
        status.code()
    );

    assert_eq!(
        status.code(),
        Some(1),
        "{name}: a verdict against the submission, not a harness fault\n{table}\n{stderr}"
    );
    for criterion in criteria {
        assert_ne!(
            criterion["verdict"]["fault"], "harness",
            "{name}: {} is a harness fault\n{table}",
            criterion["id"]
        );
    }
    for want in expected {
        let verdict = &criteria
            .iter()
            .find(|c| c["id"] == want.criterion)
            .unwrap_or_else(|| panic!("{name}: no criterion {}", want.criterion))["verdict"];
        let status = verdict["status"].as_str().unwrap_or("");
        let evidence = verdict["evidence"].as_str().unwrap_or("");
        assert!(
            want.statuses.contains(&status) && evidence.contains(want.evidence),
            "{name}: {} is {status} ({evidence}), expected {:?} with {:?}\n{table}",
            want.criterion,
            want.statuses,
            want.evidence
        );
    }

    assert!(
        sandboxed_seen,
        "{name}: no process of the expected sandbox uids was ever seen: the leftover check \
         would be vacuous"
    );
    let left: Vec<String> = judges
        .iter()
        .flat_map(|&pid| clean::leftovers(pid))
        .collect();
    assert!(
        left.is_empty(),
        "{name}: the machine is not clean: {left:#?}"
    );
    assert!(
        clean::snapshot(&dir) == before,
        "{name}: the submission folder changed"
    );
}

/// Reads a pipe to its end on a thread of its own, so the judge never blocks on a full pipe.
fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Polls until the judge exits. Returns the judge and every process it started (a grade cell
/// is a child judge, and sandbox uids follow the pid of the judge process that made them), and
/// whether a process of one of their sandbox uids was seen meanwhile.
fn watch_sandboxes(child: &mut std::process::Child, judge_pid: u32) -> (BTreeSet<u32>, bool) {
    let mut judges = BTreeSet::from([judge_pid]);
    let mut seen = false;
    while child.try_wait().expect("judge status").is_none() {
        judges.extend(clean::descendants(judge_pid));
        seen = seen
            || judges
                .iter()
                .any(|&pid| !clean::processes_of(clean::sandbox_uids(pid)).is_empty());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    (judges, seen)
}

fn describe(criteria: &[Json]) -> String {
    criteria
        .iter()
        .map(|c| {
            let evidence: String = c["verdict"]["evidence"]
                .as_str()
                .or(c["verdict"]["reason"].as_str())
                .unwrap_or("")
                .chars()
                .take(220)
                .collect();
            format!(
                "  {:<8} {:<30} {evidence}",
                c["verdict"]["status"].as_str().unwrap_or("?"),
                c["id"].as_str().unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn flash(name: &str, attack_source: &str, expected: &[Expect]) {
    let source = attacks::flash(attack_source);
    attack(
        name,
        "flash_attention",
        "flash_attention.py",
        &source,
        expected,
    );
}

/// The judge's own figure of the call's memory decides, whatever the worker reported.
const JUDGE_MEASURED_NXN: Expect = expect("no_nxn_traced", FAIL, "measured by the judge");

#[test]
fn a_forged_response_line_is_caught_by_the_judges_memory_figure_and_voids_the_session() {
    flash(
        "forged response line",
        attacks::FORGED_RESPONSE_LINE,
        &[
            JUDGE_MEASURED_NXN,
            expect(
                "matches_naive_causal",
                ERROR,
                "voided: the worker channel was tampered with",
            ),
        ],
    );
}

#[test]
fn resetting_the_tracemalloc_peak_hides_nothing() {
    flash(
        "tracemalloc.reset_peak",
        attacks::TRACEMALLOC_RESET,
        &[JUDGE_MEASURED_NXN],
    );
}

#[test]
fn scores_in_an_mmap_are_measured_by_the_judge() {
    flash(
        "N×N in an mmap",
        attacks::MMAP_SCORES,
        &[JUDGE_MEASURED_NXN],
    );
}

#[test]
fn rebinding_the_workers_own_functions_hides_nothing() {
    flash(
        "rebinds worker closures",
        attacks::REBINDS_WORKER,
        &[JUDGE_MEASURED_NXN],
    );
}

#[test]
fn fake_protocol_lines_on_every_fd_are_the_submissions_error() {
    flash(
        "fake lines on every fd",
        attacks::FD_SPRAY,
        &[
            expect(
                "matches_naive_causal",
                ERROR,
                "the worker channel was tampered with",
            ),
            expect("no_nxn_traced", ERROR, "tampered"),
        ],
    );
}

#[test]
fn an_over_long_response_line_is_the_submissions_error() {
    flash(
        "40 MiB response line",
        attacks::HUGE_LINE,
        &[expect(
            "matches_naive_causal",
            ERROR,
            "a response line longer than 16 MiB",
        )],
    );
}

#[test]
fn walking_gc_and_frames_finds_no_expected_answer() {
    flash(
        "gc / frame walk",
        attacks::GC_WALK,
        &[
            expect("matches_naive_causal", FAIL, "max rel err"),
            expect("no_nxn_traced", FAIL, "wrong output"),
        ],
    );
}

#[test]
fn lying_array_objects_are_judged_by_their_data() {
    flash(
        "lying ndarray subclass / pretender",
        attacks::LYING_ARRAYS,
        &[
            expect("matches_naive_causal", FAIL, "max rel err"),
            expect("float32_inputs", FAIL, "returned"),
        ],
    );
}

/// The target's forwards are counted by the judge, where the target runs.
const JUDGE_COUNTED_FORWARDS: Expect = expect(
    "one_forward_per_verification",
    FAIL,
    "3 calls on the target model, expected exactly 1",
);

#[test]
fn forwards_around_the_fixture_wrapper_are_counted() {
    let source = attacks::dflash_uncounted_forwards();
    attack(
        "uncounted target forwards",
        "dflash_verify",
        "dflash_verify.py",
        &source,
        &[JUDGE_COUNTED_FORWARDS],
    );
}

#[test]
fn rewinding_the_fixture_call_counter_changes_nothing() {
    let source = attacks::dflash_rewinds_counter();
    attack(
        "rewinds the call counter",
        "dflash_verify",
        "dflash_verify.py",
        &source,
        &[JUDGE_COUNTED_FORWARDS],
    );
}

#[test]
fn patching_the_kv_probe_is_caught_by_the_judges_memory_figure() {
    let source = attacks::kv_patches_probe();
    attack(
        "patched kv probe",
        "kv",
        "kv_cache.py",
        &source,
        &[
            // The probe's own figure is forged; the judge's decides.
            expect("memory_linear", FAIL, "holds 0.0 MiB"),
            expect("memory_linear", FAIL, "measured by the judge"),
        ],
    );
}

#[test]
fn a_buffer_made_at_import_counts_against_the_call() {
    flash(
        "N×N buffer allocated at import",
        attacks::PREALLOCATED_AT_IMPORT,
        &[JUDGE_MEASURED_NXN],
    );
}

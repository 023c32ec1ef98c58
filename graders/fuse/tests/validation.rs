//! The grader through its front door (`Challenge::grade_submission` / `grade_reference`, as
//! `judge grade` and `judge reference` call it), with the real nvcc when one is found
//! (`grader_fuse::find_nvcc`: PATH, CUDA_HOME, CUDA_PATH, /usr/local/cuda, the managed Python
//! environment — CI installs the CUDA wheels there with `judge setup --cuda`).
//!
//! - Without nvcc the compile criterion must be SKIPPED (never PASS); the tests say they skipped
//!   the compile assertions.
//! - Without a GPU the runtime criteria must be SKIPPED with the reason.
//! - With a GPU every fixture must fail exactly the criteria its bug breaks (the same lists
//!   tests/emulated.rs checks on the CPU emulator). `FUSE_REQUIRE_GPU=1` turns the GPU skips into
//!   failures (scripts/gpu-check.sh sets it).
//!
//! The fixtures that are a few-line edit of `correct` are mutations applied here (`mutations`).

mod mutations;

use fuse::cuda::GpuSession;
use grader_fuse::{FuseGrader, RUNTIME_CRITERIA, find_nvcc, ids};
use grader_testkit::{
    assert_all_auto_pass, assert_fails_exactly, describe, grade, grade_reference, status,
    submission, submission_from_dir,
};
use judge_core::Report;

const SEED: u64 = 20261127;

/// Every fixture with the auto criteria it fails on a GPU.
const FIXTURES: [(&str, &[&str]); 7] = [
    ("correct", &[]),
    (
        "warp_merge",
        &[
            ids::MATCHES_REFERENCE,
            ids::STABLE_EXTREMES,
            ids::FASTER_THAN_NAIVE,
        ],
    ),
    (
        "heap_update",
        &[
            ids::MATCHES_REFERENCE,
            ids::STABLE_EXTREMES,
            ids::FASTER_THAN_NAIVE,
        ],
    ),
    (
        "rescale_direction",
        &[
            ids::MATCHES_REFERENCE,
            ids::STABLE_EXTREMES,
            ids::NO_SOFTMAX_BUFFER,
            ids::FASTER_THAN_NAIVE,
        ],
    ),
    (
        "materialises_softmax",
        &[
            ids::STABLE_EXTREMES,
            ids::NO_SOFTMAX_BUFFER,
            ids::FASTER_THAN_NAIVE,
        ],
    ),
    ("does_not_compile", &ALL_AUTO),
    ("no_extern_c", &ALL_AUTO),
];

const ALL_AUTO: [&str; 5] = [
    ids::COMPILES,
    ids::MATCHES_REFERENCE,
    ids::STABLE_EXTREMES,
    ids::NO_SOFTMAX_BUFFER,
    ids::FASTER_THAN_NAIVE,
];

fn grade_fixture(name: &str) -> Report {
    let fixture = mutations::fixture(name);
    grade(
        &FuseGrader,
        &submission_from_dir("fuse", fixture.dir()),
        SEED,
    )
}

/// Whether a GPU is here; the reason it is skipped, or a panic under `FUSE_REQUIRE_GPU=1`.
fn gpu_present() -> bool {
    match GpuSession::open(0) {
        Ok(_) => true,
        Err(reason) => {
            assert!(
                std::env::var_os("FUSE_REQUIRE_GPU").is_none(),
                "FUSE_REQUIRE_GPU is set but: {reason}"
            );
            eprintln!("skipped the GPU assertions: {reason}");
            false
        }
    }
}

fn assert_runtime_skipped_for_no_gpu(report: &Report) {
    for id in RUNTIME_CRITERIA {
        let result = report
            .criteria
            .iter()
            .find(|r| r.criterion.id == id)
            .expect("declared");
        assert_eq!(
            result.verdict.label(),
            "SKIPPED",
            "{id}\n{}",
            describe(report)
        );
        assert!(
            result.verdict.detail().contains("no NVIDIA driver/GPU"),
            "{id}\n{}",
            describe(report)
        );
    }
}

#[test]
fn the_compile_criterion_passes_every_fixture_but_the_two_that_do_not_build() {
    let nvcc = find_nvcc();
    if nvcc.is_none() {
        grader_testkit::skip_unless_required(
            "nvcc",
            "the compile assertions are skipped (`judge setup --cuda` installs one)",
        );
    }
    let gpu = gpu_present();
    for (name, _) in &FIXTURES {
        let report = grade_fixture(name);
        let compiles = status(&report, ids::COMPILES);
        match (&nvcc, *name) {
            (None, _) => assert_eq!(compiles, "SKIPPED", "{name}\n{}", describe(&report)),
            (Some(_), "does_not_compile") => {
                assert_eq!(compiles, "FAIL", "{}", describe(&report));
                let evidence = evidence(&report, ids::COMPILES);
                assert!(evidence.contains("__shfl_xor"), "{evidence}");
            }
            (Some(_), "no_extern_c") => {
                assert_eq!(compiles, "FAIL", "{}", describe(&report));
                assert!(evidence(&report, ids::COMPILES).contains("extern \"C\""));
            }
            (Some(_), _) => assert_eq!(compiles, "PASS", "{name}\n{}", describe(&report)),
        }
        if !gpu {
            assert_runtime_skipped_for_no_gpu(&report);
        }
        for manual in [
            ids::EXPLAINS_ACCESS_PATTERN,
            ids::EXPLAINS_WARP_STRATEGY,
            ids::COMPLEXITY_ANALYSIS,
            ids::COMPARES_TO_NAIVE,
        ] {
            assert_eq!(status(&report, manual), "SKIPPED");
        }
    }
}

fn evidence(report: &Report, id: &str) -> String {
    report
        .criteria
        .iter()
        .find(|r| r.criterion.id == id)
        .map(|r| r.verdict.detail().to_string())
        .unwrap_or_default()
}

#[test]
fn the_reference_compiles_and_on_a_gpu_passes_everything() {
    let report = grade_reference(&FuseGrader, SEED);
    match find_nvcc() {
        Some(_) => assert_eq!(
            status(&report, ids::COMPILES),
            "PASS",
            "{}",
            describe(&report)
        ),
        None => {
            grader_testkit::skip_unless_required("nvcc", "the compile assertion is skipped");
            assert_eq!(status(&report, ids::COMPILES), "SKIPPED");
        }
    }
    if gpu_present() && find_nvcc().is_some() {
        assert_all_auto_pass(&report);
    } else if !gpu_present() {
        assert_runtime_skipped_for_no_gpu(&report);
    }
}

#[test]
fn on_a_gpu_every_fixture_fails_exactly_the_criteria_its_bug_breaks() {
    if !gpu_present() {
        return;
    }
    assert!(
        find_nvcc().is_some(),
        "a GPU but no nvcc: the runtime criteria cannot run"
    );
    for (name, failing) in &FIXTURES {
        let report = grade_fixture(name);
        eprintln!("{name}:\n{}", describe(&report));
        if failing.is_empty() {
            assert_all_auto_pass(&report);
        } else {
            assert_fails_exactly(&report, failing);
        }
    }
}

#[test]
fn a_submission_without_a_cu_file_is_an_error_naming_the_entry_point() {
    let sub = submission("fuse", &[("kernel.py", "print('no CUDA here')\n")]);
    let report = grade(&FuseGrader, &sub, SEED);
    for id in ALL_AUTO {
        assert_eq!(status(&report, id), "ERROR", "{}", describe(&report));
        assert!(evidence(&report, id).contains("fused_softmax_topk"));
    }
}

/// The GPU build of fuse-runner and the naive baseline, made with the real nvcc on any machine:
/// the baseline's allocations go to the runner's counters, and the runner starts inside the
/// sandbox with the toolkit's libcudart — on a machine without a driver it gets as far as asking
/// the runtime for a stream.
#[test]
fn the_gpu_runner_builds_with_nvcc_and_starts_in_the_sandbox() {
    let Some(nvcc) = find_nvcc() else {
        grader_testkit::skip_unless_required("nvcc", "the GPU runner is not built");
        return;
    };
    let toolkit = grader_fuse::CudaToolkit::from_nvcc(&nvcc).expect("a toolkit layout");
    let sandbox = judge_runner::Sandbox::new(None).expect("a sandbox");
    let build = grader_fuse::compile::build_runner(
        &toolkit,
        "sm_90",
        &sandbox.root_dir().join("judge-build"),
    )
    .expect("it builds");
    let naive = std::fs::read(&build.naive_library).expect("the naive library");
    let runner = std::fs::read(&build.runner).expect("the runner");
    let contains =
        |bytes: &[u8], text: &str| bytes.windows(text.len()).any(|w| w == text.as_bytes());
    assert!(
        contains(&naive, "__wrap_cudaMallocAsync"),
        "the naive baseline's allocations are not wrapped"
    );
    assert!(
        contains(&runner, "__wrap_cudaMallocAsync"),
        "the runner does not export its counters"
    );

    let case = grader_fuse::HiddenCases::small(SEED).correctness.remove(0);
    let output = grader_fuse::run_job(&build, &sandbox, &build.naive_library, "start", &[&case])
        .expect("the job runs");
    // The naive library has no `fused_softmax_topk`: on a GPU the runner gets as far as that.
    let reason = match &output.load_failure {
        Some(load) => load.error.clone(),
        None => output.stop_reason(),
    };
    eprintln!("the runner stopped: {reason}");
    if gpu_present() {
        assert!(
            reason.contains("fused_softmax_topk is not exported"),
            "{reason}"
        );
    } else {
        assert!(reason.contains("creating a stream"), "{reason}");
    }
}

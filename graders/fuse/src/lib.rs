//! Grader for `fuse`: a CUDA fused softmax + top-k, graded as a C entry point.
//!
//! A submission is one `.cu` file exporting
//! `extern "C" int fused_softmax_topk(const float* logits, int rows, int vocab, int k,
//! int* top_idx, float* top_prob, cudaStream_t stream)` (prompts/fuse.interface.md).
//!
//! - `compiles` needs only nvcc, so it is decided on CPU-only machines too: nvcc builds the file
//!   into a shared library inside the sandbox (its preprocessor and host compiler run there).
//! - The runtime criteria need an NVIDIA GPU; without one they are SKIPPED with the reason, never
//!   passed. With one, the submission's library is loaded by `fuse-runner` ([`runner`]), a small
//!   C++ program the judge compiles with nvcc and starts in the sandbox with the GPU's device
//!   nodes: the submission's code never runs in the judge process. The runner counts the
//!   submission's runtime-API allocations (the library is linked with `--wrap` for each
//!   allocation function) and writes the outputs back; the comparisons happen here, against the
//!   reference's CPU algorithm. Speed is measured by the judge ([`speed`]): the submission's
//!   process and a baseline process that never loads it answer one timed request at a time.
//!
//! `judge reference fuse` runs the same criteria on the reference's kernel
//! (`reference/fuse/cuda/fused_softmax_topk_host.cu`), built and run the same way.

#![warn(missing_docs)]

pub mod cases;
pub mod checks;
pub mod compile;
pub mod gpu_lock;
pub mod memory;
pub mod runner;
pub mod speed;
pub mod toolchain;

use std::path::{Path, PathBuf};

use fuse::cuda::{CudaError, GpuSession};
use judge_core::{
    Challenge, ChallengeId, Criterion, CriterionKind, GradeContext, Graded, Scorecard, Verdict,
};
use judge_runner::Sandbox;

pub use cases::HiddenCases;
pub use compile::{COMPILE_CHECK_ARCH, CompileFailure, compile_submission, entry_candidates};
pub use memory::DeviceMemory;
pub use runner::{RunnerBuild, run_job};
pub use speed::TimingSetup;
pub use toolchain::{CUDA_WHEELS, CudaToolkit, find_nvcc, install_cuda_toolchain};

/// Criterion ids, shared by the checks and the validation tests.
pub mod ids {
    /// nvcc builds the `.cu` file, in the sandbox, into a shared library exporting
    /// `fused_softmax_topk`: "CUDA-like pseudocode" does not count. Decided without a GPU.
    pub const COMPILES: &str = "compiles";
    /// Indices exact and probabilities within 1e-6 + 1e-4·p of the CPU reference, for
    /// vocabularies 1000 to 151936 (the prompt's "large V"), k of 1, 8 and 50, and row counts
    /// no block size divides (weight 2).
    pub const MATCHES_REFERENCE: &str = "matches_reference";
    /// Rows of 95% −inf, all −inf, all equal, ±1e4, ascending, descending and ±0: the
    /// prompt's log-sum-exp stability, where exp without the row max overflows and an all −inf
    /// row gives NaN.
    pub const STABLE_EXTREMES: &str = "stable_extremes";
    /// During a call on an 8192 × 151936 input, device memory stays under 1/8 of the softmax
    /// matrix, enforced by the driver under a judge-held reservation and by the runner's
    /// allocation counters: the prompt's "do NOT materialize the full softmax".
    pub const NO_SOFTMAX_BUFFER: &str = "no_softmax_buffer";
    /// At least 1.5× faster than the naive softmax-to-global-then-top-k, timed by the judge
    /// on fresh logits with the L2 flushed, and with right outputs on every repetition.
    pub const FASTER_THAN_NAIVE: &str = "faster_than_naive";
    /// Manual: the memory access pattern explanation (coalescing, one read of the logits).
    pub const EXPLAINS_ACCESS_PATTERN: &str = "explains_access_pattern";
    /// Manual: the warp-level strategy (shuffles, merging (m, l) and partial top-k lists).
    pub const EXPLAINS_WARP_STRATEGY: &str = "explains_warp_strategy";
    /// Manual: the complexity analysis, bandwidth- against compute-bound.
    pub const COMPLEXITY_ANALYSIS: &str = "complexity_analysis";
    /// Manual: the comparison with the naive implementation (global traffic, memory).
    pub const COMPARES_TO_NAIVE: &str = "compares_to_naive";
}

/// The runtime criteria: decided on a GPU only.
pub const RUNTIME_CRITERIA: [&str; 4] = [
    ids::MATCHES_REFERENCE,
    ids::STABLE_EXTREMES,
    ids::NO_SOFTMAX_BUFFER,
    ids::FASTER_THAN_NAIVE,
];

/// The `fuse` grader.
#[derive(Debug, Default)]
pub struct FuseGrader;

impl Challenge for FuseGrader {
    fn id(&self) -> ChallengeId {
        ChallengeId::Fuse
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn criteria(&self) -> Vec<Criterion> {
        use ids::*;
        vec![
            Criterion::auto(
                COMPILES,
                "nvcc builds it into a shared library exporting fused_softmax_topk (sm_90)",
            ),
            Criterion::auto(
                MATCHES_REFERENCE,
                "indices exact, probabilities within 1e-6 + 1e-4·p (V 1000–151936, k 1–50, odd rows)",
            )
            .with_weight(2),
            Criterion::auto(
                STABLE_EXTREMES,
                "right with −inf, all −inf, equal, ±1e4, monotone and ±0 rows",
            ),
            Criterion::auto(
                NO_SOFTMAX_BUFFER,
                "allocates < 1/8 of rows×V×4 bytes of device memory (runtime-API allocations counted)",
            ),
            Criterion::auto(
                FASTER_THAN_NAIVE,
                "≥ 1.5× faster than softmax-to-global-then-top-k, with right outputs",
            ),
            Criterion::manual(
                EXPLAINS_ACCESS_PATTERN,
                "explains the memory access pattern (coalescing, one read of the logits)",
            ),
            Criterion::manual(
                EXPLAINS_WARP_STRATEGY,
                "explains the warp-level strategy (shuffles, merges of (m, l) and top-k)",
            ),
            Criterion::manual(
                COMPLEXITY_ANALYSIS,
                "complexity analysis: bandwidth- vs compute-bound",
            ),
            Criterion::manual(
                COMPARES_TO_NAIVE,
                "compares with the naive implementation (traffic, memory)",
            ),
        ]
    }

    fn grade_reference(&self, ctx: &GradeContext) -> Graded {
        let sources = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(e) => return harness_failure(&self.criteria(), format!("a temporary folder: {e}")),
        };
        if let Err(e) = fuse::cuda::source::write_sources(sources.path()) {
            return harness_failure(
                &self.criteria(),
                format!("writing the reference sources: {e}"),
            );
        }
        let entry = PathBuf::from(fuse::cuda::HostEntry::Fused.file_name());
        let mut graded = grade_cuda(&self.criteria(), sources.path(), Some(entry), ctx);
        graded.entry = Some(format!(
            "reference/fuse/cuda/{}",
            fuse::cuda::HostEntry::Fused.file_name()
        ));
        graded
    }

    fn grade_submission(&self, dir: &Path, ctx: &GradeContext) -> Graded {
        grade_cuda(&self.criteria(), dir, None, ctx)
    }
}

/// Every criterion ERROR with `reason`, the harness's fault.
fn harness_failure(criteria: &[Criterion], reason: String) -> Graded {
    let mut card = Scorecard::new(criteria);
    card.decide_remaining(None, &Verdict::harness_error(reason));
    Graded {
        results: card.finish("unused"),
        ..Graded::default()
    }
}

/// The GPU the runtime criteria run on: its target architecture, name, L2 cache size and the
/// judge's own session on it (for the device-memory hold), or why there is none.
fn open_gpu() -> Result<(String, String, u64, GpuSession), String> {
    match GpuSession::open(0) {
        Ok(session) => {
            let capability = session.compute_capability().map_err(|e| e.to_string())?;
            let name = session.device_name().unwrap_or_else(|_| "GPU 0".into());
            let l2 = session.l2_cache_bytes().map_err(|e| e.to_string())?;
            Ok((capability.real_arch(), name, l2, session))
        }
        Err(CudaError::GpuUnavailable { reason }) => Err(reason),
        Err(other) => Err(other.to_string()),
    }
}

/// Grades the `.cu` entry of `dir` (`entry`, or the discovered one).
fn grade_cuda(
    criteria: &[Criterion],
    dir: &Path,
    entry: Option<PathBuf>,
    ctx: &GradeContext,
) -> Graded {
    let mut card = Scorecard::new(criteria);
    let mut graded = Graded::default();
    card.decide_remaining(
        Some(CriterionKind::Manual),
        &Verdict::skipped("manual: needs review"),
    );
    let Some(source) = entry.or_else(|| {
        entry_candidates(dir)
            .first()
            .and_then(|p| p.file_name())
            .map(PathBuf::from)
    }) else {
        card.decide_remaining(
            Some(CriterionKind::Auto),
            &Verdict::error("missing: no .cu file in the submission defines `fused_softmax_topk`"),
        );
        graded.results = card.finish("unused");
        return graded;
    };
    graded.entry = Some(source.display().to_string());

    let gpu = open_gpu();
    graded.environment.insert(
        "gpu".into(),
        match &gpu {
            Ok((arch, name, l2, _)) => format!("{name} ({arch}, L2 {l2} B)"),
            Err(reason) => format!("none: {reason}"),
        },
    );
    let no_gpu = |reason: &str| Verdict::skipped(format!("no NVIDIA driver/GPU: {reason}"));

    let toolkit = match find_nvcc().map(|nvcc| CudaToolkit::from_nvcc(&nvcc)) {
        Some(Ok(toolkit)) => toolkit,
        found => {
            let verdict = match found {
                Some(Err(e)) => Verdict::harness_error(format!("nvcc is unusable: {e}")),
                _ => Verdict::skipped(
                    "no nvcc (looked on PATH, in $CUDA_HOME, $CUDA_PATH, /usr/local/cuda and the managed Python environment; `judge setup --cuda` installs one)",
                ),
            };
            card.record(ids::COMPILES, verdict.clone(), 0.0);
            let runtime = match &gpu {
                Err(reason) => no_gpu(reason),
                Ok(_) => verdict,
            };
            card.decide_remaining(Some(CriterionKind::Auto), &runtime);
            graded.results = card.finish("unused");
            return graded;
        }
    };
    graded
        .environment
        .insert("nvcc".into(), toolkit.nvcc.display().to_string());

    let sandbox = match Sandbox::new(Some(dir)) {
        Ok(sandbox) => sandbox,
        Err(e) => return harness_failure(criteria, format!("sandbox: {e}")),
    };
    let link_dir = match toolkit.link_dir(&sandbox.root_dir().join("cudart-link")) {
        Ok(dir) => dir,
        Err(e) => return harness_failure(criteria, e.to_string()),
    };
    let mut compiled = None;
    card.check(ids::COMPILES, || {
        match compile_submission(&toolkit, &link_dir, &sandbox, &source, COMPILE_CHECK_ARCH) {
            Ok(library) => {
                let verdict =
                    Verdict::pass(format!("{}: exports fused_softmax_topk", library.command));
                compiled = Some(Ok(library));
                verdict
            }
            Err(CompileFailure::Rejected(why)) => {
                compiled = Some(Err(()));
                Verdict::fail(why)
            }
            Err(CompileFailure::Harness(why)) => Verdict::harness_error(why),
        }
    });

    match (&gpu, compiled) {
        (Err(reason), _) => card.decide_remaining(Some(CriterionKind::Auto), &no_gpu(reason)),
        (Ok(_), Some(Err(()))) => card.decide_remaining(
            Some(CriterionKind::Auto),
            &Verdict::fail("it does not compile, so it cannot run"),
        ),
        (Ok(_), None) => card.decide_remaining(
            Some(CriterionKind::Auto),
            &Verdict::harness_error("nvcc could not be run"),
        ),
        (Ok((arch, _, l2, session)), Some(Ok(check_build))) => {
            let library = if arch == COMPILE_CHECK_ARCH {
                Ok(check_build.library)
            } else {
                compile_submission(&toolkit, &link_dir, &sandbox, &source, arch)
                    .map(|built| built.library)
                    .map_err(|failure| match failure {
                        CompileFailure::Rejected(why) => {
                            Verdict::fail(format!("it does not compile for {arch}: {why}"))
                        }
                        CompileFailure::Harness(why) => Verdict::harness_error(why),
                    })
            };
            let build =
                compile::build_runner(&toolkit, arch, &sandbox.root_dir().join("judge-build"))
                    .map_err(|why| Verdict::harness_error(format!("building fuse-runner: {why}")));
            match library.and_then(|library| build.map(|build| (library, build))) {
                Ok((library, build)) => decide_runtime(
                    &mut card,
                    &build,
                    &sandbox,
                    &library,
                    &HiddenCases::for_gpu(ctx.seed),
                    &TimingSetup::for_gpu(*l2),
                    Some(session),
                ),
                Err(verdict) => card.decide_remaining(Some(CriterionKind::Auto), &verdict),
            }
        }
    }
    graded.results = card.finish("the grader did not reach it");
    graded
}

/// Decides the runtime criteria: `library` (readable inside `sandbox`) run by `build`'s runner
/// on `cases`, one runner process per criterion so that a crash costs only its own criterion;
/// speed per [`speed::faster_than_naive`] with `timing`, memory per
/// [`memory::no_softmax_buffer`] with the judge's `device` (None: counters only). One grading
/// at a time per machine ([`gpu_lock`]). Public so that the plumbing can be tested with a
/// runner built for the CPU.
pub fn decide_runtime(
    card: &mut Scorecard,
    build: &RunnerBuild,
    sandbox: &Sandbox,
    library: &Path,
    cases: &HiddenCases,
    timing: &TimingSetup,
    device: Option<&dyn DeviceMemory>,
) {
    let lock = gpu_lock::GpuLock::acquire();
    let run = |label: &str, cases: &[&cases::Case]| {
        run_job(build, sandbox, library, label, cases)
            .map_err(|e| Verdict::harness_error(e.to_string()))
    };
    for (id, suite) in [
        (ids::MATCHES_REFERENCE, &cases.correctness),
        (ids::STABLE_EXTREMES, &cases.stability),
    ] {
        card.check(id, || {
            let listed: Vec<&cases::Case> = suite.iter().collect();
            run(id, &listed).map_or_else(|v| v, |out| checks::matches_reference(&out, suite))
        });
    }
    card.check(ids::NO_SOFTMAX_BUFFER, || {
        let verdict = memory::no_softmax_buffer(build, sandbox, library, &cases.memory, device);
        gpu_lock::noted(verdict, &lock)
    });
    card.check(ids::FASTER_THAN_NAIVE, || {
        let verdict = speed::faster_than_naive(build, sandbox, library, &cases.speed, timing);
        gpu_lock::noted(verdict, &lock)
    });
}

//! The runtime criteria on a CPU: every fixture's kernel built as host C++ and run by the CPU
//! build of fuse-runner inside the sandbox (see `support`). Sizes are `HiddenCases::small`; the
//! verdicts are the ones a GPU grading must give at full size (tests/validation.rs asserts them
//! there), except the timing itself: CPU threads say nothing about a GPU, so for the correct and
//! the materialising kernels speed is only checked to have been measured.

mod mutations;
mod support;

use std::path::Path;

use grader_fuse::{FuseGrader, HiddenCases, RUNTIME_CRITERIA, decide_runtime, ids};
use judge_core::{Challenge, CriterionResult, Scorecard};
use judge_runner::Sandbox;

const SEED: u64 = 20261127;

fn describe(results: &[CriterionResult]) -> String {
    results
        .iter()
        .filter(|r| RUNTIME_CRITERIA.contains(&r.criterion.id.as_str()))
        .map(|r| {
            format!(
                "  {:<8} {:<20} {}",
                r.verdict.label(),
                r.criterion.id,
                r.verdict.detail()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn verdict<'a>(results: &'a [CriterionResult], id: &str) -> &'a CriterionResult {
    results
        .iter()
        .find(|r| r.criterion.id == id)
        .expect("declared criterion")
}

/// The runtime criteria of `library` (built from a `.cu`) on the small hidden cases.
fn grade_runtime(runner: &support::CpuRunner, cu: &Path, name: &str) -> Vec<CriterionResult> {
    let library = runner
        .emulated_library(cu, name)
        .unwrap_or_else(|e| panic!("building {name} for the CPU: {e}"));
    let sandbox = Sandbox::new(None).expect("a sandbox");
    let mut card = Scorecard::new(&FuseGrader.criteria());
    decide_runtime(
        &mut card,
        &runner.build,
        &sandbox,
        &library,
        &HiddenCases::small(SEED),
        &support::CPU_TIMING,
        None,
    );
    card.finish("not decided")
}

/// Asserts the runtime criteria in `failing` FAIL and the others PASS; `faster_than_naive` is
/// asserted only when listed (a wrong kernel's speed is refused whatever the clock says).
fn assert_runtime(results: &[CriterionResult], failing: &[&str], evidence: &[(&str, &str)]) {
    let table = describe(results);
    for id in RUNTIME_CRITERIA {
        let status = verdict(results, id).verdict.label();
        if failing.contains(&id) {
            assert_eq!(status, "FAIL", "{id} should FAIL\n{table}");
        } else if id == ids::FASTER_THAN_NAIVE {
            let detail = verdict(results, id).verdict.detail();
            assert!(
                matches!(status, "PASS" | "FAIL") && detail.contains("vs naive"),
                "speed not measured\n{table}"
            );
        } else {
            assert_eq!(status, "PASS", "{id} should PASS\n{table}");
        }
    }
    for (id, words) in evidence {
        let detail = verdict(results, id).verdict.detail();
        assert!(
            detail.contains(words),
            "{id} evidence should name {words:?}\n{table}"
        );
    }
}

fn cpu_runner_or_skip() -> Option<support::CpuRunner> {
    match support::cpu_runner() {
        Ok(runner) => Some(runner),
        Err(reason) => {
            grader_testkit::skip_unless_required(
                "g++",
                &format!("cannot build the CPU runner: {reason}"),
            );
            None
        }
    }
}

/// A fixture, the runtime criteria it fails, and (criterion, words its evidence must contain).
type Expectation = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

#[test]
fn every_fixture_fails_exactly_the_criteria_its_bug_breaks() {
    let Some(runner) = cpu_runner_or_skip() else {
        return;
    };
    const WRONG: &str = "timed outputs are wrong";
    let cases: [Expectation; 5] = [
        ("correct", &[], &[(ids::NO_SOFTMAX_BUFFER, "peak 0 B")]),
        (
            "warp_merge",
            &[
                ids::MATCHES_REFERENCE,
                ids::STABLE_EXTREMES,
                ids::FASTER_THAN_NAIVE,
            ],
            &[
                (ids::MATCHES_REFERENCE, "expected index"),
                (ids::FASTER_THAN_NAIVE, WRONG),
            ],
        ),
        (
            "heap_update",
            &[
                ids::MATCHES_REFERENCE,
                ids::STABLE_EXTREMES,
                ids::FASTER_THAN_NAIVE,
            ],
            &[
                (ids::MATCHES_REFERENCE, "k=8"),
                (ids::FASTER_THAN_NAIVE, WRONG),
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
            &[
                (ids::MATCHES_REFERENCE, "non-finite"),
                (ids::NO_SOFTMAX_BUFFER, "not a top-k"),
            ],
        ),
        (
            "materialises_softmax",
            &[
                ids::STABLE_EXTREMES,
                ids::NO_SOFTMAX_BUFFER,
                ids::FASTER_THAN_NAIVE,
            ],
            &[
                (ids::NO_SOFTMAX_BUFFER, "peak 20000 B"),
                (ids::STABLE_EXTREMES, "p = 0e0"),
            ],
        ),
    ];
    for (name, failing, evidence) in cases {
        let fixture = mutations::fixture(name);
        let results = grade_runtime(&runner, &fixture.kernel(), name);
        eprintln!("{name}:\n{}", describe(&results));
        // On the CPU the materialising kernel is as slow as the naive one it is.
        let failing: Vec<&str> = failing
            .iter()
            .copied()
            .filter(|id| !(name == "materialises_softmax" && *id == ids::FASTER_THAN_NAIVE))
            .collect();
        assert_runtime(&results, &failing, evidence);
    }
}

#[test]
fn null_kernels_pass_nothing_and_a_crash_is_an_error_naming_the_signal() {
    let Some(runner) = cpu_runner_or_skip() else {
        return;
    };
    let signature = "extern \"C\" int fused_softmax_topk(const float* logits, int rows, int vocab, int k, int* top_idx, float* top_prob, cudaStream_t stream)";
    let scratch = tempfile::tempdir().expect("temp dir");
    let nulls = [
        (
            "returns_error",
            "{ return 1; }",
            "FAIL",
            "returned cudaErrorInvalidValue",
        ),
        (
            "writes_nothing",
            "{ return 0; }",
            "FAIL",
            "non-finite probability NaN",
        ),
        (
            "writes_zeros",
            "{ for (long i = 0; i < (long)rows * k; ++i) { top_idx[i] = 0; top_prob[i] = 0.0f; } return 0; }",
            "FAIL",
            "expected index",
        ),
        (
            "crashes",
            "{ *(volatile int*)nullptr = 0; return 0; }",
            "ERROR",
            "SIGSEGV",
        ),
    ];
    for (name, body, status, words) in nulls {
        let cu = scratch.path().join(format!("{name}.cu"));
        std::fs::write(
            &cu,
            format!("#include <cuda_runtime.h>\n{signature} {body}\n"),
        )
        .expect("write");
        let results = grade_runtime(&runner, &cu, name);
        let table = describe(&results);
        for id in [ids::MATCHES_REFERENCE, ids::STABLE_EXTREMES] {
            let found = &verdict(&results, id).verdict;
            assert_eq!(found.label(), status, "{name}: {id}\n{table}");
            assert!(
                found.detail().contains(words),
                "{name}: {id} should say {words:?}\n{table}"
            );
        }
        for id in RUNTIME_CRITERIA {
            assert!(
                !verdict(&results, id).verdict.is_pass(),
                "{name} passed {id}\n{table}"
            );
        }
    }
}

#[test]
fn the_emulation_rewrites_launches_and_the_runtime_include() {
    let source = "#include <cuda_runtime.h>\nvoid f(int r, cudaStream_t s) { k<<<r, 64, 0, s>>>(a, g(b, c)); m <<< 2, 32 >>> (); }\n";
    let host = support::emulate_source(source).expect("rewritable");
    assert!(host.contains("#include \"kernels_on_cpu.h\""), "{host}");
    assert!(
        host.contains("launch_on_cpu([&] { k(a, g(b, c)); }, r, 64, 0, s);"),
        "{host}"
    );
    assert!(
        host.contains("launch_on_cpu([&] { m(); }, 2, 32);"),
        "{host}"
    );
}

/// A submission that computes the right answer but takes over the runner's timing pipes from
/// its library's constructor — a man in the middle between the runner and the judge — and
/// rewrites every timing reply's CUDA-event time to `forged_ms`.
fn pipe_forger(forged_ms: &str) -> String {
    let honest = std::fs::read_to_string(mutations::fixture("correct").kernel())
        .expect("the correct fixture")
        .replace("fused_softmax_topk(", "honest_softmax_topk(");
    let forger = r#"
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string>
#include <vector>

static int judge_requests, judge_replies, runner_requests, runner_replies;

static void* forward_requests(void*) {
    char buffer[4096];
    for (ssize_t n; (n = read(judge_requests, buffer, sizeof buffer)) > 0;) {
        if (write(runner_requests, buffer, n) != n) break;
    }
    close(runner_requests);
    return nullptr;
}

static void* forge_replies(void*) {
    for (;;) {
        std::string line;
        char c;
        while (read(runner_replies, &c, 1) == 1 && c != '\n') line += c;
        if (line.empty()) return nullptr;
        std::vector<std::string> fields;
        for (size_t at = 0; at <= line.size();) {
            size_t space = line.find(' ', at);
            if (space == std::string::npos) space = line.size();
            fields.push_back(line.substr(at, space - at));
            at = space + 1;
        }
        size_t payload = 0;
        if (fields[0] == "rep" && fields.size() == 10) {
            fields[6] = "FORGED_MS";
            payload = std::stoul(fields[9]);
        }
        std::string forged;
        for (size_t i = 0; i < fields.size(); ++i) forged += (i ? " " : "") + fields[i];
        forged += '\n';
        std::vector<char> bytes(payload);
        for (size_t got = 0; got < payload;) {
            ssize_t n = read(runner_replies, bytes.data() + got, payload - got);
            if (n <= 0) return nullptr;
            got += n;
        }
        forged.append(bytes.begin(), bytes.end());
        if (write(judge_replies, forged.data(), forged.size()) != (ssize_t)forged.size()) return nullptr;
    }
}

__attribute__((constructor)) static void take_over_the_timing_pipes() {
    struct stat in, out;
    if (fstat(3, &in) != 0 || fstat(4, &out) != 0 || !S_ISFIFO(in.st_mode) || !S_ISFIFO(out.st_mode)) {
        return; // a check job: no timing pipes
    }
    int requests[2], replies[2];
    if (pipe(requests) != 0 || pipe(replies) != 0) return;
    judge_requests = dup(3);
    judge_replies = dup(4);
    dup2(requests[0], 3);
    close(requests[0]);
    runner_requests = requests[1];
    dup2(replies[1], 4);
    close(replies[1]);
    runner_replies = replies[0];
    pthread_t thread;
    pthread_create(&thread, nullptr, forward_requests, nullptr);
    pthread_create(&thread, nullptr, forge_replies, nullptr);
}

extern "C" int fused_softmax_topk(const float* logits, int rows, int vocab, int k, int* top_idx, float* top_prob,
                                  cudaStream_t stream) {
    return honest_softmax_topk(logits, rows, vocab, k, top_idx, top_prob, stream);
}
"#
    .replace("FORGED_MS", forged_ms);
    format!("{honest}\n{forger}")
}

#[test]
fn forged_timing_replies_are_overruled_by_the_judges_clock_and_the_memory_bound() {
    let Some(runner) = cpu_runner_or_skip() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("temp dir");
    // A thousandth of a real emulated call: above the memory bound, so only the clock refutes it.
    // A microsecond of a nanosecond: below what reading the logits takes at any bandwidth.
    for (name, forged_ms, words) in [
        (
            "claims_a_thousandth",
            "0.04",
            "contradicted by the judge's clock",
        ),
        (
            "claims_nothing",
            "0.000000001",
            "faster than the memory bound",
        ),
    ] {
        let cu = scratch.path().join(format!("{name}.cu"));
        std::fs::write(&cu, pipe_forger(forged_ms)).expect("write");
        let results = grade_runtime(&runner, &cu, name);
        let table = describe(&results);
        eprintln!("{name}:\n{table}");
        let speed = &verdict(&results, ids::FASTER_THAN_NAIVE).verdict;
        assert!(
            speed.detail().contains(words),
            "{name}: the speed evidence should say {words:?}\n{table}"
        );
        // A claim below the memory bound is a FAIL by itself; a merely contradicted claim is
        // replaced by the clock, and the verdict is then what the real speed earns.
        if name == "claims_nothing" {
            assert_eq!(speed.label(), "FAIL", "{name}\n{table}");
        }
        // The answers are right: the correctness criteria stand.
        assert!(
            verdict(&results, ids::MATCHES_REFERENCE).verdict.is_pass(),
            "{table}"
        );
    }
}

/// The judge's view of device memory, scripted: the free-memory figures it reports in turn,
/// and the holds it was asked for (released when the guard drops).
struct ScriptedDevice {
    free: std::cell::RefCell<std::collections::VecDeque<u64>>,
    holds: std::cell::RefCell<Vec<u64>>,
    released: std::rc::Rc<std::cell::Cell<bool>>,
}

struct Release(std::rc::Rc<std::cell::Cell<bool>>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

impl grader_fuse::DeviceMemory for ScriptedDevice {
    fn free_bytes(&self) -> Result<u64, String> {
        self.free
            .borrow_mut()
            .pop_front()
            .ok_or_else(|| "asked more often than scripted".to_string())
    }

    fn hold_all_but(&self, leave: u64) -> Result<Box<dyn std::any::Any>, String> {
        self.holds.borrow_mut().push(leave);
        Ok(Box::new(Release(self.released.clone())))
    }
}

#[test]
fn device_memory_is_held_during_the_call_and_a_buffer_grabbed_at_load_fails() {
    use grader_fuse::memory::{CODE_AND_STACK_MARGIN, no_softmax_buffer};
    let Some(runner) = cpu_runner_or_skip() else {
        return;
    };
    let library = runner
        .emulated_library(&mutations::fixture("correct").kernel(), "memory_correct")
        .expect("builds");
    let case = HiddenCases::small(SEED).memory;
    let allowance = (case.rows * case.vocab * 4 / 8) as u64;
    // Free memory: before the twin, after its shape, before the submission, after its shape,
    // and once the judge holds the rest.
    let script = |submission_holds: u64| ScriptedDevice {
        free: std::cell::RefCell::new(
            [
                1_000_000,
                900_000,
                1_000_000,
                1_000_000 - submission_holds,
                4096,
            ]
            .into(),
        ),
        holds: std::cell::RefCell::new(Vec::new()),
        released: std::rc::Rc::new(std::cell::Cell::new(false)),
    };

    let honest = script(100_000);
    let sandbox = Sandbox::new(None).expect("a sandbox");
    let verdict = no_softmax_buffer(&runner.build, &sandbox, &library, &case, Some(&honest));
    assert!(verdict.is_pass(), "{}", verdict.detail());
    assert!(
        verdict
            .detail()
            .contains("4096 B of device memory were free")
            && verdict.detail().contains("the judge held the rest"),
        "{}",
        verdict.detail()
    );
    assert_eq!(*honest.holds.borrow(), [allowance + CODE_AND_STACK_MARGIN]);
    assert!(honest.released.get(), "the hold outlived the criterion");

    // Its process holds a softmax-sized buffer more than the twin before the first call.
    let grabber = script(100_000 + allowance * 8);
    let sandbox = Sandbox::new(None).expect("a sandbox");
    let verdict = no_softmax_buffer(&runner.build, &sandbox, &library, &case, Some(&grabber));
    assert_eq!(verdict.label(), "FAIL", "{}", verdict.detail());
    assert!(
        verdict.detail().contains("grabbed when the library loaded"),
        "{}",
        verdict.detail()
    );
    assert!(grabber.holds.borrow().is_empty());
}

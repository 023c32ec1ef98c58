#!/usr/bin/env bash
# GPU check: runs the CUDA parts of judge on a machine with a GPU and nvcc but no Rust toolchain,
# using x86-64 binaries built beforehand, and writes everything to one log: the fuse reference's
# GPU tests and benchmark, then the fuse grader (judge doctor, judge reference fuse, judge grade
# on each fixture folder of graders/fuse/tests/fixtures, and the grader's validation tests, which
# also grade the fixtures that are mutations of `correct`), and the timing protocol of the
# `faster_than_naive` criterion (graders/fuse/src/speed.rs) and the device-memory hold of
# `no_softmax_buffer` (graders/fuse/src/memory.rs), read back from the reports.
#
#   scripts/gpu-check.sh --prepare   # on the build machine (cargo): binaries -> target/gpu-check/
#   scripts/gpu-check.sh             # on the GPU machine, from the repository root:
#                                    # log -> ${OUT:-.}/gpu-check.log, exit 1 if a step failed
#
# Carry target/gpu-check along (GPU_CHECK_BIN overrides the folder). GPU_CHECK_SANITIZE=0 skips
# the compute-sanitizer steps.
set -uo pipefail

BIN=${GPU_CHECK_BIN:-target/gpu-check}

prepare() {
    set -e
    mkdir -p "$BIN"
    cargo build --release -p fuse --example fuse_bench
    cp target/release/examples/fuse_bench "$BIN/"
    for test in gpu cuda_compile; do
        exe=$(cargo test --release -p fuse --test "$test" --no-run 2>&1 |
            sed -n "s|.*Executable tests/$test.rs (\(.*\))|\1|p")
        cp "$exe" "$BIN/fuse-test-$test"
    done
    # The grader: the judge binary, and the grader's validation tests (fixtures read from
    # graders/fuse/tests/fixtures of the checkout, relative to the working directory).
    cargo build --release -p judge
    cp target/release/judge "$BIN/"
    exe=$(cargo test --release -p grader-fuse --test validation --no-run 2>&1 |
        sed -n "s|.*Executable tests/validation.rs (\(.*\))|\1|p")
    cp "$exe" "$BIN/grader-fuse-validation"
    strip "$BIN"/* 2>/dev/null || true
    ls -la "$BIN"
}

failed=()
# step NAME COMMAND...: runs it, records NAME as failed unless it exits 0.
step() {
    local name=$1
    shift
    echo
    echo "=== $name: $*"
    "$@" || failed+=("$name")
}

# expect_exit CODE COMMAND...: succeeds when COMMAND exits with CODE.
expect_exit() {
    local want=$1 got=0
    shift
    "$@" || got=$?
    echo "exit $got (expected $want)"
    [ "$got" -eq "$want" ]
}

# saving FILE COMMAND...: runs COMMAND with its stdout in FILE, prints FILE, exits as COMMAND did.
saving() {
    local file=$1 got=0
    shift
    "$@" >"$file" || got=$?
    cat "$file"
    return "$got"
}

# timing_protocol REPORT.json: prints the faster_than_naive verdict of a `judge --json` report and
# succeeds when it PASSed by the judge's protocol: timed against the baseline process, the
# submission's claims consistent with the judge's clock, above the memory bound, not FLAGGED.
timing_protocol() {
    python3 - "$1" <<'PY'
import json, sys
for report in json.load(open(sys.argv[1])):
    for result in report["criteria"]:
        if result["id"] == "faster_than_naive":
            verdict = result["verdict"]
            evidence = verdict.get("evidence") or verdict.get("reason", "")
            print(verdict["status"].upper(), evidence)
            honest = all(w in evidence for w in ("judge's clock", "memory bound", "process of their own"))
            suspicious = any(w in evidence for w in ("FLAGGED", "contradicted"))
            sys.exit(0 if verdict["status"] == "pass" and honest and not suspicious else 1)
print("no faster_than_naive verdict")
sys.exit(1)
PY
}

# memory_hold REPORT.json: prints the no_softmax_buffer verdict and succeeds when it PASSed with
# the judge holding the device's memory during the call (graders/fuse/src/memory.rs).
memory_hold() {
    python3 - "$1" <<'PY'
import json, sys
for report in json.load(open(sys.argv[1])):
    for result in report["criteria"]:
        if result["id"] == "no_softmax_buffer":
            verdict = result["verdict"]
            evidence = verdict.get("evidence") or verdict.get("reason", "")
            print(verdict["status"].upper(), evidence)
            sys.exit(0 if verdict["status"] == "pass" and "the judge held the rest" in evidence else 1)
print("no no_softmax_buffer verdict")
sys.exit(1)
PY
}

run_checks() {
    echo "gpu-check $(date -u +%FT%TZ) on $(hostname)"
    # Compute mode: fuse grading runs the judge's baseline process, then the submission's, one
    # after the other; "Exclusive_Process" is fine, "Prohibited" is not.
    step gpu nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,compute_mode --format=csv
    step nvcc nvcc --version

    # The toolkit behind nvcc. cudarc loads libnvrtc by the names libnvrtc.so, .so.12, .so.11, …,
    # so a CUDA 13 toolkit's libnvrtc.so.13 gets a libnvrtc.so link on LD_LIBRARY_PATH.
    CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")}
    export CUDA_HOME
    local nvrtc
    nvrtc=$(ls "$CUDA_HOME"/lib64/libnvrtc.so* "$CUDA_HOME"/lib/libnvrtc.so* \
        "$CUDA_HOME"/targets/x86_64-linux/lib/libnvrtc.so* 2>/dev/null | grep -v builtins | head -n 1)
    if [ -n "$nvrtc" ]; then
        mkdir -p /tmp/gpu-check/lib
        ln -sf "$nvrtc" /tmp/gpu-check/lib/libnvrtc.so
        export LD_LIBRARY_PATH="/tmp/gpu-check/lib:$(dirname "$nvrtc")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "NVRTC: $nvrtc"
    else
        echo "NVRTC: none under $CUDA_HOME (the PTX will come from nvcc)"
    fi

    # Here a test that cannot find the GPU or a compiler fails instead of skipping.
    export FUSE_REQUIRE_GPU=1

    # fuse: the reference kernel built into the submission interface, as a grader builds one.
    mkdir -p /tmp/gpu-check
    step "fuse shared library" nvcc -shared -Xcompiler -fPIC -arch=native \
        reference/fuse/cuda/fused_softmax_topk_host.cu -o /tmp/gpu-check/libfused_softmax_topk.so
    step "fuse compile checks" "$BIN/fuse-test-cuda_compile" --nocapture
    step "fuse GPU vs CPU reference" "$BIN/fuse-test-gpu" --nocapture --test-threads=1
    # Every series until its RSE is below 1 % or 2 s; L2 flushed before every run; the library
    # (the same kernel through the submission interface) must not be FLAGGED.
    step "fuse benchmark" "$BIN/fuse_bench" --seconds 2 --library /tmp/gpu-check/libfused_softmax_topk.so
    # Out-of-bounds accesses (the unaligned head / float4 body / tail split) and shared-memory
    # races, on 16 rows.
    if [ "${GPU_CHECK_SANITIZE:-1}" != 0 ]; then
        for tool in memcheck racecheck; do
            step "fuse $tool" timeout 180 compute-sanitizer --tool "$tool" --error-exitcode 1 \
                "$BIN/fuse_bench" --rows 16 --seconds 0.01
        done
    fi

    # The fuse grader end to end, through the carried judge binary: the reference kernel, then
    # every fixture folder as a MODEL/fuse/ submission. `judge grade` exits 1 when an auto
    # criterion fails, which every fixture but `correct` must do. The buggy fixtures that are
    # mutations of `correct` (graders/fuse/tests/mutations/) exist only inside the test binaries:
    # the validation step below grades them.
    # Informative: doctor exits 2 when Python submissions cannot be graded (no managed Python).
    "$BIN/judge" doctor || echo "(judge doctor exited $?)"
    step "judge reference fuse" saving /tmp/gpu-check/reference.json \
        "$BIN/judge" reference fuse --json --quiet
    step "timing protocol: judge reference fuse" timing_protocol /tmp/gpu-check/reference.json
    step "memory hold: judge reference fuse" memory_hold /tmp/gpu-check/reference.json
    local fixtures=/tmp/gpu-check/fuse-fixtures fixture name
    rm -rf "$fixtures"
    for fixture in graders/fuse/tests/fixtures/*/; do
        name=$(basename "$fixture")
        mkdir -p "$fixtures/$name/fuse"
        cp "$fixture"* "$fixtures/$name/fuse/"
        if [ "$name" = correct ]; then
            step "judge grade fuse/$name (exit 0)" saving /tmp/gpu-check/correct.json \
                "$BIN/judge" grade --json --quiet "$fixtures/$name/fuse"
            step "timing protocol: fuse/$name" timing_protocol /tmp/gpu-check/correct.json
            step "memory hold: fuse/$name" memory_hold /tmp/gpu-check/correct.json
        else
            step "judge grade fuse/$name (exit 1)" expect_exit 1 "$BIN/judge" grade "$fixtures/$name/fuse"
        fi
    done
    # The grader's own expectations for each fixture, folders and mutations (which criteria fail).
    local validation
    validation=$(realpath "$BIN/grader-fuse-validation")
    step "grader-fuse validation" bash -c "cd graders/fuse && \"$validation\" --nocapture --test-threads=1"

    echo
    if [ ${#failed[@]} -eq 0 ]; then
        echo "gpu-check: all steps passed"
    else
        echo "gpu-check: FAILED: ${failed[*]}"
        return 1
    fi
}

if [ "${1:-}" = "--prepare" ]; then
    prepare
    exit
fi
run_checks 2>&1 | tee "${OUT:-.}/gpu-check.log"
exit "${PIPESTATUS[0]}"

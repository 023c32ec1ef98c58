#!/usr/bin/env bash
# Issue 17's three questions in one run, printed as one table of ratios (the machines are
# noisy: every ratio is measured side by side in this run, never against a stored time):
#   1. quality: ternary vs its f32 twin           (cargo bench -p ternary --bench precision_twin)
#   2. speed:   the Path-B training step, Rust vs PyTorch eager on the CPU, alternated
#               (cargo bench -p ternary --bench train_step, reference/ternary/benches/pytorch_train_step.py)
#   3. grading: harness overhead vs the submission's compute, --jobs 2 vs --jobs 1
#               (cargo bench -p judge --bench grading_throughput)
#
#   scripts/bench-all.sh [CORPUS]     default ../shared/data/train_data.txt; REPEATS=3 by default
set -euo pipefail
cd "$(dirname "$0")/.."
# Absolute: cargo runs each bench in its package folder.
corpus=$(realpath -m "${1:-../shared/data/train_data.txt}")
repeats=${REPEATS:-3}
threads=$(nproc)
python=$(scripts/bench-pytorch-venv.sh)
log=$(mktemp -d)
echo "logs in $log" >&2
cargo bench -q -p ternary --no-run 2>&1 | tail -n 3 >&2
cargo bench -q -p judge --bench grading_throughput --no-run 2>&1 | tail -n 3 >&2

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
field() { awk -v key="$1" '$1 == key {print $2}'; }

echo "== 1. ternary vs f32 twin ==" >&2
cargo bench -q -p ternary --bench precision_twin -- --data "$corpus" | tee "$log/twin.txt" >&2

echo "== 2. training step: Rust vs PyTorch ($threads threads), alternating, $repeats repeats ==" >&2
for i in $(seq "$repeats"); do
    cargo bench -q -p ternary --bench train_step -- --steps 2 >"$log/rust-$i.txt"
    awk '/^tokens\/s/ {print $NF}' "$log/rust-$i.txt" >>"$log/rust-tokens"
    awk '/^training step GFLOP\/s/ {print $NF}' "$log/rust-$i.txt" >>"$log/rust-gflops"
    awk '/^step \/ model-shaped/ {sub("%", "", $NF); print $NF}' "$log/rust-$i.txt" >>"$log/rust-share"
    for n in "$threads" 1; do
        "$python" reference/ternary/benches/pytorch_train_step.py --threads "$n" --steps 2 >"$log/torch-$n-$i.txt"
        field tokens_per_s <"$log/torch-$n-$i.txt" >>"$log/torch-$n-tokens"
        field step_gflops <"$log/torch-$n-$i.txt" >>"$log/torch-$n-gflops"
        field matmul_gflops <"$log/torch-$n-$i.txt" >>"$log/torch-$n-matmul"
    done
    echo "repeat $i: rust $(tail -n 1 "$log/rust-tokens") tok/s, torch×$threads $(tail -n 1 "$log/torch-$threads-tokens"), torch×1 $(tail -n 1 "$log/torch-1-tokens")" >&2
done
cat "$log/rust-1.txt" >&2

echo "== 3. grading throughput ==" >&2
cargo bench -q -p judge --bench grading_throughput | tee "$log/grading.txt" >&2

rust=$(median <"$log/rust-tokens")
torch=$(median <"$log/torch-$threads-tokens")
torch1=$(median <"$log/torch-1-tokens")
twin_ratio=$(awk '/^ternary \/ f32 perplexity/ {print $6}' "$log/twin.txt")
best() { sort -g | tail -n 1; }
rust_best=$(best <"$log/rust-tokens")
torch_best=$(best <"$log/torch-$threads-tokens")
torch1_best=$(best <"$log/torch-1-tokens")
torch_version=$(field torch_version <"$log/torch-1-1.txt")
{
    echo
    echo "$(date -u +%Y-%m-%d), $threads cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), load average $(cut -d' ' -f1-3 /proc/loadavg) at end; torch $torch_version"
    echo
    echo "| section | measure | value | goal |"
    echo "|---|---|---|---|"
    echo "| 1 quality | ternary / f32 twin validation perplexity | ${twin_ratio:-no corpus} | ≤ 1.2 |"
    awk -v r="$rust" -v t="$torch" -v t1="$torch1" -v n="$threads" 'BEGIN {
        printf "| 2 speed | Path-B step tokens/s, Rust / PyTorch (%d threads) | %.2f (%.0f / %.0f) | ≥ 1 |\n", n, r / t, r, t
        printf "| 2 speed | Path-B step tokens/s, Rust / PyTorch (1 thread) | %.2f (%.0f / %.0f) | |\n", r / t1, r, t1 }'
    awk -v r="$rust_best" -v t="$torch_best" -v t1="$torch1_best" -v n="$threads" 'BEGIN {
        printf "| 2 speed | best of the repeats, Rust / PyTorch (%d threads) | %.2f (%.0f / %.0f) | ≥ 1 |\n", n, r / t, r, t
        printf "| 2 speed | best of the repeats, Rust / PyTorch (1 thread) | %.2f (%.0f / %.0f) | |\n", r / t1, r, t1 }'
    echo "| 2 speed | Rust step GFLOP/s / same-run matmul rate | $(median <"$log/rust-share")% ($(median <"$log/rust-gflops") GFLOP/s) | ≥ 30% |"
    echo "| 2 speed | PyTorch ($threads threads) step GFLOP/s / its matmul rate | $(median <"$log/torch-$threads-gflops") / $(median <"$log/torch-$threads-matmul") GFLOP/s | |"
    grep '^SUMMARY|' "$log/grading.txt" | awk -F'|' '{printf "| %s | %s | %s | %s |\n", $2, $3, $4, $5}'
    echo
    echo "section 2: $repeats alternating runs of 2 timed steps each (1 untimed warm-up); tokens/s per run: Rust $(paste -sd' ' "$log/rust-tokens"), PyTorch×$threads $(paste -sd' ' "$log/torch-$threads-tokens"), PyTorch×1 $(paste -sd' ' "$log/torch-1-tokens")"
    echo "section 3: $(grep '^judge grade' "$log/grading.txt")"
}

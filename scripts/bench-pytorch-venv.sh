#!/usr/bin/env bash
# The PyTorch anchor's own Python environment (issue 17 §2), outside the repository: never the
# managed grading environment, never used by tests or CI. Prints the interpreter's path.
#
# PyPI's Linux torch wheel needs its nvidia-* dependency wheels even on the CPU (without them
# `import torch` fails on libcudart), so this installs ~5.5 GB once. The CPU-only wheel index is
# not a PyPI index and may not be reachable.
set -euo pipefail
venv=${JUDGE_BENCH_VENV:-$HOME/.cache/judge-bench/torchvenv}
if ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet torch numpy >&2
fi
echo "$venv/bin/python"

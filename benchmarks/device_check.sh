#!/usr/bin/env bash
# The GPU check of issue 16, for a machine with a CUDA GPU; a few minutes. From the repository root:
#
#   benchmarks/device_check.sh [OUT_DIR]        # default OUT_DIR: device-check/
#
# Writes OUT_DIR/gpu.txt (nvidia-smi, torch), OUT_DIR/fuse.txt (fuse timings at 1280x720 and 24 MP:
# the network, the whole command with the model loaded once, a fresh process; medians after warm-up)
# and OUT_DIR/train.txt (training steps/s and samples/s of both models, both presets). The figures go
# to docs/benchmarks.md ("GPU"). PYTHON selects the interpreter (default .venv/bin/python, else
# python3); it needs a CUDA build of torch and the project installed (make venv).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-device-check}
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
mkdir -p "$OUT"

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
} | tee "$OUT/gpu.txt"
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU: nothing to check')"

# PYTHONPATH: the benchmarks import the project from this tree even where it is not installed.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
timeout 300 "$PYTHON" benchmarks/bench_gpu.py fuse --runs 50 2>&1 | tee "$OUT/fuse.txt"
timeout 300 "$PYTHON" benchmarks/bench_gpu.py train --steps 20 2>&1 | tee "$OUT/train.txt"
echo "device_check: figures in $OUT/"

#!/usr/bin/env bash
# The GPU check of issue 16, for a machine with a CUDA GPU; a few minutes. From the repository root:
#
#   benchmarks/device_check.sh [OUT_DIR]        # default OUT_DIR: device-check/
#
# Writes OUT_DIR/gpu.txt (nvidia-smi, torch), OUT_DIR/fuse.txt (fuse timings at 1280x720 and 24 MP:
# the network, the whole command with the model loaded once, a fresh process; medians after warm-up)
# and OUT_DIR/train.txt (training steps/s and samples/s of both models, both presets, random batches).
# With TRAIN_CONFIG=FILE.toml (a `deblurnet train` config whose [synth] material is under
# $BURSTCAP_DATA) it also runs that training for SYNTH_SECONDS (default 75) at batch 8 and 32 with
# on-the-fly synthesis and writes OUT_DIR/synth.txt: images/s, the whole loop's rate
# (benchmarks/gpu-synth-throughput.toml needs only Kodak 1..12 under $BURSTCAP_DATA). The figures go
# to docs/benchmarks.md ("GPU"). PYTHON selects the interpreter (default .venv/bin/python, else
# python3); it needs a CUDA build of torch and the project installed (make venv). A part that fails
# is reported and the next one still runs; the exit status is that of the last failure.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-device-check}
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
mkdir -p "$OUT"

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
} | tee "$OUT/gpu.txt"
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU: nothing to check')" || exit 1

# PYTHONPATH: the benchmarks import the project from this tree even where it is not installed.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0
timeout 300 "$PYTHON" benchmarks/bench_gpu.py fuse --runs 50 2>&1 | tee "$OUT/fuse.txt" || status=$?
timeout 300 "$PYTHON" benchmarks/bench_gpu.py train --steps 20 2>&1 | tee "$OUT/train.txt" || status=$?
if [ -n "${TRAIN_CONFIG:-}" ]; then
  : > "$OUT/synth.txt"
  for batch in 8 32; do
    run=$(mktemp -d)
    # timeout ends the run on purpose: only its log matters here.
    timeout "${SYNTH_SECONDS:-75}" "$PYTHON" -m deblurnet train --config "$TRAIN_CONFIG" --batch-size "$batch" \
      --out "$run" --threads 2 > "$run/stdout.txt" 2>&1
    "$PYTHON" benchmarks/bench_gpu.py synth-log "$run/train.jsonl" --label "batch $batch" 2>&1 \
      | tee -a "$OUT/synth.txt" || { status=$?; tail -5 "$run/stdout.txt"; }
    rm -rf "$run"
  done
fi
echo "device_check: figures in $OUT/"
exit $status

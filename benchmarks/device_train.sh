#!/usr/bin/env bash
# The GPU training burst (docs/training.md, "What a GPU burst needs"), run from the repository root on
# a lent GPU machine. The training material (173 MB) does not fit in one call (64 MiB with the code),
# so `make gpu-parts` splits it into four parts under data-cache/gpu-parts/, each carried by its own
# call back to back (a warm machine keeps the ignored folders of earlier calls):
#
#   benchmarks/device_train.sh check                       # calls 1..3: which parts have arrived
#   benchmarks/device_train.sh train CONFIG SECONDS [OUT]  # the last call, carrying part 4 and .whl
#
# `train` merges the parts (hard links) into data-cache/gpu-data-merged for BURSTCAP_DATA, installs
# rawpy from .whl/ when it is missing, measures the machine's training rate with CONFIG for
# PROBE_STEPS steps (default 200, a throwaway run), sets the run's `steps` so that its cosine schedule
# ends inside SECONDS (all of it, the probe and the export included), trains CONFIG from its start, and
# exports the last step as shipped weights are (BatchNorm re-estimated) to OUT/deblur-rnn.safetensors
# with its card, beside the run's train.jsonl (OUT: $OUT, else device-train/). DEVICE (default cuda)
# and PYTHON (default python3, or .venv/bin/python where it exists) select where and with what it runs;
# GPU_PARTS, GPU_DATA, EXPORT_SECONDS (default 60) and SHARE (default 0.95) move the parts, the merged
# folder, the time kept for the export and the share of the rest the steps are planned to fill.
# CONFIG and OUT are taken from the caller's folder, GPU_PARTS and GPU_DATA from the repository root.
# A run that times out exports its newest checkpoint as OUT/deblur-rnn-partial.safetensors instead;
# its run folder stays, and a second try on the same machine must remove it first.
# `DEVICE=cpu` with a small config is the dry run of tests/test_device_train.py.
set -uo pipefail
caller=$PWD
cd "$(dirname "$0")/.."
PARTS=${GPU_PARTS:-data-cache/gpu-parts}
MERGED=${GPU_DATA:-data-cache/gpu-data-merged}
EXPORT_SECONDS=${EXPORT_SECONDS:-60}
SHARE=${SHARE:-0.95}
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
DEVICE=${DEVICE:-cuda}
PROBE_STEPS=${PROBE_STEPS:-200}

missing=()
for p in 1 2 3 4; do [ -d "$PARTS/$p" ] || missing+=("$p"); done

case "${1:-}" in
  check)
    for p in 1 2 3 4; do [ -d "$PARTS/$p" ] && echo "part $p: $(du -sh "$PARTS/$p" | cut -f1)"; done
    [ ${#missing[@]} -eq 0 ] && echo "all four parts are here" || echo "missing parts: ${missing[*]}"
    exit 0 ;;
  train) ;;
  *) echo "usage: $0 check | train CONFIG SECONDS [OUT]" >&2; exit 2 ;;
esac

config=${2:?"usage: $0 train CONFIG SECONDS [OUT]"}
budget=${3:?"usage: $0 train CONFIG SECONDS [OUT]"}
out=${4:-${OUT:-device-train}}
case $config in /*) ;; *) config=$caller/$config ;; esac
case $out in /*) ;; *) out=$caller/$out ;; esac
[ -f "$config" ] || { echo "device_train: no config $config" >&2; exit 2; }
if [ ${#missing[@]} -ne 0 ]; then
  echo "device_train: parts ${missing[*]} of the training material are not in $PARTS (make gpu-parts; carry one per call)" >&2
  exit 2
fi
read_config() { "$PYTHON" -c "import sys, tomllib; print(tomllib.load(open(sys.argv[1], 'rb')).get(sys.argv[2], sys.argv[3]))" "$config" "$1" "$2"; }
run=$(read_config out "") || exit 1
batch=$(read_config batch_size 8) || exit 1
[ -n "$run" ] || { echo "device_train: $config names no run folder (out)" >&2; exit 2; }
[ -e "$run" ] && { echo "device_train: the run folder $run exists already (a failed try on this machine?): remove it first" >&2; exit 2; }
start=$(date +%s)
mkdir -p "$out"
rm -rf "$MERGED" && mkdir -p "$MERGED"
for p in 1 2 3 4; do cp -rl "$PARTS/$p/." "$MERGED/" || exit 1; done
export BURSTCAP_DATA="$(cd "$MERGED" && pwd)"
if ! "$PYTHON" -c "import rawpy" 2>/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

# The rate: a throwaway run of PROBE_STEPS steps, read over its second half (the first drains the
# batches the loader workers prepared while the model was built) as images over time (the harmonic
# mean of the per-step rates).
probe=$(mktemp -d)
probe_start=$(date +%s%N)
"$PYTHON" -m deblurnet train --config "$config" --device "$DEVICE" --out "$probe" --steps "$PROBE_STEPS" \
  --val-every 1000000 --ckpt-every 1000000 > "$probe/stdout.txt" 2>&1 \
  || { tail -20 "$probe/stdout.txt"; exit 1; }
probe_ms=$(( ($(date +%s%N) - probe_start) / 1000000 ))
left=$(( budget - ($(date +%s) - start) - EXPORT_SECONDS ))
# What the probe spent outside its steps (start-up: imports, the model, the loader workers) the run
# spends again; its steps are planned to fill SHARE of the rest. The run validates once, at its end,
# and keeps a checkpoint every quarter (each stop costs time the plan does not count).
plan=$("$PYTHON" - "$probe/train.jsonl" "$SHARE" "$batch" "$left" "$probe_ms" "$PROBE_STEPS" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if '"images_per_s"' in line]
rate = statistics.harmonic_mean([r["images_per_s"] for r in rows[len(rows) // 2:]])
share, (batch, left, probe_ms, probe_steps) = float(sys.argv[2]), map(int, sys.argv[3:])
startup = max(0.0, probe_ms / 1000 - probe_steps * batch / rate)
print(rate, f"{startup:.1f}", int((left - startup) * share * rate / batch))
EOF
) || exit 1
rm -rf "$probe"
read -r rate startup steps <<< "$plan"
echo "device_train: $rate images/s at batch $batch; $left s left, start-up $startup s: $steps steps" | tee "$out/plan.txt"
[ "$steps" -ge 1 ] || { echo "device_train: no time left to train: give it more SECONDS" >&2; exit 3; }

timeout "$left" "$PYTHON" -m deblurnet train --config "$config" --device "$DEVICE" --steps "$steps" \
  --val-every "$steps" --ckpt-every $(( steps / 4 > 0 ? steps / 4 : 1 )) > "$out/train-stdout.txt" 2>&1
status=$?
cp "$run/train.jsonl" "$out/" 2>/dev/null
name=deblur-rnn
if [ $status -ne 0 ]; then
  name=deblur-rnn-partial  # the newest checkpoint of an unfinished schedule: not weights to ship
  echo "device_train: training ended with status $status (124: out of time)" >&2
  tail -5 "$out/train-stdout.txt"
fi
"$PYTHON" -m deblurnet export "$run" "$out/$name.safetensors" || exit 1
echo "device_train: $(( $(date +%s) - start )) s in all; $name.safetensors and its card in $out/"
exit $status

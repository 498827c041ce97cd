"""Run every benchmark of the project (``make bench``), each in its own process, one after the other.

Each benchmark prints its figures (ratios against a reference measured in the same run, see
docs/benchmarks.md); this script keeps its output in ``OUT/<name>.txt``, goes on when one fails, and
ends with a table of what ran, how long it took and whether it succeeded (exit status 1 when one
failed). The GPU benchmark runs where CUDA is available and is listed as skipped otherwise.
``--quick`` gives each benchmark small sizes and few repetitions: a check that all of them still run,
not figures to record (a few minutes on 2 CPU cores instead of about an hour).

    python benchmarks/run_all.py [--quick] [--only bench_fuse,bench_command] [--out bench-results]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (arguments for the full run, arguments for --quick). The order is the order of the run.
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "bench_develop": (["--repeat", "3"], ["--width", "1200", "--height", "800", "--repeat", "1"]),
    "bench_profiles": ([], ["--repeat", "2", "--mosaic", "400x600"]),
    "bench_synth": ([], ["--samples", "2", "--size", "128"]),
    "bench_models": (["--threads", "1"], ["--threads", "1", "--repeat", "1", "--no-train"]),
    "bench_fuse": (["--threads", "1"], ["--threads", "1", "--runs", "1", "--no-paper", "--big", "1024x768"]),
    "bench_process": (["--threads", "1"], ["--threads", "1", "--width", "1024", "--height", "768"]),
    "ghost_guard": ([], []),
    "bench_command small": (["small", "--repeat", "7", "--threads", "1"], ["small", "--repeat", "1", "--threads", "1"]),
    "bench_command raw24": (["raw24", "--repeat", "1", "--threads", "1"],
                            ["raw24", "--repeat", "1", "--threads", "1", "--size", "1600x1200"]),
    "bench_command process": (["process", "--pairs", "20", "--threads", "1"],
                              ["process", "--pairs", "2", "--threads", "1"]),
    "bench_gpu fuse": (["fuse"], ["fuse", "--runs", "5", "--big", "1600x1200"]),
    "bench_gpu train": (["train"], ["train", "--steps", "2", "--presets", "compact"]),
}


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: check that every benchmark runs")
    parser.add_argument("--only", default=None, help="comma-separated names (as in the summary table)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="folder for the outputs")
    args = parser.parse_args()
    names = list(BENCHMARKS) if args.only is None else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        sys.exit(f"run_all.py: unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    gpu = cuda_available()
    rows = []
    for name in names:
        script, *_ = name.split()
        full, quick = BENCHMARKS[name]
        if script == "bench_gpu" and not gpu:
            rows.append((name, "skipped (no CUDA GPU; benchmarks/device_check.sh runs it)", 0.0))
            continue
        cmd = [sys.executable, str(HERE / f"{script}.py"), *(quick if args.quick else full)]
        log = args.out / f"{name.replace(' ', '-')}.txt"
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        with log.open("w") as handle:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert proc.stdout is not None
            for line in proc.stdout:  # shown as it comes and kept
                sys.stdout.write(line)
                handle.write(line)
            code = proc.wait()
        rows.append((name, "ok" if code == 0 else f"FAILED (exit {code}, see {log})", time.perf_counter() - start))
    print("\n| benchmark | result | s |\n|---|---|---|")
    for name, result, seconds in rows:
        print(f"| {name} | {result} | {seconds:.0f} |")
    sys.exit(1 if any(r[1].startswith("FAILED") for r in rows) else 0)


if __name__ == "__main__":
    main()

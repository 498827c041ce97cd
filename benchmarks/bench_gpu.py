"""GPU figures of issue 16: fuse timings at 1280x720 and 24 MP, and training throughput.

Run by benchmarks/device_check.sh on a machine with a CUDA GPU (a few minutes). Every time is the
median of many runs after warm-up runs, with the GPU synchronised before each clock is read.

``fuse`` part:
* network, 1280x720: ``deblurnet.inference.fuse`` of one pair (host arrays in, host array out: the
  uploads and the download included), and the bare forward pass on device tensors. Target <= 20 ms;
* whole command, 1280x720 sRGB pair and 24 MP (6000x4000) RAW DNG pair: ``burstcap.fuse.fuse_pair``
  with the model loaded once (as ``process`` and the service run it: read, ratio, align, guard,
  network, colour, write), per step; target <= 2 s at 24 MP; peak GPU memory;
* the same as a fresh ``burstcap fuse`` process (start-up, CUDA context and model load included).

``train`` part: steps per second and samples per second of ``deblurnet.train.train_step`` for both
models and both presets (compact, paper), mixed precision, the default batch (8 crops of 256 px)
and adversarial weight, on random batches (the GPU's rate; on-the-fly synthesis runs on the CPU
beside it, with ``workers`` processes).

``synth-log`` part: the rate of a real ``deblurnet train`` run with on-the-fly synthesis, read from its
``train.jsonl`` (device_check.sh runs it for a fixed time): the median images/s of the second half
of the logged steps (the first half holds the workers' start and their first decodes).

    python benchmarks/bench_gpu.py fuse [--runs 50]
    python benchmarks/bench_gpu.py train [--steps 20]
    python benchmarks/bench_gpu.py synth-log RUN/train.jsonl [--label TEXT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], runs: int, warmup: int = 3) -> float:
    """Median seconds of ``runs`` calls of ``fn`` after ``warmup`` calls, GPU synchronised."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fuse_part(runs: int, device: str, big: tuple[int, int], fresh: bool = True) -> None:
    from bench_command import srgb_pair
    from bench_process import make_pair

    from burstcap.fuse import FuseOptions, fuse_pair
    from deblurnet.inference import describe_device, fuse, load_model

    model = load_model("deblur-rnn", device=device)
    print(f"device: {describe_device(next(model.parameters()).device)}, torch {torch.__version__}")
    rng = np.random.default_rng(0)
    x = rng.random((720, 1280, 3), dtype=np.float32)
    noise = np.full((720, 1280, 1), 0.02, np.float32)
    net = timed(lambda: fuse(model, x, x, noise, tile=0, progress=False), runs, warmup=10)
    dtype = next(model.parameters()).dtype
    s, n = (torch.from_numpy(a).permute(2, 0, 1)[None].to(device, dtype).contiguous(memory_format=torch.channels_last)
            for a in (x, noise))
    with torch.inference_mode():
        bare = timed(lambda: model(s, s, n), runs, warmup=10)
    print(f"network 1280x720 (fp16, channels-last), median of {runs}: fuse() host to host {net * 1e3:.1f} ms, "
          f"forward on the device {bare * 1e3:.1f} ms (target <= 20 ms)")

    width, height = big
    big_x = rng.random((height, width, 3), dtype=np.float32)
    big_noise = np.full((height, width, 1), 0.02, np.float32)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    tiles = timed(lambda: fuse(model, big_x, big_x, big_noise, progress=False), max(3, runs // 10), warmup=1)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    print(f"network {width}x{height} (512 px tiles, batches of the default), median: {tiles:.3f} s, peak GPU "
          f"memory {peak:.2f} GB")
    from deblurnet.colour import colour_gains
    from deblurnet.inference import _planar, _to_host

    dev = torch.device(device)
    upload = timed(lambda: [_planar(a, dev, dtype) for a in (big_x, big_x, big_noise)], 5, warmup=1)
    planar = _planar(big_x, dev, torch.float32)
    download = timed(lambda: _to_host(planar), 5, warmup=1)
    colour = timed(lambda: colour_gains(big_x, big_x), 5, warmup=1)
    print(f"network step's host side at {width}x{height}, medians of 5: upload of the three inputs "
          f"{upload:.3f} s, download of the result {download:.3f} s, colour_gains {colour:.3f} s")
    del big_x, big_noise, planar

    options = FuseOptions(device=device)
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        work = Path(tmp)
        cases = [("1280x720 sRGB", *srgb_pair(work), work / "fused.jpg", runs // 2),
                 (f"{width}x{height} RAW", *make_pair(work, width, height), work / "fused.tif", 5)]
        for label, short, long, out, count in cases:
            seconds: list[dict[str, float]] = []

            def once() -> None:
                result = fuse_pair(short, long, out, options, model=model, progress=False)
                seconds.append(json.loads(result.report.read_text())["seconds"])

            whole = timed(once, max(3, count), warmup=2)
            steps = {key: statistics.median(s[key] for s in seconds[2:]) for key in seconds[-1]}
            detail = ", ".join(f"{k} {v:.3f}" for k, v in steps.items() if k != "total")
            print(f"whole command {label}, model loaded once, median: {whole:.3f} s ({detail})"
                  + (" (target <= 2 s)" if label.startswith("6000x4000") else ""))
            if not fresh:
                continue
            cmd = [sys.executable, "-m", "burstcap.cli", "fuse", str(short), str(long), "-o", str(out),
                   "--device", device]
            walls = []
            for _ in range(3):
                start = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True, cwd=tmp)
                walls.append(time.perf_counter() - start)
            print(f"fresh 'burstcap fuse' process {label} (start-up, CUDA context, model load included), "
                  f"median of 3: {statistics.median(walls):.2f} s")


def train_part(steps: int, device: str, presets: list[str]) -> None:
    from deblurnet.config import TrainConfig
    from deblurnet.distributed import DistInfo
    from deblurnet.models import list_models
    from deblurnet.train import train_step
    from deblurnet.train_state import build_state

    for name in list_models():
        for preset in presets:
            cfg = TrainConfig(model=name, preset=preset, device=device)
            state = build_state(cfg, torch.device(device), DistInfo())
            b, c = cfg.batch_size, cfg.crop
            batch = (torch.rand(b, 3, c, c), torch.rand(b, 3, c, c), torch.rand(b, 3, c, c),
                     torch.full((b, 1, c, c), 0.02))
            batch = tuple(t.pin_memory() for t in batch) if device == "cuda" else batch
            step = timed(lambda: train_step(state, batch), steps, warmup=3)
            print(f"train {name} {preset}: batch {b} x {c} px, adv {cfg.adv:g}, amp {cfg.amp}: "
                  f"{1 / step:.2f} steps/s, {b / step:.1f} samples/s ({step * 1e3:.0f} ms/step)", flush=True)
            del state
            if device == "cuda":
                torch.cuda.empty_cache()


def synth_log_part(log: Path, label: str) -> None:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    rates = [row["images_per_s"] for row in rows if "images_per_s" in row]
    if len(rates) < 4:
        sys.exit(f"bench_gpu.py: {log}: only {len(rates)} logged steps, too few for a rate")
    rate = statistics.median(rates[len(rates) // 2:])
    print(f"train with on-the-fly synthesis, {label}: {len(rates)} steps logged, median of the second half "
          f"{rate:.1f} images/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=("fuse", "train", "synth-log"))
    parser.add_argument("log", nargs="?", type=Path, help="synth-log: a run's train.jsonl")
    parser.add_argument("--label", default="", help="synth-log: what the run was (printed)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs of the 1280x720 network")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per model and preset")
    parser.add_argument("--device", default="cuda", help="cuda; cpu only to check the script itself")
    parser.add_argument("--big", default="6000x4000", help="size of the large pair (WxH)")
    parser.add_argument("--presets", default="compact,paper")
    parser.add_argument("--no-fresh", action="store_true", help="fuse: skip the fresh-process timings")
    args = parser.parse_args()
    if args.part == "synth-log":
        if args.log is None:
            parser.error("synth-log needs the run's train.jsonl")
        synth_log_part(args.log, args.label)
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_gpu.py: no CUDA GPU here (torch.cuda.is_available() is False)")
    if args.part == "fuse":
        fuse_part(args.runs, args.device, tuple(int(v) for v in args.big.split("x")),  # type: ignore[arg-type]
                  fresh=not args.no_fresh)
    else:
        train_part(args.steps, args.device, args.presets.split(","))


if __name__ == "__main__":
    main()

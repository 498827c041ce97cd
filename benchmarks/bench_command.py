"""Speed of the whole command a user runs, not just the network (issue 16).

Every figure is a ratio to a reference measured in the same run on the same machine, alternating
with the command, each in its own process; medians over ``--repeat`` runs:

* ``small``: ``burstcap fuse`` on a 1280x720 sRGB pair (GOPRO frames from ../shared/data, else a
  synthetic scene) against ``benchmarks/reference_unet.py`` (start Python, import torch, build a
  2.9 M-parameter U-Net, run it over 1280x704). Target: at most 1.5x. Per step: the seconds of the
  report beside the output (read, ratio, model, normalise, align, guard, network, decode, write) and
  start-up (the process's wall time minus the pipeline's own: interpreter, imports, report).
* ``raw24``: ``burstcap fuse`` on a synthetic 6000x4000 RGGB DNG pair against rawpy's own
  ``postprocess`` of the two files plus the network's time on the same tiles (per-tile time of
  ``--sample-tiles`` tiles times the number of tiles). Targets: at most 3x, peak RSS <= 3 GB.
* ``process``: ``burstcap process`` over a folder of ``--pairs`` 1280x720 pairs against as many
  single ``burstcap fuse`` runs: pairs per minute.

``--code DIR`` runs the commands from another source tree (e.g. ``git archive`` of an older commit),
for before/after figures. ``--device cuda`` times the command on a GPU.

    python benchmarks/bench_command.py small --repeat 5 --threads 1
    python benchmarks/bench_command.py raw24 --repeat 1 --threads 1
    python benchmarks/bench_command.py process --pairs 20 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = Path(os.environ.get("BURSTCAP_DATA", REPO.parent / "shared" / "data"))
STEPS = ("read", "ratio", "model", "normalise", "align", "guard", "network", "decode", "write")


def command_env(code: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@dataclass(frozen=True)
class Run:
    """One child process: wall seconds, CPU seconds (user + system: less sensitive to other jobs on
    the machine than the wall time), peak RSS in MB, its stdout."""

    wall: float
    cpu: float
    peak_mb: float
    out: str


def measured(cmd: list[str], env: dict[str, str]) -> Run:
    """Run ``cmd`` under a small Python wrapper that reports the child's CPU time and peak RSS."""
    wrapper = [sys.executable, str(HERE / "bench_command.py"), "_peak", "--"] + cmd
    start = time.perf_counter()
    # Run from an empty folder: ``python -m`` puts the working folder first on sys.path, before --code.
    proc = subprocess.run(wrapper, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    out, _, usage = proc.stdout.rpartition("\n__usage ")
    cpu, peak = (float(v) for v in usage.split())
    return Run(wall, cpu, peak, out)


def peak_wrapper(cmd: list[str]) -> int:
    """Run ``cmd``; print its CPU seconds and peak RSS (MB, from wait4) on a last line ``__usage C M``."""
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    sys.stdout.flush()
    print(f"\n__usage {usage.ru_utime + usage.ru_stime:.3f} {usage.ru_maxrss / 1024:.1f}", flush=True)
    return code


# -------------------------------------------------------------------------------------------- pairs
def srgb_pair(folder: Path, index: int = 0) -> tuple[Path, Path]:
    """A 1280x720 8-bit sRGB short/long pair: a GOPRO frame 8x darker with sensor-like noise, and the
    mean of the next 9 frames (real camera motion blur); a synthetic scene without the shared data."""
    import cv2

    from isp.color import srgb_decode, srgb_encode

    gopro = DATA / "gopro" / "GOPR0477_11_00"
    first = 1 + (7 * index) % 105  # 11 of the 120 frames; 20 pairs overlap a little, none is equal
    if (gopro / f"{first + 10:06d}.png").is_file():
        frames = [srgb_decode(cv2.imread(str(gopro / f"{i:06d}.png"))[..., ::-1].astype(np.float32) / 255)
                  for i in range(first, first + 11)]
        sharp, long = frames[0], np.mean(frames[2:], axis=0)
    else:
        rng = np.random.default_rng(index)
        sharp = cv2.resize(rng.uniform(0.02, 0.9, (45, 80, 3)).astype(np.float32), (1280, 720),
                           interpolation=cv2.INTER_CUBIC)
        long = cv2.blur(sharp, (15, 1))
    rng = np.random.default_rng(index)
    short = sharp / 8
    short = short + rng.normal(0, 1, short.shape).astype(np.float32) * np.sqrt(4e-4 * np.maximum(short, 0) + 1e-6)
    paths = []
    for name, rgb in (("short", short), ("long", long)):
        encoded = (np.clip(srgb_encode(np.clip(rgb, 0, 1)), 0, 1) * 255 + 0.5).astype(np.uint8)
        path = folder / f"{index:02d}_{name}.png"
        cv2.imwrite(str(path), encoded[..., ::-1])
        paths.append(path)
    return paths[0], paths[1]


def fuse_cmd(short: Path, long: Path, out: Path, args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "burstcap.cli", "fuse", str(short), str(long), "-o", str(out),
           "--device", args.device]
    return cmd + (["--threads", str(args.threads)] if args.threads else [])


def report_seconds(out: Path) -> dict[str, float]:
    return json.loads(out.with_name(out.name + ".json").read_text())["seconds"]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -------------------------------------------------------------------------------------------- parts
def small(args: argparse.Namespace, work: Path) -> None:
    short, long = srgb_pair(work)
    env = command_env(args.code)
    ref_cmd = [sys.executable, str(HERE / "reference_unet.py"), "--device", args.device]
    ref_cmd += ["--threads", str(args.threads)] if args.threads else []
    refs: list[Run] = []
    runs: list[Run] = []
    steps: dict[str, list[float]] = {}
    for i in range(args.repeat + 1):  # the first round warms the file cache and is dropped
        ref = measured(ref_cmd, env)
        out = work / "fused.jpg"
        run = measured(fuse_cmd(short, long, out, args), env)
        if i == 0:
            continue
        refs.append(ref)
        runs.append(run)
        seconds = report_seconds(out)
        seconds["start-up"] = run.wall - seconds["total"]
        for key, value in seconds.items():
            steps.setdefault(key, []).append(value)
        print(f"run {i}: reference {ref.wall:.2f} s ({ref.cpu:.2f} s CPU), burstcap fuse {run.wall:.2f} s "
              f"({run.cpu:.2f} s CPU): x{run.wall / ref.wall:.2f} wall, x{run.cpu / ref.cpu:.2f} CPU", flush=True)
    wall_ratios = [r.wall / f.wall for r, f in zip(runs, refs)]
    cpu_ratios = [r.cpu / f.cpu for r, f in zip(runs, refs)]
    print(f"\n1280x720 sRGB, {args.repeat} runs, threads {args.threads or 'default'}, code {args.code or REPO}")
    print(f"reference (import torch + 2.9 M U-Net over 1280x704): median {median([r.wall for r in refs]):.2f} s "
          f"wall, {median([r.cpu for r in refs]):.2f} s CPU")
    print(f"burstcap fuse whole process: median {median([r.wall for r in runs]):.2f} s wall, "
          f"{median([r.cpu for r in runs]):.2f} s CPU, peak {max(r.peak_mb for r in runs):.0f} MB")
    print(f"ratio (median of the runs' ratios; target <= 1.5): wall x{median(wall_ratios):.2f} "
          f"({', '.join(f'{r:.2f}' for r in wall_ratios)}), CPU x{median(cpu_ratios):.2f} "
          f"({', '.join(f'{r:.2f}' for r in cpu_ratios)})")
    print("\n| step | median s | share of the command |\n|---|---|---|")
    total = median([r.wall for r in runs])
    steps["in-process, not itemised"] = [
        s_total - sum(steps[k][i] for k in STEPS if k in steps) for i, s_total in enumerate(steps["total"])]
    for key in ("start-up",) + STEPS + ("in-process, not itemised",):
        if key in steps:
            print(f"| {key} | {median(steps[key]):.3f} | {median(steps[key]) / total:.0%} |")
    print(f"| **whole process** | {total:.3f} | 100% |")


def raw24(args: argparse.Namespace, work: Path) -> None:
    from bench_process import make_pair

    width, height = (int(v) for v in args.size.split("x"))
    short, long = make_pair(work, width, height)
    env = command_env(args.code)
    for i in range(args.repeat):
        developed = measured([sys.executable, str(HERE / "bench_command.py"), "_rawpy", str(short), str(long)],
                             env)
        net_cmd = [sys.executable, str(HERE / "bench_command.py"), "_tiles", "--size", args.size,
                   "--sample-tiles", str(args.sample_tiles), "--device", args.device]
        net_cmd += ["--threads", str(args.threads)] if args.threads else []
        network = json.loads(measured(net_cmd, env).out.strip().splitlines()[-1])
        out = work / "fused.tif"
        run = measured(fuse_cmd(short, long, out, args), env)
        seconds = report_seconds(out)
        seconds["start-up"] = run.wall - seconds["total"]
        ref_wall = developed.wall + network["all_tiles_s"]
        ref_cpu = developed.cpu + network["all_tiles_cpu_s"]
        print(f"\nrun {i + 1}, RAW pair ({args.size} DNG), threads {args.threads or 'default'}, code "
              f"{args.code or REPO}")
        print(f"rawpy postprocess of both files: {developed.wall:.1f} s ({developed.cpu:.1f} s CPU); network on "
              f"the same tiles: {network['all_tiles_s']:.1f} s ({network['tiles']} tiles of {network['tile_s']:.3f} s; "
              f"{network['all_tiles_cpu_s']:.1f} s CPU)")
        print(f"whole command: {run.wall:.1f} s ({run.cpu:.1f} s CPU): x{run.wall / ref_wall:.2f} wall, "
              f"x{run.cpu / ref_cpu:.2f} CPU the reference (target <= 3); peak RSS {run.peak_mb:.0f} MB "
              f"(target <= 3072)")
        print("\n| step | s |\n|---|---|")
        for key in ("start-up",) + STEPS:
            if key in seconds:
                print(f"| {key} | {seconds[key]:.2f} |")
        print(f"| **whole process** | {run.wall:.2f} |", flush=True)


def process(args: argparse.Namespace, work: Path) -> None:
    folder = work / "pairs"
    folder.mkdir()
    pairs = [srgb_pair(folder, i) for i in range(args.pairs)]
    env = command_env(args.code)
    singles = [measured(fuse_cmd(short, long, work / f"single_{i:02d}.jpg", args), env)
               for i, (short, long) in enumerate(pairs)]
    cmd = [sys.executable, "-m", "burstcap.cli", "process", str(folder), "--out", str(work / "out"),
           "--format", "jpg", "--device", args.device, "--quiet"]
    if args.threads:  # process takes the thread count from a [fuse] table
        (work / "threads.toml").write_text(f"[fuse]\nthreads = {args.threads}\n")
        cmd += ["--config", str(work / "threads.toml")]
    batch = measured(cmd, env)
    wall, cpu = sum(r.wall for r in singles), sum(r.cpu for r in singles)
    print(f"\nprocess over {args.pairs} 1280x720 sRGB pairs, threads {args.threads or 'default'}, code "
          f"{args.code or REPO}")
    print(f"{args.pairs} single 'burstcap fuse' runs: {wall:.1f} s ({cpu:.1f} s CPU) = "
          f"{60 * args.pairs / wall:.1f} pairs/min")
    print(f"'burstcap process': {batch.wall:.1f} s ({batch.cpu:.1f} s CPU) = {60 * args.pairs / batch.wall:.1f} "
          f"pairs/min: x{wall / batch.wall:.2f} the throughput (x{cpu / batch.cpu:.2f} in CPU time), "
          f"peak {batch.peak_mb:.0f} MB")


# ---------------------------------------------------------------------------------- child helpers
def child_rawpy(short: str, long: str) -> None:
    """rawpy's own development of both files (LINEAR demosaic, 16-bit, camera white balance)."""
    import rawpy

    for path in (short, long):
        with rawpy.imread(path) as raw:
            raw.postprocess(demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, output_bps=16,
                            use_camera_wb=True, no_auto_bright=True, gamma=(1, 1))


def child_tiles(size: str, sample: int, device: str, threads: int | None) -> None:
    """Network time of ``sample`` tiles of the default tiling of a ``size`` image, scaled to all tiles."""
    import torch

    from deblurnet import inference
    from deblurnet.inference import DEFAULT_OVERLAP, DEFAULT_TILE, fuse, load_model, tile_starts

    width, height = (int(v) for v in size.split("x"))
    model = load_model("deblur-rnn", device=device, threads=threads)
    step = DEFAULT_TILE - DEFAULT_OVERLAP
    tiles = len(tile_starts(height, DEFAULT_TILE, step)) * len(tile_starts(width, DEFAULT_TILE, step))
    rng = np.random.default_rng(0)
    batch = getattr(inference, "CUDA_BATCH", 1) if device == "cuda" else 1  # older code: 1
    sample = max(sample, 2 * batch)
    strip = (DEFAULT_TILE, DEFAULT_TILE + (sample - 1) * step)  # ``sample`` tiles in one row
    x = rng.random((*strip, 3), dtype=np.float32)
    n = np.full((*strip, 1), 0.02, np.float32)
    fuse(model, x, x, n, progress=False)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    start, cpu = time.perf_counter(), time.process_time()
    fuse(model, x, x, n, progress=False)
    if device == "cuda":
        torch.cuda.synchronize()
    per_tile = (time.perf_counter() - start) / sample
    cpu_per_tile = (time.process_time() - cpu) / sample
    print(json.dumps({"tiles": tiles, "tile_s": per_tile, "all_tiles_s": per_tile * tiles,
                      "all_tiles_cpu_s": cpu_per_tile * tiles}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=("small", "raw24", "process", "_peak", "_rawpy", "_tiles"))
    parser.add_argument("rest", nargs="*")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--code", type=Path, default=None, help="run the commands from this source tree")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--sample-tiles", type=int, default=28, help="tiles timed for the reference")
    parser.add_argument("--size", default="6000x4000")
    if len(sys.argv) > 2 and sys.argv[1] == "_peak":
        sys.exit(peak_wrapper(sys.argv[sys.argv.index("--") + 1:]))
    args = parser.parse_args()
    if args.part == "_rawpy":
        return child_rawpy(*args.rest)
    if args.part == "_tiles":
        return child_tiles(args.size, args.sample_tiles, args.device, args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-command-") as tmp:
        {"small": small, "raw24": raw24, "process": process}[args.part](args, Path(tmp))


if __name__ == "__main__":
    main()

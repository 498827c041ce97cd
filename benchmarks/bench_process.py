"""Per-pair time of ``burstcap process`` by stage: how much goes outside the network?

A synthetic W x H (default 4000 x 3000, 12 MP) short/long RGGB pair is written as DNGs
(isp.dng.write_dng; not timed). The pair then goes through the stages of
:func:`burstcap.process.fuse_one`, each timed on its own: decode (LibRaw), develop (isp), exposure
ratio, normalise + sRGB encode, align (burstcap.align), network (tiled deblurnet.inference.fuse),
decode to linear, write (16-bit TIFF), thumbnails. The reference is the real ``fuse_one`` on the same
pair in the same process (its total should match the sum of the stages). Target: everything outside
the network at most 25 % of the pair's time on CPU.

The network is the compact DeblurRNN with random weights (weights do not change its speed).

    python benchmarks/bench_process.py [--width 4000 --height 3000] [--threads 2] [--append docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

TARGET_OVERHEAD = 0.25


def make_pair(folder: Path, width: int, height: int) -> tuple[Path, Path]:
    """A textured scene: the long frame motion-blurred and shifted, the short one 8x darker and noisy."""
    from isp.dng import write_dng
    from isp.metadata import CaptureMetadata

    rng = np.random.default_rng(0)
    base = cv2.resize(rng.uniform(0.05, 0.9, (height // 64, width // 64, 3)).astype(np.float32),
                      (width, height), interpolation=cv2.INTER_CUBIC)
    detail = cv2.resize(rng.uniform(-0.1, 0.1, (height // 8, width // 8, 1)).astype(np.float32),
                        (width, height), interpolation=cv2.INTER_LINEAR)[..., None]
    scene = np.clip(base + detail, 0.01, 1.0)
    kernel = np.zeros((1, 15), np.float32)
    kernel[0, :] = 1 / 15
    shift = np.float32([[1, 0, 3.0], [0, 1, -2.0]])
    long = cv2.warpAffine(cv2.filter2D(scene, -1, kernel), shift, (width, height),
                          borderMode=cv2.BORDER_REFLECT)
    short = scene / 8 + rng.normal(0, 0.004, scene.shape).astype(np.float32)
    t0 = datetime(2026, 5, 1, 12)
    paths = []
    for name, rgb, exposure, when in (("short.dng", short, 1 / 120, t0),
                                      ("long.dng", long, 1 / 15, t0 + timedelta(seconds=1))):
        mosaic = np.empty((height, width), np.float32)
        mosaic[0::2, 0::2] = rgb[0::2, 0::2, 0]
        mosaic[0::2, 1::2] = rgb[0::2, 1::2, 1]
        mosaic[1::2, 0::2] = rgb[1::2, 0::2, 1]
        mosaic[1::2, 1::2] = rgb[1::2, 1::2, 2]
        adu = np.clip(512 + mosaic * (16383 - 512), 0, 16383).astype(np.uint16)
        meta = CaptureMetadata(make="Bench", model="Synthetic", exposure_time_s=exposure, iso=100.0,
                               f_number=4.0, timestamp=when)
        paths.append(write_dng(folder / name, adu, "RGGB", 512, 16383, metadata=meta))
    return paths[0], paths[1]


Times = dict[str, tuple[float, float]]  # stage -> (wall s, CPU s of this process)


def timed(times: Times, stage: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn``, adding its wall-clock and process CPU seconds to ``times[stage]``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    old = times.get(stage, (0.0, 0.0))
    times[stage] = (old[0] + time.perf_counter() - wall, old[1] + time.process_time() - cpu)
    return result


def staged(short_path: Path, long_path: Path, out: Path, model: torch.nn.Module) -> Times:
    """The stages of burstcap.process.fuse_one, each timed."""
    from burstcap.align import AlignOptions, estimate_alignment, warp_image
    from burstcap.fuse import from_network, normalisation_gain, to_network, write_output
    from burstcap.process import _thumb, _write_jpeg, thumb_path
    from deblurnet.inference import fuse
    from deblurnet.noise_map import estimated_noise_map
    from isp.develop import develop
    from isp.exposure import exposure_ratio
    from isp.io import LinearImage
    from isp.raw import read_raw

    t: Times = {}
    raws = [timed(t, "decode", lambda p=p: read_raw(p)) for p in (short_path, long_path)]
    rgbs = [timed(t, "develop", lambda r=r: develop(r)) for r in raws]
    images = [LinearImage(rgb, raw.metadata, raw.path, True) for rgb, raw in zip(rgbs, raws)]
    ratio = timed(t, "ratio", lambda: exposure_ratio(images[1], images[0]).ratio)
    gain = timed(t, "normalise", lambda: normalisation_gain(rgbs[1]))
    short_n = timed(t, "normalise", lambda: to_network(rgbs[0], gain * ratio))
    long_n = timed(t, "normalise", lambda: to_network(rgbs[1], gain))
    alignment = timed(t, "align", lambda: estimate_alignment(short_n, long_n, AlignOptions()))
    long_n = timed(t, "align", lambda: warp_image(long_n, alignment, fill=short_n))
    noise = timed(t, "normalise", lambda: estimated_noise_map(short_n))
    sharp = timed(t, "network", lambda: fuse(model, short_n, long_n, noise, progress=False))
    fused = timed(t, "normalise", lambda: from_network(sharp, gain))
    timed(t, "write", lambda: write_output(out, fused, raws[0].metadata, 16))
    strip = timed(t, "thumbs", lambda: np.hstack([_thumb(rgbs[0], gain * ratio, 160),
                                                  _thumb(rgbs[1], gain, 160), _thumb(fused, gain, 160)]))
    timed(t, "thumbs", lambda: _write_jpeg(thumb_path(out), strip))
    return t


def reference(short_path: Path, long_path: Path, out: Path, model: torch.nn.Module) -> tuple[float, float]:
    """The real per-pair code path of burstcap process, end to end: (wall s, CPU s)."""
    from burstcap.process import Pair, ProcessOptions, fuse_one

    t: Times = {}
    timed(t, "all", lambda: fuse_one(Pair(out.parent, short_path, long_path, None, "bench"), out, model,
                                     ProcessOptions()))
    return t["all"]


def report(times: Times, ref: tuple[float, float], width: int, height: int, threads: int) -> str:
    wall = sum(w for w, _ in times.values())
    cpu = sum(c for _, c in times.values())
    lines = [f"pair {width}x{height} ({width * height / 1e6:.1f} MP), CPU, {threads} torch/OpenCV "
             f"thread(s), {platform.machine()}, {torch.get_num_threads()} torch threads in use", "",
             "| stage | wall s | share | CPU s | share |", "|---|---|---|---|---|"]
    lines += [f"| {stage} | {w:.2f} | {w / wall:.1%} | {c:.2f} | {c / cpu:.1%} |"
              for stage, (w, c) in times.items()]
    lines += [f"| **total (stages)** | {wall:.2f} | 100% | {cpu:.2f} | 100% |",
              f"| reference: `fuse_one` end to end | {ref[0]:.2f} | x{ref[0] / wall:.2f} | {ref[1]:.2f} | "
              f"x{ref[1] / cpu:.2f} |", ""]
    for name, total, net in (("wall", wall, times["network"][0]), ("CPU", cpu, times["network"][1])):
        share = (total - net) / total
        lines.append(f"outside the network ({name}): {total - net:.2f} s = {share:.1%} of the pair "
                     f"(target <= {TARGET_OVERHEAD:.0%}: {'met' if share <= TARGET_OVERHEAD else 'NOT met'})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=4000, help="pair width in pixels (default 4000)")
    parser.add_argument("--height", type=int, default=3000, help="pair height in pixels (default 3000)")
    parser.add_argument("--threads", type=int, default=2, help="torch/OpenCV threads (default 2)")
    parser.add_argument("--append", type=Path, default=None,
                        help="append the table to this Markdown file (under '## process')")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    from deblurnet.inference import prepare_model
    from deblurnet.models import create_model

    torch.manual_seed(0)
    model = prepare_model(create_model("deblur-rnn", "compact"), "cpu", threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        short, long = make_pair(folder, args.width, args.height)
        times = staged(short, long, folder / "staged.tif", model)
        ref = reference(short, long, folder / "reference.tif", model)
    text = report(times, ref, args.width, args.height, args.threads)
    print(text)
    if args.append:
        heading = "" if "\n## process" in args.append.read_text() else "\n## process\n"
        with args.append.open("a") as handle:
            handle.write(f"{heading}\n`python benchmarks/bench_process.py --width {args.width} --height {args.height} "
                         f"--threads {args.threads}`, {time.strftime('%Y-%m-%d')}:\n\n{text}\n")


if __name__ == "__main__":
    main()

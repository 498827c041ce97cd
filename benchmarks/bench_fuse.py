"""Speed and memory of `burstcap fuse`: a 1280x720 pair, a 24 MP pair (tiled), tiled vs whole.

Figures are printed in seconds and as ratios to
* a reference workload run in the same process (one 3x3 convolution 32 -> 32 channels over 1280x720,
  as in bench_models.py), so runs on different machines compare;
* the paper's 1.1 s per 1280x720 pair for DeblurRNN on a GTX 1080 Ti.

Targets: CPU (2 cores): 1280x720 compact DeblurRNN <= 1.0 s, paper preset <= 6 s, 24 MP tiled peak
memory <= 3 GB. CUDA: 1280x720 <= 20 ms, 24 MP <= 1 s (fp16, channels-last, warm-up excluded, median
of many runs, synchronised). Timings do not depend on the weights, so untrained models are used
(their BatchNorm / spectral-norm estimates settled by a few train-mode passes); the tiled-vs-whole
comparison uses the shipped weights when present, else an untrained model with its residual gain at 1
(a worst case: the network changes the image a lot).

    python benchmarks/bench_fuse.py                       # CPU, all parts (about 2 min of CPU)
    python benchmarks/bench_fuse.py --device cuda         # GPU figures
    python benchmarks/bench_fuse.py --skip-big --no-paper # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import cv2
import numpy as np
import torch

from deblurnet.noise_map import estimated_noise_map

PAPER_SECONDS = 1.1  # DeblurRNN, 1280x720, GTX 1080 Ti (paper, Table III)


def settled_model(preset: str, device: str, gain: float | None = None) -> torch.nn.Module:
    """An untrained DeblurRNN ready for eval; ``gain`` overrides its residual gains."""
    from deblurnet.inference import untrained_model

    overrides = {} if gain is None else {"residual_gain": gain}
    return untrained_model("deblur-rnn", preset, device, threads=torch.get_num_threads(), **overrides)


def comparison_model(device: str) -> tuple[torch.nn.Module, str]:
    from deblurnet.inference import load_model, shipped_weights

    if shipped_weights("deblur-rnn").is_file():
        return load_model("deblur-rnn", device=device, threads=torch.get_num_threads()), "shipped weights"
    return settled_model("compact", device, gain=1.0), "untrained, residual gain 1"


def scene(width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(short, long, sharp) network-domain float32 (H, W, 3): a mosaic of scikit-image photographs,
    the short one noisy, the long one blurred by a 15-pixel horizontal motion."""
    from skimage import data

    tiles = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    cell = (max(64, width // 2), max(64, height // 2))
    row = [cv2.resize(t, cell, interpolation=cv2.INTER_CUBIC) for t in tiles]
    sharp = np.vstack([np.hstack(row[:2]), np.hstack(row[2:])])[:height, :width]
    sharp = cv2.resize(sharp, (width, height)).astype(np.float32) / 255.0
    rng = np.random.default_rng(seed)
    short = sharp + rng.normal(0.0, 0.05, sharp.shape).astype(np.float32)
    np.clip(short, 0.0, 1.0, out=short)
    long = cv2.blur(sharp, (15, 1))
    return short, long, sharp


def timed(fn: Callable[[], object], runs: int, cuda: bool) -> float:
    """Median wall time of ``runs`` calls after warm-up calls (3 on CUDA, 1 on the CPU), seconds."""
    for _ in range(3 if cuda else 1):
        fn()
    times = []
    for _ in range(runs):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


# ------------------------------------------------------------------------------------------ parts


def reference(cuda: bool) -> float:
    device = "cuda" if cuda else "cpu"
    conv = torch.nn.Conv2d(32, 32, 3, padding=1).eval().to(device)
    x = torch.rand(1, 32, 720, 1280, device=device)
    if cuda:
        conv, x = conv.half(), x.half()
    with torch.inference_mode():
        return timed(lambda: conv(x), 20 if cuda else 3, cuda)


def bench_720p(preset: str, device: str, runs: int, ref: float) -> dict[str, float]:
    from deblurnet.inference import fuse

    model = settled_model(preset, device)
    short, long, _ = scene(1280, 720)
    noise = estimated_noise_map(short)
    t = timed(lambda: fuse(model, short, long, noise, tile=None), runs, device == "cuda")
    print(f"1280x720 {preset:8s} whole image: {t:7.3f} s  ({t / ref:6.1f} x reference, "
          f"{t / PAPER_SECONDS:5.2f} x paper's 1.1 s on a GTX 1080 Ti)")
    return {"seconds": t, "x_reference": t / ref, "x_paper": t / PAPER_SECONDS}


def _status_mb(key: str) -> float | None:
    try:
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def current_rss_mb() -> float:
    """Resident memory now, MB (Linux /proc; else the peak so far)."""
    return _status_mb("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0: clear_refs 5); else no-op."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """Peak resident memory since the last reset (VmHWM), MB; else getrusage's maxrss."""
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def big_child(width: int, height: int, device: str, tile: int, overlap: int, threads: int) -> None:
    """Run in a subprocess: fuse_arrays on a width x height pair; print JSON with times and maxrss."""
    torch.set_num_threads(threads)
    from burstcap.fuse import fuse_arrays
    from isp.color import srgb_decode

    model = settled_model("compact", device)
    short, long, _ = scene(width, height)
    short_lin = srgb_decode(short) / np.float32(8.0)  # a short frame at 1/8 of the exposure
    long_lin = srgb_decode(long)
    del short, long
    before = current_rss_mb()
    reset_peak_rss()  # so the peak below is the fusion's, not the scene synthesis'
    t0 = time.perf_counter()
    result = fuse_arrays(short_lin, long_lin, 8.0, model, tile=tile, overlap=overlap, progress=False)
    if device == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - t0
    peak = peak_rss_mb()
    network = result.seconds["network"]
    if device == "cuda":  # the GPU target is the network on a warm device: time it again
        from deblurnet.inference import fuse
        from burstcap.fuse import to_network

        a, b = to_network(short_lin, result.gain * 8.0), to_network(long_lin, result.gain)
        noise = estimated_noise_map(a)
        network = timed(lambda: fuse(model, a, b, noise, tile=tile, overlap=overlap, progress=False), 5, True)
    print(json.dumps({"total_s": total, "steps_s": result.seconds, "network_s": network,
                      "rss_before_mb": before, "peak_rss_mb": peak,
                      "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None}))


def bench_big(width: int, height: int, device: str, tile: int, overlap: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child", f"{width}x{height}", "--device", device,
           "--tile", str(tile), "--overlap", str(overlap), "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise SystemExit(f"24 MP child failed:\n{proc.stderr[-3000:]}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    steps = ", ".join(f"{k} {v:.2f}" for k, v in figures["steps_s"].items())
    print(f"{width}x{height} tiled ({tile}/{overlap}) fuse_arrays: {figures['total_s']:.2f} s ({steps}); "
          f"network {figures['network_s']:.3f} s; peak RSS {figures['peak_rss_mb']:.0f} MB "
          f"(of which inputs + libraries before fusing: {figures['rss_before_mb']:.0f} MB)"
          + (f"; GPU peak {figures['gpu_peak_mb']:.0f} MB" if figures["gpu_peak_mb"] else ""))
    return figures


def bench_tiled_vs_whole(width: int, height: int, device: str, tile: int, overlap: int) -> dict:
    from deblurnet.inference import fuse

    model, kind = comparison_model(device)
    short, long, sharp = scene(width, height, seed=1)
    noise = estimated_noise_map(short)
    whole = fuse(model, short, long, noise, tile=None)
    tiled = fuse(model, short, long, noise, tile=tile, overlap=overlap, progress=False)
    diff = abs(psnr(tiled, sharp) - psnr(whole, sharp))
    agree = psnr(tiled, whole)
    print(f"{width}x{height} tiled ({tile}/{overlap}) vs whole image ({kind}): |dPSNR vs sharp| "
          f"{diff:.4f} dB, PSNR(tiled, whole) {agree:.1f} dB, max |diff| {np.abs(tiled - whole).max():.2e}")
    return {"dpsnr_db": diff, "psnr_tiled_vs_whole_db": agree}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the network runs")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--runs", type=int, default=None, help="timed runs, median kept (default 3 CPU, 50 CUDA)")
    p.add_argument("--no-paper", action="store_true", help="skip the paper preset (slow on a CPU)")
    p.add_argument("--skip-big", action="store_true", help="skip the 24 MP pair")
    p.add_argument("--big", default="6000x4000", help="size of the big pair (default 6000x4000 = 24 MP)")
    p.add_argument("--compare", default=None,
                   help="size for tiled vs whole (default 2048x1536 on CPU, the big size on CUDA)")
    p.add_argument("--tile", type=int, default=None,
                   help="tile side (default 512 CPU, 2048 CUDA; tiled vs whole: 256 CPU)")
    p.add_argument("--overlap", type=int, default=64, help="tile overlap (default 64)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA GPU here")
    torch.set_num_threads(args.threads)
    tile = args.tile or (2048 if cuda else 512)
    if args.child:
        width, height = map(int, args.child.split("x"))
        big_child(width, height, args.device, tile, args.overlap, args.threads)
        return

    ref = reference(cuda)
    where = torch.cuda.get_device_name() if cuda else f"cpu, {torch.get_num_threads()} threads"
    print(f"device: {where}; reference (3x3 conv 32->32 at 1280x720): {ref * 1000:.2f} ms")
    runs = args.runs or (50 if cuda else 3)
    bench_720p("compact", args.device, runs, ref)
    if not args.no_paper:
        bench_720p("paper", args.device, max(1, runs // 2) if not cuda else runs, ref)
    if not args.skip_big:
        width, height = map(int, args.big.split("x"))
        bench_big(width, height, args.device, tile, args.overlap, args.threads)
    compare = args.compare or (args.big if cuda else "2048x1536")
    width, height = map(int, compare.split("x"))
    bench_tiled_vs_whole(width, height, args.device, args.tile or (256 if not cuda else tile), args.overlap)


if __name__ == "__main__":
    main()

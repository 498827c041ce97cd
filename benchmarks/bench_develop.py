"""Speed and peak memory of isp.develop on a 24 MP Bayer mosaic, beside rawpy's own postprocess.

One synthetic 6000x4000 RGGB scene is written as a DNG (isp.dng.write_dng) in a temp folder; each
method then runs in its own subprocess (so peak RSS is its own): the mosaic is loaded first
(isp.raw.read_raw, or rawpy.imread for the reference), then the processing step is timed and its
peak memory is the growth of the peak RSS (VmHWM, reset just before) over the RSS before it. The reference is LibRaw's
postprocess (LINEAR demosaic, 16-bit linear output) on the same file in the same run.
Targets: develop (bilinear) <= 1.5 x rawpy's time, peak memory <= 1.5 GB.

    python benchmarks/bench_develop.py [--width 6000 --height 4000] [--repeat 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = ("rawpy-linear", "bilinear", "opencv-ea", "half-size", "libraw-linear")


def rss_mb() -> float:
    """Current resident set size of this process, MB (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux VmHWM) to its current RSS; False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MB: VmHWM (since the last reset), else ru_maxrss."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1e3
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def make_dng(path: Path, width: int, height: int) -> None:
    """A smooth, textured synthetic scene, unprocessed to a 14-bit RGGB DNG."""
    import cv2
    import numpy as np

    from isp.unprocess import UnprocessParams, linear_to_mosaic, mosaic_to_adu, write_unprocessed_dng

    rng = np.random.default_rng(0)
    small = cv2.GaussianBlur(rng.uniform(0.0, 0.6, (height // 16, width // 16, 3)).astype(np.float32), (0, 0), 2)
    linear = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    linear += rng.normal(0, 0.01, (height, width, 1)).astype(np.float32)  # fine texture
    params = UnprocessParams()
    mosaic = linear_to_mosaic(linear, params)
    del linear
    write_unprocessed_dng(path, mosaic_to_adu(mosaic, params.black_level, params.white_level), params)


def worker(method: str, dng: Path, repeat: int) -> dict[str, float]:
    """Load the input, then time ``method`` ``repeat`` times; returns seconds and MB figures."""
    import numpy as np

    if method == "rawpy-linear":
        import rawpy

        raw = rawpy.imread(str(dng))

        def step() -> object:
            return raw.postprocess(
                demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, gamma=(1, 1), no_auto_bright=True,
                output_bps=16, user_flip=0, adjust_maximum_thr=0, use_camera_wb=True,
            )
    else:
        from isp.develop import develop
        from isp.raw import read_raw

        image = read_raw(dng)
        demosaic = "bilinear" if method == "half-size" else method

        def step() -> object:
            return develop(image, demosaic=demosaic, half_size=method == "half-size")

    before = rss_mb()
    reset_peak_rss()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = step()
        times.append(time.perf_counter() - t0)
        shape = np.shape(out)
        del out
    return {"seconds": min(times), "peak_mb": peak_rss_mb() - before, "input_mb": before, "shape": list(shape)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=6000, help="mosaic width in pixels (default 6000)")
    parser.add_argument("--height", type=int, default=4000, help="mosaic height in pixels (default 4000)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per method, best kept (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV / OpenMP threads (default 1)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--dng", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        import cv2

        cv2.setNumThreads(args.threads)
        print(json.dumps(worker(args.worker, args.dng, args.repeat)))
        return

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    with tempfile.TemporaryDirectory(prefix="bench-develop-") as tmp:
        dng = Path(tmp) / "scene.dng"
        make_dng(dng, args.width, args.height)
        print(f"{args.width}x{args.height} RGGB DNG ({dng.stat().st_size / 1e6:.0f} MB), "
              f"{args.threads} thread(s), best of {args.repeat}")
        results: dict[str, dict[str, float]] = {}
        for method in args.methods.split(","):
            command = [sys.executable, __file__, "--worker", method, "--dng", str(dng),
                       "--repeat", str(args.repeat), "--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
            results[method] = json.loads(done.stdout.strip().splitlines()[-1])

    reference = results.get("rawpy-linear")
    print(f"{'method':16s} {'output':>16s} {'time s':>8s} {'x rawpy':>8s} {'peak MB':>8s} {'x rawpy':>8s}")
    for method, r in results.items():
        shape = "x".join(str(v) for v in r["shape"])
        t_ratio = f"{r['seconds'] / reference['seconds']:8.2f}" if reference else "       -"
        m_ratio = f"{r['peak_mb'] / reference['peak_mb']:8.2f}" if reference else "       -"
        print(f"{method:16s} {shape:>16s} {r['seconds']:8.3f} {t_ratio} {r['peak_mb']:8.0f} {m_ratio}")
    if reference and "bilinear" in results:
        ours = results["bilinear"]
        ok_time = ours["seconds"] <= 1.5 * reference["seconds"]
        ok_mem = ours["peak_mb"] <= 1500
        print(f"target develop(bilinear) <= 1.5 x rawpy time: {'met' if ok_time else 'MISSED'}; "
              f"peak <= 1.5 GB: {'met' if ok_mem else 'MISSED'}")


if __name__ == "__main__":
    main()

"""The real smartphone pairs (../shared/data/real_pairs, no ground truth) through `burstcap fuse`, and
the pictures of docs/real-pairs.md.

For each pair: `short x ratio | long | fused` with the shipped DeblurRNN (docs/real-<name>.jpg), and
one crop panel per pair, where residual noise shows: the hall's night sky and
the wolf's wall, with their contrast stretched four times around the crop's mean (a plain x4 gain
would clip the bright wall), as `short x ratio (non-local means) | v1 | v2 | v3 | v4 | v5 | shipped weights`
(docs/real-pairs-crops.jpg). v1 is the release before the noise-aware fine-tuning, v2 the noise-aware
first stage, v3 its second stage on mild noise, v4 its third on coarser grain, v5 its fourth on
near-sharp long frames (data-cache/init/deblur-rnn-v1|v2|v3|v4|v5.safetensors,
fetched from git history by `make results`); each is skipped when absent.

    python benchmarks/real_pairs.py [--data ../shared/data] [--out docs]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from burstcap.compare import comparison, linear_panel, write_jpeg, write_pair_comparison
from burstcap.fuse import FuseOptions, fuse_pair
from deblurnet.baselines import denoise_nlm
from isp.color import srgb_decode, srgb_encode
from isp.io import read_linear

ROOT = Path(__file__).resolve().parents[1]
EARLIER = {f"v{n}": ROOT / "data-cache" / "init" / f"deblur-rnn-v{n}.safetensors" for n in range(1, 6)}
"""Earlier releases shown beside the shipped weights when present (``make results`` fetches them)."""
CROPS = {"hall": (slice(0, 240), slice(0, 240)), "wolf": (slice(120, 360), slice(0, 240))}
"""Regions (rows, columns) of the 800x800 frames: the hall's night sky, the wolf's plain wall."""
BRIGHTEN = 4.0


def stretched(panel: np.ndarray) -> np.ndarray:
    """An sRGB (h, w, 3) panel with its contrast around its own mean multiplied by BRIGHTEN."""
    mean = panel.mean(axis=(0, 1), keepdims=True)
    return np.clip(mean + np.float32(BRIGHTEN) * (panel - mean), 0.0, 1.0)


def fuse(name: str, data: Path, out: Path, weights: Path | None, release: str = "") -> tuple[np.ndarray, object]:
    folder = data / "real_pairs" / name
    target = out / f"{name}{'-' + release if release else ''}.tif"
    result = fuse_pair(folder / "short.png", folder / "long.png", target, FuseOptions(weights=weights))
    for line in result.warnings:
        print(f"  warning: {line}")
    print(f"{name}{f' ({release})' if release else ''}: ratio {result.ratio:.3g} ({result.ratio_source}), "
          f"{result.alignment.method}, shift {result.alignment.shift_px:.1f} px, {result.seconds:.1f} s")
    return read_linear(target).rgb, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--work", type=Path, default=ROOT / "data-cache" / "real-pairs")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, (rows_, cols) in CROPS.items():
        fused, result = fuse(name, args.data, args.work, None)
        short = read_linear(args.data / "real_pairs" / name / "short.png").rgb
        long = read_linear(args.data / "real_pairs" / name / "long.png").rgb
        write_pair_comparison(args.out / f"real-{name}.jpg", short, long, fused, result.ratio, result.gain)
        # crops, brightened: the short frame denoised by non-local means (at the display gain), v1, now
        gain = result.gain
        short_shown = srgb_encode(np.clip(short * np.float32(result.ratio * result.gain), 0, 1))
        denoised = srgb_decode(denoise_nlm(short_shown)) / np.float32(result.gain)
        panels = [("non-local means", stretched(linear_panel(denoised[rows_, cols], gain, 360)))]
        for release, path in EARLIER.items():
            if path.is_file():
                old, _ = fuse(name, args.data, args.work, path, release)
                panels.append((f"{release} weights", stretched(linear_panel(old[rows_, cols], gain, 360))))
        panels.append(("shipped weights", stretched(linear_panel(fused[rows_, cols], gain, 360))))
        rows.append(comparison([(f"{name}, contrast x{BRIGHTEN:g}: {label}", p) for label, p in panels]))
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    write_jpeg(args.out / "real-pairs-crops.jpg", sheet)
    print(f"wrote {args.out}/real-hall.jpg, real-wolf.jpg, real-pairs-crops.jpg")
    return 0


if __name__ == "__main__":
    sys.exit(main())

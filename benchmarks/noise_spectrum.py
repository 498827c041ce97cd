"""How the noise of real camera JPEGs compares with the synthesis' noise: level, colour and spatial scale.

For each source, the noise is (noisy short frame - clean truth), network domain; per pair: the std of its
high-pass part (minus a Gaussian blur of 2 px), the chroma / luma variance ratio (BT.601 luma, B - Y and
R - Y), and the share of the luma noise's power in four radial frequency bands (cycles per pixel).
Printed as medians over the pairs. Sources: triplet folders given with --set (e.g. data-cache/test-polyu,
built by `make results`), and the training synthesis of a training config's [synth] table (--config;
`stills` protocol crops, split into in-camera JPEG rendering and RAW-like rendering). The findings are in
docs/training.md ("Where the losses on real noise come from").

    python benchmarks/noise_spectrum.py --set data-cache/test-polyu --set data-cache/test-raw \\
        --config configs/deblur-rnn-mild-noise.toml [--count 60] [--crop 128]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from deblurnet.config import load_toml
from deblurnet.data import list_triplets, read_triplet
from deblurnet.synth.config import SynthConfig, Synthesizer

BANDS = ((0.0, 1 / 16), (1 / 16, 1 / 8), (1 / 8, 1 / 4), (1 / 4, 1.0))
"""Radial frequency bands, cycles per pixel (0.5 is the Nyquist frequency along an axis)."""


def noise_statistics(noise: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 noise -> [high-pass std, chroma / luma variance, power share per BANDS]."""
    y = 0.299 * noise[..., 0] + 0.587 * noise[..., 1] + 0.114 * noise[..., 2]
    chroma = (np.var(noise[..., 2] - y) + np.var(noise[..., 0] - y)) / 2
    power = np.abs(np.fft.fft2(y - y.mean())) ** 2
    fy, fx = np.fft.fftfreq(y.shape[0])[:, None], np.fft.fftfreq(y.shape[1])[None, :]
    radius = np.sqrt(fx ** 2 + fy ** 2)
    total = power[radius > 0].sum()
    shares = [power[(radius > lo) & (radius <= hi)].sum() / total for lo, hi in BANDS]
    high_pass = noise - cv2.GaussianBlur(noise, (0, 0), 2)
    return np.array([high_pass.std(), chroma / max(float(np.var(y)), 1e-12), *shares])


def report(name: str, rows: list[np.ndarray]) -> None:
    m = np.median(np.array(rows), axis=0)
    bands = " | ".join(f"{share:.0%}" for share in m[2:])
    print(f"| {name} ({len(rows)}) | {m[0]:.4f} | {m[1]:.2f} | {bands} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", action="append", default=[], type=Path, help="a triplet folder (repeatable)")
    p.add_argument("--config", action="append", default=[], type=Path,
                   help="a training config whose [synth] table is sampled (repeatable)")
    p.add_argument("--count", type=int, default=60, help="synthetic crops per rendering (default 60)")
    p.add_argument("--crop", type=int, default=128, help="synthetic crop side, px (default 128)")
    p.add_argument("--seed", type=int, default=5)
    args = p.parse_args()
    print("| noise (pairs) | high-pass std | chroma / luma variance | "
          + " | ".join(f"{lo:.3g} - {hi:.3g} cycle/px" for lo, hi in BANDS) + " |")
    print("|---" * (3 + len(BANDS)) + "|")
    for root in args.set:
        rows = []
        for name in list_triplets(root):
            short, _, sharp = read_triplet(root, name)
            rows.append(noise_statistics(short - sharp))
        report(str(root), rows)
    for config in args.config:
        synth = SynthConfig.from_dict(load_toml(config).synth, source=str(config), prefix="synth.")
        synth.size = args.crop
        synthesizer, rng = Synthesizer(synth), np.random.default_rng(args.seed)
        rows_by: dict[str, list[np.ndarray]] = {"processed": [], "raw-like": []}
        for _ in range(20 * args.count):  # a rendering the config rarely draws may end with fewer
            if min(len(rows) for rows in rows_by.values()) >= args.count:
                break
            triplet = synthesizer.sample(rng, protocol="stills")
            kind = "processed" if triplet.meta.get("rendering") == "processed" else "raw-like"
            if len(rows_by[kind]) < args.count:
                rows_by[kind].append(noise_statistics(triplet.short - triplet.sharp))
        for kind, rows in rows_by.items():
            if rows:
                report(f"{config.stem}, {kind}", rows)


if __name__ == "__main__":
    main()

"""What DeblurRNN makes of its inputs on held-out triplets: four fuse-time changes, no retraining.

Where the network loses to non-local means on real camera noise (PolyU), is it the noise map, the
long frame, or the grain's scale? Each variant runs the shipped network (``deblurnet.inference.fuse``,
output clipped to [0, 1] as ``deblurnet evaluate`` scores it) on every triplet of each folder:

- ``map xK``: the triplet's noise map times K (``--map-scales``): does telling the network the noise
  is stronger make it denoise more?
- ``long = short denoised`` / ``long = short``: the long frame replaced by non-local means of the short
  frame, or by the short frame itself, so that only the short frame's information is left: the
  network as a single-image denoiser.
- ``long = the truth``: the long frame replaced by the truth itself, sharp and clean: how much of a
  long frame that needs no deblurring the network takes (copying it would score without bound).
- ``pixel shuffle x2``: the pixel-shuffle downsampling of Zhou et al. 2020 ("When AWGN-based denoiser
  meets real noises"): the three inputs split into their four 2-px-strided sub-images, each fused on
  its own and put back. Camera grain correlated over a few pixels is closer to white in each
  sub-image, the noise a denoiser trained on white noise knows.

Per set it prints mean PSNR (8-bit sRGB values as floats, peak 1) and the pairs worse than the best
input (non-local means of the short frame, or the long frame). Findings at the end of docs/training.md's
"A risk estimate at fuse time".

    python benchmarks/network_inputs.py data-cache/test-polyu data-cache/val-stills data-cache/test-lsd2
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from deblurnet.baselines import denoise_nlm
from deblurnet.data import list_triplets, read_noise_map, read_triplet
from deblurnet.inference import fuse, load_model

Fuse = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def pixel_shuffle_fuse(fuse_one: Fuse, short: np.ndarray, long: np.ndarray, noise: np.ndarray,
                       stride: int = 2) -> np.ndarray:
    """``fuse_one`` run on each of the stride x stride strided sub-images of the (H, W, C) inputs, the
    results put back in place: (H, W, 3). Rows and columns past the last whole stride keep ``short``."""
    h, w = short.shape[:2]
    hh, ww = h // stride * stride, w // stride * stride
    out = np.array(short, np.float32)
    for i in range(stride):
        for j in range(stride):
            part = [np.ascontiguousarray(a[i:hh:stride, j:ww:stride]) for a in (short, long, noise)]
            out[i:hh:stride, j:ww:stride] = fuse_one(*part)
    return out


def variants(model: torch.nn.Module, map_scales: list[float]) -> dict[str, Callable[..., np.ndarray]]:
    """Name -> function (short, long, noise, truth) -> output (H, W, 3) in [0, 1], one per variant (only
    ``long = the truth`` looks at the truth)."""
    def net(s: np.ndarray, lg: np.ndarray, n: np.ndarray) -> np.ndarray:
        return np.clip(fuse(model, s, lg, n, progress=False), 0.0, 1.0)

    out: dict[str, Callable[..., np.ndarray]] = {"network": lambda s, lg, n, x: net(s, lg, n)}
    for k in map_scales:
        out[f"map x{k:g}"] = lambda s, lg, n, x, k=k: net(s, lg, n * np.float32(k))
    out["long = short denoised"] = lambda s, lg, n, x: net(s, denoise_nlm(s), n)
    out["long = short"] = lambda s, lg, n, x: net(s, s, n)
    out["long = the truth"] = lambda s, lg, n, x: net(s, x, n)
    out["pixel shuffle x2"] = lambda s, lg, n, x: np.clip(pixel_shuffle_fuse(net, s, lg, n), 0.0, 1.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="+", type=Path, help="triplet folders (make results)")
    parser.add_argument("--weights", default=None, help="DeblurRNN weights (default: the shipped ones)")
    parser.add_argument("--map-scales", default="1.5,2,3", help="noise-map factors, comma-separated")
    args = parser.parse_args()
    model = load_model("deblur-rnn", args.weights, device="cpu", threads=1)
    runs = variants(model, [float(k) for k in args.map_scales.split(",") if k])
    for root in args.sets:
        mse: dict[str, list[float]] = {name: [] for name in runs}
        best = []
        for name in list_triplets(root):
            short, long, sharp = read_triplet(root, name)
            noise = read_noise_map(root, name, short)
            best.append(min(float(((img - sharp) ** 2).mean()) for img in (denoise_nlm(short), long)))
            for label, run in runs.items():
                mse[label].append(float(((run(short, long, noise, sharp) - sharp) ** 2).mean()))
        print(f"{root.name}:")
        for label, values in mse.items():
            psnr = float(np.mean([-10 * np.log10(v) for v in values]))
            worse = sum(v > b for v, b in zip(values, best))
            print(f"  {label:22s} {psnr:.2f} dB ({worse} of {len(values)} worse)")


if __name__ == "__main__":
    main()

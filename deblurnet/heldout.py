"""Held-out evaluation sets from material the networks never trained on, as triplet folders.

Each builder writes the layout of :mod:`deblurnet.data` (short/ long/ sharp/ 8-bit PNGs, short already
ratio-scaled) so that ``deblurnet evaluate`` scores networks and baselines on it. Every short frame
here is an sRGB file, so its noise map (noise/) is the single-image estimate fusion computes for sRGB
input (:func:`deblurnet.noise_map.estimated_noise_map`).

* :func:`build_lsd2`: LSD2's published synthetic triplets (Mustaniemi et al., BMVC 2020) *as they are*:
  another group's synthesis (phone-like noise, tone and colour that differ between the frames). The
  short frame is scaled by the exposure ratio estimated from the images, as ``burstcap fuse`` does
  without ``--ratio`` (:func:`isp.exposure.ratio_from_images`, with the global-mean fallback), and
  given the long frame's colour balance, as fusion does (:func:`deblurnet.colour.match_colour`).
* :func:`build_polyu`: real camera noise. Each PolyU crop (Xu et al. 2018; one high-ISO JPEG shot,
  ``*_real``, of a static scene and the mean of ~500 shots, ``*_mean``) gives one pair: short = the real
  noisy JPEG as is (ratio 1: same exposure), long = the mean blurred by a random camera-shake kernel
  in linear light and shifted by a few pixels, truth = the mean. The noise is the camera's own (sensor
  noise after its demosaic, denoise, sharpening and JPEG), which no synthesis here reproduces exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from deblurnet.colour import match_colour
from deblurnet.data import KEYS, write_triplet
from deblurnet.errors import DeblurnetError
from deblurnet.noise_map import estimated_noise_map
from deblurnet.synth.common import Triplet, estimate_ratio, read_rgb8, srgb_decode, srgb_encode, u8_to_float
from deblurnet.synth.stills import StillsParams, shake_trajectory


def build_lsd2(source: Path, out: Path) -> list[dict[str, object]]:
    """LSD2 triplets of ``source`` (short/, long/, sharp/ PNGs) -> triplet folder ``out``; returns one
    record per pair (name, ratio, ratio source)."""
    names = sorted(p.name for p in (Path(source) / "short").glob("*.png"))
    if not names:
        raise DeblurnetError(f"{source}: no short/*.png (expected LSD2's short/, long/, sharp/ folders)")
    records = []
    for name in tqdm(names, desc="lsd2", unit="pair", leave=False):
        short, long, sharp = (u8_to_float(read_rgb8(Path(source) / key / name)) for key in KEYS)
        ratio, how = estimate_ratio(long, short)
        scaled, _ = match_colour(srgb_encode(srgb_decode(short) * np.float32(ratio)), long)
        write_triplet(out, name, Triplet(scaled, long, sharp, ratio, estimated_noise_map(scaled)))
        records.append({"name": name, "ratio": ratio, "ratio_source": how})
    return records


@dataclass(frozen=True)
class ShakeParams:
    """Camera shake of the PolyU long frames: kernel extent (px) and a global shift (px), uniform."""

    extent_px: tuple[float, float] = (6.0, 24.0)
    shift_px: tuple[float, float] = (1.0, 4.0)


def shake_kernel(extent: float, rng: np.random.Generator) -> np.ndarray:
    """A (k, k) float32 camera-shake PSF summing to 1: the path of a random walk with momentum (the
    stills protocol's shake model) over ``extent`` px, drawn with bilinear splats."""
    poses = shake_trajectory(200, 0, extent, StillsParams(), 256, rng)[:, :2]
    poses -= poses.mean(axis=0)
    k = 2 * int(np.ceil(np.abs(poses).max())) + 3
    kernel = np.zeros((k, k), np.float64)
    for x, y in poses + k // 2:
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        kernel[y0, x0] += (1 - fx) * (1 - fy)
        kernel[y0, x0 + 1] += fx * (1 - fy)
        kernel[y0 + 1, x0] += (1 - fx) * fy
        kernel[y0 + 1, x0 + 1] += fx * fy
    return (kernel / kernel.sum()).astype(np.float32)


def shaken(sharp: np.ndarray, params: ShakeParams, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """sRGB (H, W, 3) -> the same view blurred by a shake kernel in linear light and shifted."""
    extent = float(rng.uniform(*params.extent_px))
    kernel = shake_kernel(extent, rng)
    lin = cv2.filter2D(srgb_decode(sharp), -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    angle = rng.uniform(0, 2 * np.pi)
    dist = rng.uniform(*params.shift_px)
    dx, dy = dist * np.cos(angle), dist * np.sin(angle)
    m = np.array([[1, 0, dx], [0, 1, dy]], np.float64)
    lin = cv2.warpAffine(lin, m, lin.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return srgb_encode(lin), {"extent_px": extent, "shift_px": [float(dx), float(dy)]}


def build_polyu(source: Path, out: Path, seed: int = 0, params: ShakeParams | None = None
                ) -> list[dict[str, object]]:
    """PolyU crops of ``source`` (``*_real.JPG`` + ``*_mean.JPG``) -> triplet folder ``out`` (names
    ``<stem>.png``); returns one record per pair (name, kernel extent, shift)."""
    params = params or ShakeParams()
    reals = sorted(Path(source).glob("*_real.JPG"))
    if not reals:
        raise DeblurnetError(f"{source}: no *_real.JPG files (expected PolyU's cropped images)")
    records = []
    for i, real in enumerate(tqdm(reals, desc="polyu", unit="pair", leave=False)):
        mean = real.with_name(real.name.replace("_real", "_mean"))
        if not mean.is_file():
            raise DeblurnetError(f"{real}: no matching {mean.name}")
        short, sharp = u8_to_float(read_rgb8(real)), u8_to_float(read_rgb8(mean))
        long, shake = shaken(sharp, params, np.random.default_rng([seed, i]))
        short, _ = match_colour(short, long)
        name = real.stem.removesuffix("_real") + ".png"
        write_triplet(out, name, Triplet(short, long, sharp, 1.0, estimated_noise_map(short)))
        records.append({"name": name, **shake})
    return records


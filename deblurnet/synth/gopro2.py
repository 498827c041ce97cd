"""The paper's GOPRO2 protocol (section III-C) on a folder of consecutive sharp video frames.

Decisions where the paper is vague (documented here, tested in tests/test_synth.py):
- a sample starts at any frame s of the allowed range such that s + 1 + n <= last allowed frame;
  ground truth = frame s, frame s+1 is dropped (time lag), blurry = mean of frames s+2 .. s+1+n,
  n ~ U{blur_frames};
- frames are averaged in linear light (inverse sRGB), then re-encoded to sRGB;
- noisy: f ~ U[scale]; ratio = 1/f. If f < shot_threshold: shot noise, eq. 8 on the dim frame
  f*I with sigma_s levels, I_N = Poisson(sigma_s f I) / sigma_s, then pre-scaled by 1/f (variance
  I / (sigma_s f) in the network input). Otherwise Gaussian read noise of std sigma_r ~ U[read_sigma]
  as seen after ratio pre-scaling (i.e. in the network input). All in sRGB-encoded values, as the paper;
- blurry: + Gaussian read noise of variance sigma_r^2 / n (sigma_r drawn for every sample);
- everything clipped to [0, 1] at the end;
- the noise map is estimated from the noisy frame (:func:`deblurnet.noise_map.estimated_noise_map`), as
  fusion does for sRGB files: this protocol's noise lives in sRGB values, like a file's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deblurnet.colour import match_colour
from deblurnet.errors import DeblurnetError
from deblurnet.noise_map import estimated_noise_map
from deblurnet.synth.common import ImageCache, Triplet, crop_window, srgb_encode, u8_to_float, u8_to_linear


@dataclass
class Gopro2Params:
    """Parameters of the GOPRO2 protocol (paper values by default)."""

    scale: tuple[float, float] = (0.3, 0.8)         # f: dim-frame intensity scale, ratio = 1/f
    read_sigma: tuple[float, float] = (0.05, 0.1)   # sigma_r, std in the network input
    shot_threshold: float = 0.5                     # f below this: Poisson shot noise
    sigma_s: float = 256.0                          # eq. 8: unique intensity levels
    blur_frames: tuple[int, int] = (5, 13)          # n frames averaged into the blurry image


def blur_from_frames(frames: list[np.ndarray]) -> np.ndarray:
    """Mean of uint8 (H, W, 3) sRGB frames in linear light, re-encoded: float32 (H, W, 3) sRGB [0, 1]."""
    acc = u8_to_linear(frames[0]).copy()
    for frame in frames[1:]:
        acc += u8_to_linear(frame)
    return srgb_encode(acc / np.float32(len(frames)))


def add_paper_noise(sharp: np.ndarray, f: float, sigma_r: float, params: Gopro2Params,
                    rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The ratio-pre-scaled noisy frame from sRGB `sharp` (H, W, 3) float32; returns (noisy, noise kind).

    Unclipped: the caller clips.
    """
    if f < params.shot_threshold:
        lam = (params.sigma_s * f) * sharp
        counts = rng.poisson(lam).astype(np.float32)
        return counts * np.float32(1.0 / (params.sigma_s * f)), "shot"
    noise = rng.standard_normal(sharp.shape, dtype=np.float32)
    return sharp + np.float32(sigma_r) * noise, "read"


def draw_frames(frames: ImageCache, blur_frames: tuple[int, int], size: int | None,
                rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray], dict[str, object]]:
    """Pick a start frame and a crop: (sharp uint8 (h, w, 3), blur frames uint8 list, meta)."""
    n = int(rng.integers(blur_frames[0], blur_frames[1] + 1))
    last_start = len(frames) - (n + 2)
    if last_start < 0:
        raise DeblurnetError(f"{frames.files[0].parent}: {len(frames)} frames are too few for a blur "
                             f"of {n} frames (need {n + 2})")
    start = int(rng.integers(0, last_start + 1))
    h, w = frames.get(start).shape[:2]
    y, x, ch, cw = crop_window(rng, h, w, size)
    window = (slice(y, y + ch), slice(x, x + cw))
    sharp = frames.get(start)[window]
    blur = [frames.get(start + 2 + k)[window] for k in range(n)]
    meta = {"source": frames.files[start].name, "n_blur": n, "window": [y, x, ch, cw]}
    return sharp, blur, meta


def sample_gopro2(frames: ImageCache, params: Gopro2Params, size: int | None,
                  rng: np.random.Generator) -> Triplet:
    """Draw one GOPRO2 triplet from consecutive frames in `frames`, cropped to `size` (None: full)."""
    sharp_u8, blur_u8, meta = draw_frames(frames, params.blur_frames, size, rng)
    n = len(blur_u8)
    sharp = u8_to_float(sharp_u8)
    long = blur_from_frames(blur_u8)

    f = float(rng.uniform(*params.scale))
    sigma_r = float(rng.uniform(*params.read_sigma))
    short, kind = add_paper_noise(sharp, f, sigma_r, params, rng)
    long = long + np.float32(sigma_r / np.sqrt(n)) * rng.standard_normal(long.shape, dtype=np.float32)

    meta = {"protocol": "gopro2", **meta, "scale": f, "noise": kind, "sigma_r": sigma_r,
            "noise_map": "estimated"}
    long = np.clip(long, 0.0, 1.0)
    short, _ = match_colour(np.clip(short, 0.0, 1.0), long)  # as fusion does (no cast here: gains ~1)
    return Triplet(short=short, long=long, sharp=sharp, ratio=1.0 / f, noise=estimated_noise_map(short),
                   meta=meta)

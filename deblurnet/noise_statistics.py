"""What a noise looks like: its level, its colour and its spatial scale (grain size).

Used to compare the synthesis' noise with real cameras' (benchmarks/noise_spectrum.py,
docs/training.md). ``noise`` is always (noisy - clean), (H, W, 3) float32, network domain (sRGB-encoded
values); a single plane (H, W) for :func:`band_shares`.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

BANDS: tuple[tuple[float, float], ...] = ((0.0, 1 / 16), (1 / 16, 1 / 8), (1 / 8, 1 / 4), (1 / 4, np.inf))
"""Radial frequency bands, cycles per pixel (half-open (lo, hi]; 0.5 is the Nyquist frequency along an
axis, about 0.71 the largest radius). The last band, above 1/4, holds periods under 4 px."""


class NoiseStatistics(NamedTuple):
    high_pass_std: float  # std of the noise minus its Gaussian blur of 2 px, all channels
    chroma_over_luma: float  # mean variance of B - Y and R - Y over the variance of Y (BT.601 luma)
    band_shares: tuple[float, ...]  # share of the luma noise's power in each of BANDS


def band_shares(plane: np.ndarray) -> tuple[float, ...]:
    """Share of the power of a (H, W) plane (its mean removed) in each radial band of BANDS."""
    power = np.abs(np.fft.fft2(plane - plane.mean())) ** 2
    fy, fx = np.fft.fftfreq(plane.shape[0])[:, None], np.fft.fftfreq(plane.shape[1])[None, :]
    radius = np.sqrt(fx ** 2 + fy ** 2)
    total = power[radius > 0].sum()
    return tuple(float(power[(radius > lo) & (radius <= hi)].sum() / total) for lo, hi in BANDS)


def noise_statistics(noise: np.ndarray) -> NoiseStatistics:
    """Level, colour and scale of an (H, W, 3) float32 noise (module docstring)."""
    y = 0.299 * noise[..., 0] + 0.587 * noise[..., 1] + 0.114 * noise[..., 2]
    chroma = (np.var(noise[..., 2] - y) + np.var(noise[..., 0] - y)) / 2
    high_pass = noise - cv2.GaussianBlur(noise, (0, 0), 2)
    return NoiseStatistics(float(high_pass.std()), float(chroma / max(float(np.var(y)), 1e-12)), band_shares(y))

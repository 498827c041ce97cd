"""Photon-transfer statistics on mosaics (EMVA 1288 style), per CFA position of the 2x2 tile.

Temporal noise comes from the difference of two frames taken at the same settings, so the fixed
pattern (DSNU, PRNU, illumination fall-off) cancels: var(f1 - f2) / 2 is the per-pixel temporal
variance. Row noise (one offset per sensor row and frame) is separated by removing each row's mean
from the difference first. All values are in normalised raw units (mosaic from ``isp.raw``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A flat pair is "clipped" when more than this fraction of a channel's pixels sit at the clip level.
MAX_CLIPPED_FRACTION = 1e-4


def channel_planes(mosaic: np.ndarray) -> list[np.ndarray]:
    """(H, W) mosaic -> 4 planes (H/2, W/2), one per 2x2 CFA position in raster order."""
    return [mosaic[dy::2, dx::2] for dy in (0, 1) for dx in (0, 1)]


@dataclass(frozen=True)
class PairStats:
    """Statistics of one pair of frames, per CFA position (4,).

    ``mean``: mean signal of the pair; ``pixel_var``: temporal per-pixel variance with row noise
    removed; ``row_var``: variance of the per-row temporal offset; ``clipped``: fraction of pixels at
    or above the clip level in either frame.
    """

    mean: np.ndarray
    pixel_var: np.ndarray
    row_var: np.ndarray
    clipped: np.ndarray


def pair_stats(frame1: np.ndarray, frame2: np.ndarray, clip_level: float = 1.0) -> PairStats:
    """Temporal statistics of two (H, W) mosaics of the same scene and settings."""
    if frame1.shape != frame2.shape:
        raise ValueError(f"frame sizes differ: {frame1.shape} vs {frame2.shape}")
    mean, pixel_var, row_var, clipped = (np.zeros(4) for _ in range(4))
    for c, (p1, p2) in enumerate(zip(channel_planes(frame1), channel_planes(frame2))):
        p1 = p1.astype(np.float64)
        p2 = p2.astype(np.float64)
        clip = (p1 >= clip_level) | (p2 >= clip_level)
        clipped[c] = clip.mean()
        mean[c] = 0.5 * (p1.mean() + p2.mean())
        diff = p1 - p2
        width = diff.shape[1]
        row_means = diff.mean(axis=1, keepdims=True)
        residual = diff - row_means
        # removing the row mean also removes 1/width of each pixel's variance: undo that
        pixel_var[c] = residual.var() * width / (width - 1) / 2.0
        row_var[c] = max(row_means.var() / 2.0 - pixel_var[c] / width, 0.0)
    return PairStats(mean=mean, pixel_var=pixel_var, row_var=row_var, clipped=clipped)


@dataclass(frozen=True)
class PtcFit:
    """Fit of one ISO, per CFA position (4,): variance = a * signal + b.

    ``b`` is the dark temporal variance, ``a`` the slope of (var - b) against the dark-subtracted
    signal (least squares through the origin); ``levels`` holds the (signal (4,), variance (4,))
    points used, ``residual`` the RMS relative residual of the fit over them.
    """

    a: np.ndarray
    b: np.ndarray
    row_var: np.ndarray
    dark_mean: np.ndarray
    fpn_var: np.ndarray
    levels: list[tuple[np.ndarray, np.ndarray]]
    residual: float


def fit_ptc(dark: list[PairStats], flats: list[PairStats], dark_fpn_var: np.ndarray) -> PtcFit:
    """Fit a, b from dark pairs and unclipped flat pairs (one PairStats per pair).

    ``dark_fpn_var``: spatial variance of the averaged dark frame minus its temporal part (4,).
    """
    dark_mean = np.mean([s.mean for s in dark], axis=0)
    b = np.mean([s.pixel_var for s in dark], axis=0)
    row_var = np.mean([s.row_var for s in dark], axis=0)
    signal = np.array([s.mean - dark_mean for s in flats])  # (L, 4)
    var = np.array([s.pixel_var for s in flats])
    # least squares of (var - b) = a * signal, weighted by 1 / var (relative errors)
    w = 1.0 / var**2
    a = np.sum(w * signal * (var - b), axis=0) / np.sum(w * signal**2, axis=0)
    predicted = a * signal + b
    residual = float(np.sqrt(np.mean(((var - predicted) / predicted) ** 2)))
    return PtcFit(a=a, b=b, row_var=row_var, dark_mean=dark_mean, fpn_var=np.maximum(dark_fpn_var, 0),
                  levels=[(signal[i], var[i]) for i in range(len(flats))], residual=residual)

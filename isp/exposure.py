"""Exposure ratio of a long/short pair, from metadata or from the pixels themselves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from isp.errors import IspError
from isp.io import LinearImage
from isp.metadata import CaptureMetadata

#: Long side of the block grid the image estimate works on (averaging blocks beats noise and blur).
GRID_SIZE = 96
#: A block counts only when no pixel of it reaches this level in either frame (clipping).
CLIP_LEVEL = 0.97
#: ... and when its long-frame brightness lies in this range (well exposed).
LONG_RANGE = (0.02, 0.9)
#: ... and the short frame is above this (out of the noise floor).
SHORT_FLOOR = 1e-3


@dataclass(frozen=True)
class RatioEstimate:
    """``ratio`` = long brightness / short brightness (> 1 for a normal pair); ``source`` says how:
    "metadata", "image" (block medians, :func:`ratio_from_images`), or "image-global" (the fallback
    :func:`ratio_from_global_means`, when too few blocks were usable)."""

    ratio: float
    source: Literal["metadata", "image", "image-global"]


def ratio_from_metadata(long: CaptureMetadata, short: CaptureMetadata) -> float | None:
    """exposure time x ISO / N^2 of long over short; None when an exposure time is missing."""
    if not long.exposure_time_s or not short.exposure_time_s:
        return None
    # ISO / f-number count only when both frames have them (else they would skew the ratio).
    ratio = long.exposure_time_s / short.exposure_time_s
    if long.iso and short.iso:
        ratio *= long.iso / short.iso
    if long.f_number and short.f_number:
        ratio *= (short.f_number / long.f_number) ** 2
    return ratio


def _blocks(rgb: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Block means of the channel mean, and whether each block holds a clipped pixel."""
    luminance = rgb.mean(axis=2, dtype=np.float32)
    clipped = (rgb.max(axis=2) >= CLIP_LEVEL).astype(np.float32)
    means = cv2.resize(luminance, size, interpolation=cv2.INTER_AREA)
    any_clipped = cv2.resize(clipped, size, interpolation=cv2.INTER_AREA) > 0
    return means, any_clipped


def ratio_from_images(long_rgb: np.ndarray, short_rgb: np.ndarray) -> float:
    """Robust long/short brightness ratio from two linear (H, W, 3) images of the same scene.

    Both are averaged over a grid of blocks (so noise and motion blur mostly cancel); blocks with a
    clipped pixel in either frame, a poorly exposed long frame or a short frame in the noise floor
    are dropped; the ratio is the median of the per-block ratios (in log space).
    Raises IspError when the sizes differ or too few blocks are usable.
    """
    if long_rgb.shape != short_rgb.shape or long_rgb.ndim != 3:
        raise IspError(f"long and short images must have the same (H, W, 3) shape: {long_rgb.shape} vs {short_rgb.shape}")
    h, w = long_rgb.shape[:2]
    scale = GRID_SIZE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale))) if scale < 1 else (w, h)
    long_means, long_clipped = _blocks(long_rgb, size)
    short_means, short_clipped = _blocks(short_rgb, size)
    usable = (
        ~long_clipped
        & ~short_clipped
        & (long_means >= LONG_RANGE[0])
        & (long_means <= LONG_RANGE[1])
        & (short_means > SHORT_FLOOR)
    )
    if usable.sum() < 8:
        raise IspError(
            f"cannot estimate the exposure ratio from the images: only {int(usable.sum())} well-exposed, "
            "unclipped regions (images too dark, too bright or unrelated)"
        )
    log_ratios = np.log(long_means[usable]) - np.log(short_means[usable])
    return float(np.exp(np.median(log_ratios)))


def ratio_from_global_means(long_rgb: np.ndarray, short_rgb: np.ndarray) -> float:
    """Fallback long/short ratio of two linear (H, W, 3) images: the ratio of their mean brightness
    over the pixels clipped in neither frame (all pixels when that leaves none). Cruder than
    :func:`ratio_from_images` (a dark, bright or tone-mapped pair defeats that one), but always defined
    for two frames that are not black. Raises IspError when the short frame is black."""
    if long_rgb.shape != short_rgb.shape or long_rgb.ndim != 3:
        raise IspError(f"long and short images must have the same (H, W, 3) shape: {long_rgb.shape} vs {short_rgb.shape}")
    ok = (long_rgb.max(axis=2) < CLIP_LEVEL) & (short_rgb.max(axis=2) < CLIP_LEVEL)
    if ok.sum() < 16:
        ok = np.ones(ok.shape, bool)
    long_mean, short_mean = float(long_rgb[ok].mean()), float(short_rgb[ok].mean())
    if not (np.isfinite(long_mean) and np.isfinite(short_mean)) or short_mean <= 0 or long_mean <= 0:
        raise IspError("cannot estimate the exposure ratio from the images: a frame is black")
    return long_mean / short_mean


def exposure_ratio(long: LinearImage, short: LinearImage, source: str = "auto") -> RatioEstimate:
    """Long/short brightness ratio of a pair: ``source`` "auto" (metadata when both frames have an
    exposure time, else image), "metadata" or "image"."""
    if source not in ("auto", "metadata", "image"):
        raise IspError(f"exposure ratio source must be auto, metadata or image, got {source!r}")
    if source != "image":
        ratio = ratio_from_metadata(long.metadata, short.metadata)
        if ratio is not None:
            if not ratio > 0:
                raise IspError(f"{long.path} / {short.path}: metadata give a non-positive exposure ratio {ratio}")
            return RatioEstimate(ratio, "metadata")
        if source == "metadata":
            raise IspError(f"{long.path} / {short.path}: exposure time missing from the metadata of one frame")
    try:
        return RatioEstimate(ratio_from_images(long.rgb, short.rgb), "image")
    except IspError:
        return RatioEstimate(ratio_from_global_means(long.rgb, short.rgb), "image-global")

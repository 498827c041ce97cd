"""Global colour balance between the frames of a pair, in the network domain.

The long frame has the right colour (low ISO, full exposure); the short one may carry a cast: another
ISO, a camera or phone that balanced the two frames differently (LSD2's pairs are strongly purple),
or an error of the exposure ratio. A cast is one gain per channel in linear light, so it is removed
globally, before the network, by :func:`match_colour`: the network then never has to learn colour
transfer, which it could only do locally (and wrongly near the long frame's blur). Fusion, training
synthesis and the held-out sets all call it, so the network sees the same inputs everywhere.
"""

from __future__ import annotations

import cv2
import numpy as np
from isp.chunks import map_rows
from isp.color import srgb_decode, srgb_encode

WELL_EXPOSED = (0.01, 0.85)
"""Linear range, in every channel of both frames, of the pixels that say something about colour."""
OUTLIER_LOG = 0.1
"""Blocks whose log ratio is further than this from the median (any channel) are left out."""


def colour_gains(image: np.ndarray, reference: np.ndarray, size: int = 64,
                 limits: tuple[float, float] = (0.5, 2.0)) -> np.ndarray:
    """Per-channel gains (3,) float32 (linear light) that give ``image`` the colour balance of
    ``reference``; both (H, W, 3) network domain (sRGB-encoded), of one size.

    Both are reduced to blocks (:func:`colour_blocks`: at most ``size`` blocks on the longer side, in
    linear light: noise and motion blur average out). Over the blocks well exposed in both
    (WELL_EXPOSED in every channel), the median block ratio reference / image per channel finds the
    balance most of the picture shares; the gain of channel c is then sum(reference_c) / sum(image_c)
    over the blocks within OUTLIER_LOG of that median. The median leaves out a subject present in one
    frame only (a ghost); the sums, in which dark blocks (whose ratios the 8-bit quantisation of a dark
    frame scatters) weigh little, give the balance of the rest.
    Gains are clipped to ``limits``; all ones when fewer than 16 blocks qualify (a dark or clipped
    scene says nothing about colour).
    """
    _check_shapes(image, reference)
    return block_gains(colour_blocks(image, size), colour_blocks(reference, size), limits)


def colour_blocks(frame: np.ndarray, size: int = 64, *, linear: bool = False) -> np.ndarray:
    """(h, w, 3) float32: an (H, W, 3) frame in linear light, area-averaged to at most ``size`` blocks on
    its longer side. ``frame``: network domain (clipped to [0, 1] and decoded here, into a temporary that
    is freed on return), or already linear and clipped with ``linear=True``. Taking the blocks of one
    frame before the other is decoded keeps a single full-size temporary alive at a time."""
    lin = frame if linear else _linear(frame)
    scale = min(1.0, size / max(lin.shape[:2]))
    if scale < 1.0:
        lin = cv2.resize(lin, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return lin


def block_gains(image: np.ndarray, reference: np.ndarray, limits: tuple[float, float] = (0.5, 2.0)) -> np.ndarray:
    """:func:`colour_gains` from the two frames' :func:`colour_blocks` (h, w, 3), linear light."""
    if image.shape != reference.shape:
        raise ValueError(f"colour gains need the blocks of two frames of one size, got {image.shape} and "
                         f"{reference.shape}")
    img, ref = image.reshape(-1, 3), reference.reshape(-1, 3)
    lo, hi = WELL_EXPOSED
    good = np.all((img > lo) & (img < hi) & (ref > lo) & (ref < hi), axis=1)
    if good.sum() < 16:
        return np.ones(3, np.float32)
    ref, img = ref[good], img[good]
    log_ratio = np.log(ref) - np.log(img)
    centre = np.median(log_ratio, axis=0)
    inliers = np.all(np.abs(log_ratio - centre) < OUTLIER_LOG, axis=1)
    if inliers.sum() < 16:
        return np.clip(np.exp(centre), *limits).astype(np.float32)
    gains = ref[inliers].sum(axis=0) / np.maximum(img[inliers].sum(axis=0), 1e-6)
    return np.clip(gains, *limits).astype(np.float32)


def _check_shapes(image: np.ndarray, reference: np.ndarray) -> None:
    if image.shape != reference.shape or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"colour gains need two (H, W, 3) frames of one size, got {image.shape} and {reference.shape}")


def _linear(x: np.ndarray) -> np.ndarray:
    """A new (H, W, 3) float32 array: ``x`` (network domain) clipped to [0, 1] and decoded to linear light."""
    return map_rows(lambda rows: srgb_decode(np.clip(rows, 0.0, 1.0)), np.empty(x.shape, np.float32), x)


def match_colour(short: np.ndarray, long: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The short frame (H, W, 3) network domain with the long frame's colour balance, and the gains
    (3,) applied in linear light (:func:`colour_gains`); its noise grows by the same gains.

    The short frame is decoded once: its linear copy gives the gains and is then encoded in place; the
    long frame's blocks are taken first (:func:`colour_blocks`)."""
    _check_shapes(short, long)
    reference = colour_blocks(long)
    lin = _linear(short)
    gains = block_gains(colour_blocks(lin, linear=True), reference)

    def block(rows: np.ndarray) -> np.ndarray:
        return srgb_encode(np.clip(rows * gains, 0.0, 1.0))

    return map_rows(block, lin, lin), gains

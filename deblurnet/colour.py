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
from isp.color import srgb_decode, srgb_encode

WELL_EXPOSED = (0.01, 0.85)
"""Linear range, in every channel of both frames, of the pixels that say something about colour."""


def colour_gains(image: np.ndarray, reference: np.ndarray, size: int = 64,
                 limits: tuple[float, float] = (0.5, 2.0)) -> np.ndarray:
    """Per-channel gains (3,) float32 (linear light) that give ``image`` the colour balance of
    ``reference``; both (H, W, 3) network domain (sRGB-encoded).

    Both are reduced to blocks (at most ``size`` blocks on the longer side: noise and motion blur
    average out) in linear light; the gain of channel c is the median over blocks well exposed in both
    (WELL_EXPOSED in every channel) of reference_c / image_c, in log space. The median, not a ratio of
    sums, so a subject present in one frame only (a ghost) does not tilt the balance of the rest.
    Gains are clipped to ``limits``; all ones when fewer than 16 blocks qualify (a dark or clipped
    scene says nothing about colour).
    """
    scale = min(1.0, size / max(image.shape[:2]))

    def blocks(x: np.ndarray) -> np.ndarray:
        lin = np.asarray(srgb_decode(np.clip(x, 0.0, 1.0)), np.float32)
        if scale < 1.0:
            lin = cv2.resize(lin, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return lin.reshape(-1, 3)

    img, ref = blocks(image), blocks(reference)
    lo, hi = WELL_EXPOSED
    good = np.all((img > lo) & (img < hi) & (ref > lo) & (ref < hi), axis=1)
    if good.sum() < 16:
        return np.ones(3, np.float32)
    gains = np.exp(np.median(np.log(ref[good]) - np.log(img[good]), axis=0))
    return np.clip(gains, *limits).astype(np.float32)


def match_colour(short: np.ndarray, long: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The short frame (H, W, 3) network domain with the long frame's colour balance, and the gains
    (3,) applied in linear light (:func:`colour_gains`); its noise grows by the same gains."""
    gains = colour_gains(short, long)
    lin = np.asarray(srgb_decode(np.clip(short, 0.0, 1.0)), np.float32) * gains
    return np.asarray(srgb_encode(np.clip(lin, 0.0, 1.0)), np.float32), gains

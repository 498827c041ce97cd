"""The ghost guard: where the aligned long frame disagrees with the short one beyond what noise and
blur explain, the network is given the denoised short frame there instead of the long frame.

The network trusts the long frame for clean detail, so anything the long frame has and the short one
has not (a subject that moved, misalignment left after the global warp, a clipped light whose glow
the blur spread) can show up in its output as a ghost. The guard compares the two frames block by
block (network domain, :func:`ghost_confidence`):

1. ``reach`` (3% of the longer side, at least 8 px) is how far motion blur and misalignment may
   spread the long frame's values; both frames are averaged over blocks of ``cell`` x ``cell`` px,
   ``cell`` a third of ``reach``; block means of the short frame carry the noise ``sigma / cell`` (``sigma`` the short frame's per-pixel noise at the block's brightness,
   estimated from the image: :func:`block_noise`);
2. the short frame's blocks get the long frame's global tones (:func:`match_tones`: a tone curve
   per channel), so a colour cast or lifted shadows of the short frame are not a disagreement;
3. motion blur spreads the long frame's values over a neighbourhood but keeps their local mean, so
   a short-frame block is *explained* when its value lies within the range (min..max) of the long
   frame's blocks within ``reach`` px, or when the two frames' means over that neighbourhood agree
   (a small highlight the blur dimmed); the disagreement is the smaller of the two distances,
   largest over the channels;
4. ``threshold = max(k * sigma / cell, floor)``: disagreements under it are noise or tone. A ghost
   *starts* at blocks whose whole 3x3 neighbourhood disagrees beyond the threshold (a lone block is
   a thin detail the blur smeared, or noise), and *grows* by up to ``2 * reach`` px over connected
   blocks that disagree beyond :data:`GROW` of it (where parts of the subject look like what it
   hides); ghost blocks get confidence 0, the others 1;
5. ghosts are spread by ``2 * reach`` px, then withdrawn by two blocks: a moving subject's
   edges (which lie within the range of their own neighbourhood, and which the blur smeared
   outwards) are covered, and so are holes inside it; the map is smoothed (the blend has no seams)
   and upsampled to (H, W).

:func:`guard` then replaces the long frame by ``confidence * long + (1 - confidence) * denoised
short``, where the denoised short frame is OpenCV's non-local means
(:func:`deblurnet.baselines.denoise_nlm`, the `short-denoised` baseline), computed only on the box
that holds the guarded pixels. In those regions both inputs of the network then come from the short
frame alone: the network can only denoise the short frame there, and cannot paste the ghost. A
network that copied its long input would return exactly the denoised short frame there; the shipped
DeblurRNN, which also sharpens it, does better (the README gives the figures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from isp.atomic import atomic_write_bytes
from isp.formats import WRITE_EXTENSIONS

from burstcap.errors import BurstcapError

#: How far motion blur and residual misalignment may spread the long frame's values, as a share of
#: the image's longer side (at least 8 px).
REACH = 0.03
#: Blocks per reach: the comparison grid's block side is reach / REACH_BLOCKS.
REACH_BLOCKS = 3
#: Disagreements under this (network-domain units, i.e. sRGB [0, 1]) are never ghosts: tone and
#: colour differences between the two exposures.
FLOOR = 0.06
#: Disagreements under this many noise deviations of a block mean are noise.
NOISE_K = 3.0
#: A ghost grows over neighbouring blocks that disagree by this share of the threshold.
GROW = 0.75


@dataclass(frozen=True)
class Guarded:
    """What :func:`guard` returns: ``long`` (H, W, 3) float32 network domain, the long frame to give
    the network; ``confidence`` (H, W) float32 in [0, 1] (1: the long frame is kept, 0: replaced by
    the denoised short frame) and ``short_share``: the mean of ``1 - confidence``, the share of the
    picture taken from the short frame alone."""

    long: np.ndarray
    confidence: np.ndarray
    short_share: float


def match_tones(source: np.ndarray, reference: np.ndarray, levels: int = 65) -> np.ndarray:
    """``source`` (h, w, 3) with each channel's values mapped so that their quantiles match those of
    ``reference`` (h, w, 3): a monotone tone curve per channel (piecewise linear through ``levels``
    quantiles). It absorbs global differences between the two exposures (colour cast, lifted blacks,
    the bias that clipping adds to noise in the shadows) and barely moves for a local ghost."""
    q = np.linspace(0.0, 100.0, levels)
    out = np.empty_like(source, dtype=np.float32)
    for c in range(source.shape[2]):
        src_q = np.percentile(source[..., c], q)
        ref_q = np.percentile(reference[..., c], q)
        out[..., c] = np.interp(source[..., c], src_q, ref_q)
    return out


def block_noise(short_n: np.ndarray, grid: tuple[int, int], levels: int = 8) -> np.ndarray:
    """Per-pixel noise deviation of ``short_n`` (H, W, 3) at each block of a ``grid`` (width, height):
    a noise-level function of brightness, measured on the image itself.

    Immerkaer's estimator (a 3x3 second-difference filter, on every second pixel where demosaicing
    left the noise correlated) gives a local deviation per block, inflated by texture; blocks are
    binned by brightness into ``levels`` bins, and each bin's flattest blocks (its 25th percentile)
    give that brightness's noise. Returns (height, width) float32, network-domain units.
    """
    laplace = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    sub = np.ascontiguousarray(short_n[::2, ::2], np.float32)
    response = np.abs(cv2.filter2D(sub, cv2.CV_32F, laplace)).mean(axis=2) * np.float32(math.sqrt(math.pi / 2) / 6)
    local = cv2.resize(response, grid, interpolation=cv2.INTER_AREA)
    level = cv2.resize(sub.mean(axis=2), grid, interpolation=cv2.INTER_AREA)
    edges = np.percentile(level, np.linspace(0, 100, levels + 1))
    centres, sigmas = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (level >= lo) & (level <= hi)
        if inside.any():
            centres.append(float(level[inside].mean()))
            sigmas.append(float(np.percentile(local[inside], 25)))
    return np.interp(level, centres, sigmas).astype(np.float32)


def ghost_confidence(short_n: np.ndarray, long_n: np.ndarray,
                     sigma: float | np.ndarray | None = None) -> np.ndarray:
    """(H, W) float32 confidence in [0, 1] that the aligned long frame shows what the short one shows.

    ``short_n``, ``long_n``: (H, W, 3) float32 network domain (sRGB-encoded [0, 1], the short frame
    ratio-scaled, the long one aligned onto it). ``sigma``: noise deviation of ``short_n``'s pixels in
    the same units, one number or an (H, W[, 1]) map (None: a noise-level function estimated from
    the image, :func:`block_noise`). See the module docstring for the method.
    """
    h, w = short_n.shape[:2]
    reach = max(8.0, REACH * max(h, w))
    cell = max(2, round(reach / REACH_BLOCKS))
    gh, gw = max(1, round(h / cell)), max(1, round(w / cell))
    small_s = cv2.resize(np.ascontiguousarray(short_n, np.float32), (gw, gh), interpolation=cv2.INTER_AREA)
    small_l = cv2.resize(np.ascontiguousarray(long_n, np.float32), (gw, gh), interpolation=cv2.INTER_AREA)
    if sigma is None:
        noise = block_noise(short_n, (gw, gh))
    elif np.ndim(sigma) == 0:
        noise = np.float32(sigma)
    else:
        noise = cv2.resize(np.asarray(sigma, np.float32).reshape(h, w), (gw, gh), interpolation=cv2.INTER_AREA)
    small_s = match_tones(small_s, small_l)
    radius = REACH_BLOCKS
    size = (2 * radius + 1, 2 * radius + 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, size)
    low = cv2.erode(small_l, kernel, borderType=cv2.BORDER_REPLICATE)
    high = cv2.dilate(small_l, kernel, borderType=cv2.BORDER_REPLICATE)
    outside = np.maximum(small_s - high, 0.0) + np.maximum(low - small_s, 0.0)
    moved = np.abs(cv2.blur(small_s, size, borderType=cv2.BORDER_REPLICATE)
                   - cv2.blur(small_l, size, borderType=cv2.BORDER_REPLICATE))
    disagreement = np.minimum(outside, moved).max(axis=2)
    threshold = np.maximum(NOISE_K * noise / cell, FLOOR)
    seeds = cv2.erode(disagreement, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE) > threshold
    weak = disagreement > GROW * threshold
    ghost = seeds
    step = np.ones((3, 3), np.uint8)
    for _ in range(2 * radius):
        ghost = cv2.dilate(ghost.astype(np.uint8), step).astype(bool) & weak | seeds
    confidence = (~ghost).astype(np.float32)
    wide = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (4 * radius + 1, 4 * radius + 1))
    confidence = cv2.erode(confidence, wide, borderType=cv2.BORDER_REPLICATE)
    narrow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (radius + 1, radius + 1))
    confidence = cv2.dilate(confidence, narrow, borderType=cv2.BORDER_REPLICATE)
    confidence = cv2.GaussianBlur(confidence, (0, 0), 1.0)
    full = cv2.resize(confidence, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(full, 0.0, 1.0)


def guard(short_n: np.ndarray, long_n: np.ndarray, sigma: float | np.ndarray | None = None) -> Guarded:
    """The long frame with its ghosts replaced by the denoised short frame (see the module docstring).

    ``short_n``, ``long_n``: (H, W, 3) float32 network domain, the long frame aligned onto the short
    one. ``sigma``: as in :func:`ghost_confidence`. Inputs are not modified.
    """
    from deblurnet.baselines import denoise_nlm

    confidence = ghost_confidence(short_n, long_n, sigma)
    guarded = confidence < 0.999
    if not guarded.any():
        return Guarded(long_n, confidence, 0.0)
    rows, cols = np.flatnonzero(guarded.any(axis=1)), np.flatnonzero(guarded.any(axis=0))
    margin = 64  # context for the non-local means search window and its noise estimate
    y0, y1 = max(0, rows[0] - margin), min(guarded.shape[0], rows[-1] + 1 + margin)
    x0, x1 = max(0, cols[0] - margin), min(guarded.shape[1], cols[-1] + 1 + margin)
    denoised = denoise_nlm(short_n[y0:y1, x0:x1])
    weight = confidence[y0:y1, x0:x1, None]
    out = np.array(long_n, dtype=np.float32, copy=True)
    out[y0:y1, x0:x1] = weight * out[y0:y1, x0:x1] + (1.0 - weight) * denoised
    return Guarded(out, confidence, float(1.0 - confidence.mean()))


def write_confidence(path: str | Path, confidence: np.ndarray) -> Path:
    """Write a confidence map (H, W) in [0, 1] as an 8-bit grey image (white: the long frame used,
    black: the short frame alone), atomically; the format follows the extension (.png, .jpg, .tif).
    Returns the path."""
    path = Path(path)
    grey = np.clip(np.rint(np.asarray(confidence, np.float32) * 255.0), 0, 255).astype(np.uint8)
    if path.suffix.lower() not in WRITE_EXTENSIONS:
        raise BurstcapError(f"{path}: a confidence map is written as .png, .jpg or .tif")
    ok, data = cv2.imencode(path.suffix.lower(), grey)
    if not ok:
        raise BurstcapError(f"{path}: OpenCV could not encode the confidence map")
    return atomic_write_bytes(path, data.tobytes())

"""Single-frame noise estimate (after Foi, Trimeche, Katkovnik, Egiazarian 2008, "Practical
Poissonian-Gaussian noise modeling and fitting for single-image raw-data", IEEE TIP 17(10)).

Per CFA plane: a second difference along rows, (p[x-1] - 2 p[x] + p[x+1]) / sqrt(6), removes
linear trends and per-row offsets and leaves white noise of the pixel's variance. The plane is cut
into blocks; a block is *smooth* when its sample variance of that residual agrees with a robust
(median absolute deviation) one, i.e. no edge or texture inflates it. Smooth, unclipped blocks give
(local mean, local variance) points; ``var = a * mean + b`` is fitted to them by least squares
weighted for relative error, with a and b kept positive (b never below the quantisation floor).
Fixed-pattern noise cannot be told apart from temporal noise in one frame and is included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from hardware_profiles.errors import CalibrationError
from hardware_profiles.photon_transfer import channel_planes

MAD_TO_SIGMA = 1.4826
#: A block is smooth when sample variance / robust variance lies within these bounds.
SMOOTH_RATIO = (0.6, 1.5)
MIN_BLOCKS = 8


@dataclass(frozen=True)
class SingleFrameEstimate:
    """a, b (4,) per CFA position in normalised units; ``blocks`` (4,) smooth blocks used."""

    a: np.ndarray
    b: np.ndarray
    blocks: np.ndarray


def _block_points(plane: np.ndarray, block: int, clip_level: float) -> tuple[np.ndarray, np.ndarray]:
    """(means, variances) of the smooth, unclipped blocks of one CFA plane."""
    p = plane.astype(np.float64)
    resid = (p[:, :-2] - 2.0 * p[:, 1:-1] + p[:, 2:]) / np.sqrt(6.0)
    centre = p[:, 1:-1]
    near_clip = (p[:, :-2] >= clip_level) | (centre >= clip_level) | (p[:, 2:] >= clip_level)
    h, w = resid.shape
    nb_y, nb_x = h // block, w // block
    if nb_y == 0 or nb_x == 0:
        return np.empty(0), np.empty(0)
    crop = (slice(0, nb_y * block), slice(0, nb_x * block))

    def blocks(arr: np.ndarray) -> np.ndarray:
        return arr[crop].reshape(nb_y, block, nb_x, block).swapaxes(1, 2).reshape(nb_y * nb_x, -1)

    r, m, c = blocks(resid), blocks(centre), blocks(near_clip)
    var = r.var(axis=1)
    med = np.median(r, axis=1, keepdims=True)
    robust = (MAD_TO_SIGMA * np.median(np.abs(r - med), axis=1)) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = var / robust
    keep = (~c.any(axis=1)) & (robust > 0) & (ratio > SMOOTH_RATIO[0]) & (ratio < SMOOTH_RATIO[1])
    return m.mean(axis=1)[keep], var[keep]


def _fit(means: np.ndarray, variances: np.ndarray, floor: float) -> tuple[float, float]:
    """Non-negative weighted least squares of var = a * mean + b over binned points."""
    order = np.argsort(means)
    bins = np.array_split(order, max(1, min(24, len(order) // 8)))
    x = np.array([np.mean(means[i]) for i in bins])
    y = np.array([np.mean(variances[i]) for i in bins])
    x = np.maximum(x, 0.0)
    weight = 1.0 / np.maximum(y, floor)
    (a, b), _ = nnls(np.column_stack([x, np.ones_like(x)]) * weight[:, None], y * weight)
    return max(a, 1e-12), max(b, floor)


def estimate_single_frame(mosaic: np.ndarray, clip_level: float = 1.0, block: int = 8,
                          adu_step: float | None = None) -> SingleFrameEstimate:
    """Estimate a, b (4,) from one mosaic (H, W) normalised (0 black, 1 clip) with smooth areas.

    ``adu_step``: one ADU in normalised units (1 / (white - black)); its quantisation variance
    (step**2 / 12) is the smallest b returned. Raises CalibrationError when the frame has too few
    smooth, unclipped areas.
    """
    if mosaic.ndim != 2 or min(mosaic.shape) < 4 * block:
        raise CalibrationError(f"need a mosaic (H, W) of at least {4 * block} pixels a side, "
                               f"got shape {mosaic.shape}")
    floor = (adu_step or 1.0 / 65535.0) ** 2 / 12.0
    a, b, used = np.zeros(4), np.zeros(4), np.zeros(4, dtype=int)
    for c, plane in enumerate(channel_planes(mosaic)):
        means, variances = _block_points(plane, block, clip_level * (1 - 1e-6))
        if len(means) < MIN_BLOCKS:
            raise CalibrationError(f"only {len(means)} smooth, unclipped areas in CFA channel {c}; "
                                   "use a frame with larger smooth regions (sky, walls) that are "
                                   "not overexposed")
        a[c], b[c] = _fit(means, variances, floor)
        used[c] = len(means)
    return SingleFrameEstimate(a=a, b=b, blocks=used)


def estimate_file(path: str | os.PathLike[str]) -> SingleFrameEstimate:
    """Single-frame estimate for the RAW file ``path`` (read with ``isp.raw.read_raw``)."""
    from isp.errors import IspError
    from isp.raw import read_raw

    try:
        raw = read_raw(Path(path))
    except IspError as exc:
        raise CalibrationError(str(exc)) from None
    if raw.cfa_pattern is None:
        raise CalibrationError(f"{path}: a LinearRaw (demosaiced) file has no CFA mosaic to measure")
    step = 1.0 / (raw.white_level - float(np.mean(raw.black_level)))
    try:
        return estimate_single_frame(raw.mosaic, adu_step=step)
    except CalibrationError as exc:
        raise CalibrationError(f"{path}: {exc}") from None

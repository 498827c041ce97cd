"""Unprocessing: turn an sRGB image into a realistic Bayer raw mosaic (Brooks et al. 2019 style).

sRGB -> inverse sRGB transfer -> inverse colour matrix -> inverse white balance -> mosaic ->
black/white level -> uint16 ADU. The inverse of :func:`isp.develop.develop` for unclipped pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isp.color import apply_matrix, srgb_decode, xyz_to_cam_from_cam_to_srgb
from isp.demosaic import site_channels
from isp.dng import write_dng
from isp.errors import IspError
from isp.metadata import CaptureMetadata


@dataclass(frozen=True)
class UnprocessParams:
    """How to unprocess: CFA ``cfa_pattern``; ``white_balance`` (3,) R, G, B gains (G = 1) the
    developer will apply; ``cam_to_srgb`` (3, 3) it will apply; black/white levels in ADU."""

    cfa_pattern: str = "RGGB"
    white_balance: tuple[float, float, float] = (2.0, 1.0, 1.6)
    cam_to_srgb: tuple[tuple[float, float, float], ...] = (
        (1.70, -0.55, -0.15),
        (-0.20, 1.45, -0.25),
        (0.05, -0.45, 1.40),
    )
    black_level: float = 512.0
    white_level: float = 16383.0


def linear_to_mosaic(rgb_linear: np.ndarray, params: UnprocessParams) -> np.ndarray:
    """(H, W, 3) scene-linear sRGB float -> (H, W) float32 normalised mosaic (0 black, 1 white).

    Inverts the colour matrix and white balance, then keeps each site's own colour.
    """
    rgb = np.asarray(rgb_linear, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise IspError(f"unprocess needs an (H, W, 3) image, got {rgb.shape}")
    srgb_to_cam = np.linalg.inv(np.asarray(params.cam_to_srgb, dtype=np.float64))
    cam = apply_matrix(rgb, srgb_to_cam)
    mosaic = np.empty(rgb.shape[:2], dtype=np.float32)
    for index, channel in enumerate(site_channels(params.cfa_pattern)):
        dy, dx = divmod(index, 2)
        mosaic[dy::2, dx::2] = cam[dy::2, dx::2, channel] / np.float32(params.white_balance[channel])
    return mosaic


def mosaic_to_adu(mosaic: np.ndarray, black_level: float, white_level: float) -> np.ndarray:
    """(H, W) normalised mosaic -> (H, W) uint16 ADU: black + x * (white - black), rounded, clipped."""
    adu = np.asarray(mosaic, dtype=np.float32) * np.float32(white_level - black_level)
    adu += np.float32(black_level + 0.5)
    np.clip(adu, 0, min(white_level, 65535), out=adu)
    return adu.astype(np.uint16)


def unprocess(srgb: np.ndarray, params: UnprocessParams | None = None) -> np.ndarray:
    """(H, W, 3) sRGB-encoded [0, 1] float (or uint8) -> (H, W) uint16 Bayer mosaic in ADU.

    H and W are cropped to even sizes. :func:`write_unprocessed_dng` with the same ``params`` writes
    it as a raw file that develops back.
    """
    params = params or UnprocessParams()
    image = np.asarray(srgb)
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / np.float32(255.0)
    h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    linear = np.asarray(srgb_decode(np.asarray(image[:h, :w], dtype=np.float32)), dtype=np.float32)
    return mosaic_to_adu(linear_to_mosaic(linear, params), params.black_level, params.white_level)


def write_unprocessed_dng(path: str | Path, adu: np.ndarray, params: UnprocessParams,
                          metadata: CaptureMetadata | None = None) -> Path:
    """Write a uint16 (H, W) ADU mosaic made with ``params`` as a DNG whose CFA, levels, white balance
    (AsShotNeutral = 1 / white_balance) and colour matrix are ``params``'s, so read_raw + develop
    invert the unprocessing. Returns the path (atomic, see :func:`isp.dng.write_dng`)."""
    return write_dng(path, adu, cfa_pattern=params.cfa_pattern, black_level=params.black_level,
                     white_level=params.white_level,
                     as_shot_neutral=1.0 / np.asarray(params.white_balance, dtype=np.float64),
                     xyz_to_cam=xyz_to_cam_from_cam_to_srgb(np.asarray(params.cam_to_srgb)),
                     metadata=metadata)

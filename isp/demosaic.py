"""Demosaicing of a float32 Bayer mosaic into (H, W, 3) RGB.

``bilinear`` is exact float bilinear interpolation (equal to LibRaw's LINEAR, borders included);
``opencv-ea`` is OpenCV's edge-aware demosaic on a 16-bit quantised copy (clips to [0, 1]).
LibRaw's own algorithms live in :mod:`isp.develop` because they need the raw file.
"""

from __future__ import annotations

import cv2
import numpy as np

from isp.errors import IspError

# Interpolation kernels applied to each colour's sparse plane (zeros at other sites).
_KERNEL_RB = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float32) / 4
_KERNEL_G = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], dtype=np.float32) / 4

# OpenCV names Bayer patterns by the 2x2 block starting at pixel (1, 1), so they look shifted.
_OPENCV_EA = {
    "RGGB": cv2.COLOR_BayerBG2RGB_EA,
    "BGGR": cv2.COLOR_BayerRG2RGB_EA,
    "GRBG": cv2.COLOR_BayerGB2RGB_EA,
    "GBRG": cv2.COLOR_BayerGR2RGB_EA,
}


def check_pattern(cfa_pattern: str) -> None:
    """Raise IspError unless ``cfa_pattern`` is one of RGGB, BGGR, GRBG, GBRG."""
    if cfa_pattern not in _OPENCV_EA:
        raise IspError(f"unsupported CFA pattern {cfa_pattern!r}; expected one of {sorted(_OPENCV_EA)}")


def site_channels(cfa_pattern: str) -> list[int]:
    """Channel index (0 R, 1 G, 2 B) of the four 2x2 sites read row by row."""
    check_pattern(cfa_pattern)
    return ["RGB".index(c) for c in cfa_pattern]


def demosaic_bilinear(mosaic: np.ndarray, cfa_pattern: str) -> np.ndarray:
    """(H, W) float32 mosaic -> (H, W, 3) float32 RGB by bilinear interpolation; negatives kept.

    Each site keeps its own value; missing colours are the mean of the nearest same-colour
    neighbours (mirrored at the borders, which equals averaging the available ones).
    """
    channels = site_channels(cfa_pattern)
    rgb = np.empty((*mosaic.shape, 3), dtype=np.float32)
    sparse = np.empty(mosaic.shape, dtype=np.float32)
    plane = np.empty(mosaic.shape, dtype=np.float32)
    for channel in range(3):
        sparse.fill(0.0)
        for index, site_channel in enumerate(channels):
            if site_channel == channel:
                dy, dx = divmod(index, 2)
                sparse[dy::2, dx::2] = mosaic[dy::2, dx::2]
        kernel = _KERNEL_G if channel == 1 else _KERNEL_RB
        cv2.filter2D(sparse, cv2.CV_32F, kernel, dst=plane, borderType=cv2.BORDER_REFLECT_101)
        rgb[:, :, channel] = plane
    return rgb


def demosaic_opencv_ea(mosaic: np.ndarray, cfa_pattern: str) -> np.ndarray:
    """(H, W) float32 mosaic -> (H, W, 3) float32 RGB with OpenCV's edge-aware demosaic.

    Works on a 16-bit copy, so the result is clipped to [0, 1] and quantised to 1/65535.
    """
    check_pattern(cfa_pattern)
    quantised = np.clip(mosaic, 0.0, 1.0)
    quantised *= 65535.0
    quantised += 0.5
    rgb16 = cv2.cvtColor(quantised.astype(np.uint16), _OPENCV_EA[cfa_pattern])
    rgb = rgb16.astype(np.float32)
    rgb *= np.float32(1.0 / 65535.0)
    return rgb


def bin_half_size(mosaic: np.ndarray, cfa_pattern: str) -> np.ndarray:
    """(H, W) mosaic -> (H//2, W//2, 3) float32: each 2x2 block gives R, mean of the greens, B."""
    channels = site_channels(cfa_pattern)
    h, w = (mosaic.shape[0] // 2) * 2, (mosaic.shape[1] // 2) * 2
    out = np.zeros((h // 2, w // 2, 3), dtype=np.float32)
    for index, channel in enumerate(channels):
        dy, dx = divmod(index, 2)
        weight = np.float32(0.5 if channel == 1 else 1.0)
        out[:, :, channel] += mosaic[dy:h:2, dx:w:2] * weight
    return out

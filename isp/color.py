"""Colour science helpers: the sRGB transfer function and camera colour matrices.

Every function is elementwise or works on small (3, 3) matrices; images stay float32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from isp.chunks import map_rows

ArrayT = TypeVar("ArrayT")

#: Linear sRGB (D65) -> CIE XYZ, IEC 61966-2-1.
SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=np.float64,
)
XYZ_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ)

_LINEAR_KNEE = 0.0031308
_ENCODED_KNEE = 0.04045


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _float_array(x: object) -> np.ndarray:
    """``x`` as a numpy float array (integers become float32, floats keep their dtype)."""
    a = np.asarray(x)
    return a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float32)


CHUNK = 1 << 18
"""Values per block of the numpy paths of :func:`srgb_encode` and :func:`srgb_decode`
(:func:`isp.chunks.map_rows` over the flattened array: cache-sized temporaries, all cores)."""


def _by_chunks(a: np.ndarray, step: Callable[[np.ndarray, np.ndarray], None]) -> np.ndarray:
    """A new array like ``a`` (any shape) filled by ``step(part, out_part)`` on :data:`CHUNK` values
    at a time."""
    a = a if a.flags.c_contiguous else np.ascontiguousarray(a)  # (ascontiguousarray makes 0-d 1-d)
    out = np.empty_like(a)

    def block(part: np.ndarray) -> np.ndarray:
        part_out = np.empty_like(part)
        step(part, part_out)
        return part_out

    map_rows(block, out.reshape(-1), a.reshape(-1), rows=CHUNK)
    return out


def srgb_encode(x: ArrayT) -> ArrayT:
    """Linear -> sRGB-encoded, elementwise (numpy array or torch tensor, any shape).

    Values below the knee (including negatives) use the linear segment; values above 1 follow the
    power curve (no clipping). Keeps the input's float dtype.
    """
    if _is_torch(x):
        import torch

        t: Any = x
        power = 1.055 * torch.clamp(t, min=_LINEAR_KNEE) ** (1.0 / 2.4) - 0.055
        return torch.where(t <= _LINEAR_KNEE, 12.92 * t, power)  # type: ignore[return-value]
    def encode(a: np.ndarray, out: np.ndarray) -> None:
        np.maximum(a, a.dtype.type(_LINEAR_KNEE), out=out)
        np.power(out, a.dtype.type(1.0 / 2.4), out=out)
        out *= a.dtype.type(1.055)
        out -= a.dtype.type(0.055)
        np.multiply(a, a.dtype.type(12.92), out=out, where=a <= _LINEAR_KNEE)

    return _by_chunks(_float_array(x), encode)  # type: ignore[return-value]


def srgb_decode(x: ArrayT) -> ArrayT:
    """sRGB-encoded -> linear, elementwise (numpy array or torch tensor, any shape).

    Inverse of :func:`srgb_encode`; keeps the input's float dtype (integers become float32).
    """
    if _is_torch(x):
        import torch

        t: Any = x
        power = ((torch.clamp(t, min=_ENCODED_KNEE) + 0.055) / 1.055) ** 2.4
        return torch.where(t <= _ENCODED_KNEE, t / 12.92, power)  # type: ignore[return-value]
    def decode(a: np.ndarray, out: np.ndarray) -> None:
        np.maximum(a, a.dtype.type(_ENCODED_KNEE), out=out)
        out += a.dtype.type(0.055)
        out *= a.dtype.type(1.0 / 1.055)
        np.power(out, a.dtype.type(2.4), out=out)
        np.divide(a, a.dtype.type(12.92), out=out, where=a <= _ENCODED_KNEE)

    return _by_chunks(_float_array(x), decode)  # type: ignore[return-value]


def cam_to_srgb_from_xyz_to_cam(xyz_to_cam: np.ndarray) -> np.ndarray:
    """Camera RGB -> linear sRGB (3, 3), from an XYZ -> camera matrix (3, 3), dcraw's way.

    The sRGB -> camera matrix has its rows normalised to sum to 1 (so white-balanced camera white
    maps to sRGB white), then is inverted.
    """
    m = np.asarray(xyz_to_cam, dtype=np.float64)
    if m.shape != (3, 3):
        raise ValueError(f"xyz_to_cam must be (3, 3), got {m.shape}")
    srgb_to_cam = m @ SRGB_TO_XYZ
    sums = srgb_to_cam.sum(axis=1, keepdims=True)
    if np.any(np.abs(sums) < 1e-8):
        raise ValueError("xyz_to_cam maps sRGB white to zero in some channel")
    return np.linalg.inv(srgb_to_cam / sums)


def xyz_to_cam_from_cam_to_srgb(cam_to_srgb: np.ndarray) -> np.ndarray:
    """XYZ -> camera (3, 3) such that :func:`cam_to_srgb_from_xyz_to_cam` gives ``cam_to_srgb`` back.

    Needs ``cam_to_srgb`` to map camera white (1, 1, 1) to sRGB white (rows of its inverse sum to 1).
    """
    srgb_to_cam = np.linalg.inv(np.asarray(cam_to_srgb, dtype=np.float64))
    return srgb_to_cam @ XYZ_TO_SRGB


def apply_matrix(rgb: np.ndarray, matrix: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Apply a (3, 3) colour matrix to every pixel of an (H, W, 3) float32 image.

    ``out`` may be ``rgb`` itself (in place). Returns (H, W, 3) float32.
    """
    import cv2

    m = np.asarray(matrix, dtype=np.float32)
    if np.allclose(m, np.eye(3)):
        if out is None:
            return rgb.copy()
        if out is not rgb:
            out[...] = rgb
        return out
    src = np.ascontiguousarray(rgb, dtype=np.float32)
    if out is None:
        return cv2.transform(src, m)
    return cv2.transform(src, m, dst=out)

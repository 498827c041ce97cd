"""EXIF orientation: turn stored pixels into display orientation."""

from __future__ import annotations

import numpy as np


def apply_orientation(image: np.ndarray, orientation: int | None) -> np.ndarray:
    """Rotate/flip an (H, W, ...) image as EXIF orientation 1..8 asks, for display.

    1 (or None) returns ``image`` itself; other values return a new C-contiguous array.
    6 turns the image 90 degrees clockwise, 8 counter-clockwise, 3 by 180 degrees; 2/4 mirror,
    5 transposes, 7 transverses.
    """
    if orientation in (None, 1):
        return image
    axes = (1, 0) + tuple(range(2, image.ndim))
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(axes),
        6: lambda a: np.rot90(a, k=-1),
        7: lambda a: a.transpose(axes)[::-1, ::-1],
        8: lambda a: np.rot90(a, k=1),
    }
    if orientation not in ops:
        raise ValueError(f"EXIF orientation must be 1..8, got {orientation}")
    return np.ascontiguousarray(ops[orientation](image))

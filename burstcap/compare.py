"""Side-by-side comparison pictures (short | long | fused), labelled, as 8-bit JPEG.

Used by ``burstcap demo`` and ``burstcap fuse --comparison``; contact sheets of whole folders are
:mod:`burstcap.process`'s job.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from burstcap.errors import BurstcapError
from isp.atomic import atomic_path
from isp.color import srgb_encode

CAPTION_PX = 40


def comparison(panels: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Side-by-side (H + 40, n W, 3) uint8 RGB of sRGB-encoded [0, 1] (H, W, 3) panels, each captioned."""
    tiles = []
    for label, image in panels:
        tile = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
        bar = np.full((CAPTION_PX, tile.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, label, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
        tiles.append(np.vstack([bar, tile]))
    return np.hstack(tiles)


def linear_panel(rgb: np.ndarray, gain: float, width: int) -> np.ndarray:
    """A display panel: scene-linear (H, W, 3) times ``gain``, clipped, sRGB-encoded, resized to
    ``width`` pixels wide (area averaging): (h, width, 3) float32 [0, 1]."""
    shown = srgb_encode(np.clip(rgb * np.float32(gain), 0.0, 1.0)).astype(np.float32)
    height = max(1, round(shown.shape[0] * width / shown.shape[1]))
    return cv2.resize(shown, (width, height), interpolation=cv2.INTER_AREA)


def write_jpeg(path: Path, rgb: np.ndarray, quality: int = 92) -> Path:
    """Write a uint8 (H, W, 3) RGB image as JPEG, atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                  [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise BurstcapError(f"{path}: could not encode the comparison image")
        buffer.tofile(tmp)
    return path


def write_pair_comparison(path: Path, short: np.ndarray, long: np.ndarray, fused: np.ndarray,
                          ratio: float, gain: float, width: int = 640) -> Path:
    """``short x ratio | long | fused`` of scene-linear (H, W, 3) frames, all shown with one display
    ``gain`` (the fusion's exposure normalisation) and ``width`` pixels per panel, as a JPEG."""
    panels = [(f"short x{ratio:.3g}", linear_panel(short, gain * ratio, width)),
              ("long", linear_panel(long, gain, width)),
              ("fused", linear_panel(fused, gain, width))]
    height = min(p.shape[0] for _, p in panels)
    return write_jpeg(path, comparison([(label, p[:height]) for label, p in panels]))

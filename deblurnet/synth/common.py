"""Shared pieces of the synthesis protocols: the `Triplet`, sRGB transfer, cached source images, crops.

All images here are numpy float32 (H, W, 3). "linear" means linear light in [0, 1] (1 = white);
"sRGB" means sRGB-encoded [0, 1] values (the network domain).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from isp import color as isp_color
from isp.atomic import atomic_write_bytes
from isp.exposure import exposure_ratio
from isp.formats import SRGB_EXTENSIONS
from isp.io import LinearImage

from deblurnet.errors import DeblurnetError

IMAGE_SUFFIXES = tuple(sorted(SRGB_EXTENSIONS | {".bmp"}))  # training source photos: isp.formats, and BMP


@dataclass
class Triplet:
    """One training/evaluation sample, all (H, W, 3) float32 in the network domain.

    short: the noisy frame, already multiplied by `ratio`; long: the blurry frame; sharp: ground truth,
    aligned with the short frame and exposed like the long one; ratio: long/short brightness ratio
    (>= 1) that was applied to the short frame; noise: (H, W, 1) float32 noise map of the short frame,
    computed as fusion computes it (:mod:`deblurnet.noise_map`); meta: per-sample synthesis parameters
    (JSON-able).
    """

    short: np.ndarray
    long: np.ndarray
    sharp: np.ndarray
    ratio: float
    noise: np.ndarray
    meta: dict[str, float | int | str | list[float]] = field(default_factory=dict)


def default_data_dir() -> Path:
    """The shared real-data folder: $BURSTCAP_DATA, else ../shared/data beside the repository."""
    env = os.environ.get("BURSTCAP_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data"


# sRGB transfer from isp.color, applied through look-up tables for speed.
def _srgb_encode_exact(x: np.ndarray) -> np.ndarray:
    return np.asarray(isp_color.srgb_encode(np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)),
                      dtype=np.float32)


_ENCODE_LUT = _srgb_encode_exact(np.arange(65536, dtype=np.float32) / 65535.0)


def srgb_decode(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded [0, 1] -> linear light, float32, same shape (isp.color.srgb_decode)."""
    return np.asarray(isp_color.srgb_decode(np.asarray(x, dtype=np.float32)), dtype=np.float32)


def estimate_ratio(long: np.ndarray, short: np.ndarray) -> tuple[float, str]:
    """long/short brightness ratio of two sRGB (H, W, 3) frames, as ``burstcap fuse`` estimates it for
    files without exposure metadata (:func:`isp.exposure.exposure_ratio` from the images): (ratio,
    "image" or "image-global"). IspError when a frame is black."""
    estimate = exposure_ratio(LinearImage(srgb_decode(long)), LinearImage(srgb_decode(short)), "image")
    return estimate.ratio, estimate.source


def srgb_encode(x: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB-encoded values, clipped to [0, 1], float32, same shape.

    isp.color.srgb_encode through a 65536-entry table (error < 1e-4, under half an 8-bit level),
    about 2x faster than the power law.
    """
    idx = (np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0) * np.float32(65535.0) + np.float32(0.5))
    return _ENCODE_LUT[idx.astype(np.uint16)]


_DECODE_LUT = srgb_decode(np.arange(256, dtype=np.float32) / 255.0).reshape(256, 1)


def u8_to_linear(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 sRGB -> (H, W, 3) float32 linear light, by table look-up."""
    return cv2.LUT(img, _DECODE_LUT)


def u8_to_float(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> float32 [0, 1] (same encoding)."""
    return img.astype(np.float32) * np.float32(1.0 / 255.0)


def read_rgb8(path: Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB; raise DeblurnetError naming the file on failure."""
    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if img is None:
        raise DeblurnetError(f"{path}: not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def write_png(path: Path, img: np.ndarray) -> None:
    """Write (H, W, 3) float32 sRGB [0, 1] as an 8-bit PNG, atomically (:mod:`isp.atomic`)."""
    u8 = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(u8, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DeblurnetError(f"{path}: PNG encoding failed")
    atomic_write_bytes(path, buf.tobytes())


def list_images(folder: Path) -> list[Path]:
    """Image files of `folder`, sorted by name; raise DeblurnetError when the folder has none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DeblurnetError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DeblurnetError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return files


def select_range(files: list[Path], first_last: tuple[int, int] | None, folder: Path) -> list[Path]:
    """Files number first..last (1-based, inclusive) of a sorted list; None keeps them all."""
    if first_last is None:
        return files
    first, last = first_last
    if not 1 <= first <= last <= len(files):
        raise DeblurnetError(f"{folder}: range {first}-{last} is outside the {len(files)} images there")
    return files[first - 1:last]


class ImageCache:
    """Decoded source images of one folder kept in memory as uint8 (H, W, 3) RGB, loaded on first use.

    Thread-safe; each DataLoader worker process holds its own cache.
    """

    def __init__(self, files: list[Path]) -> None:
        self.files = list(files)
        self._images: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.files)

    def get(self, index: int) -> np.ndarray:
        """Image `index` (0-based in `files`) as uint8 (H, W, 3)."""
        img = self._images.get(index)
        if img is None:
            img = read_rgb8(self.files[index])
            with self._lock:
                self._images[index] = img
        return img


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A sample of a log-uniform distribution on [low, high]."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def crop_window(rng: np.random.Generator, height: int, width: int, size: int | None,
                margin: int = 0) -> tuple[int, int, int, int]:
    """A random (y, x, h, w) window of `size` (None: the whole image) at least `margin` px from edges.

    The margin shrinks when the image is too small for it.
    """
    if size is None:
        return 0, 0, height, width
    if size > height or size > width:
        raise DeblurnetError(f"crop size {size} is larger than a {width}x{height} source image")
    my = min(margin, (height - size) // 2)
    mx = min(margin, (width - size) // 2)
    y = int(rng.integers(my, height - size - my + 1))
    x = int(rng.integers(mx, width - size - mx + 1))
    return y, x, size, size

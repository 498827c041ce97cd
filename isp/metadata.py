"""Capture metadata (make, model, exposure) and how to read it from TIFF-based files."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from isp.formats import EXIF_BLOCK_EXTENSIONS, suffix

EXIF_DATETIME_FORMAT = "%Y:%m:%d %H:%M:%S"


@dataclass(frozen=True)
class CaptureMetadata:
    """What the camera recorded about one capture; every field is optional (None when unknown).

    ``exposure_time_s`` in seconds, ``iso`` as ISO speed, ``f_number`` as N in f/N,
    ``timestamp`` as the naive local DateTimeOriginal, ``orientation`` as EXIF 1..8.
    """

    make: str | None = None
    model: str | None = None
    exposure_time_s: float | None = None
    iso: float | None = None
    f_number: float | None = None
    timestamp: datetime | None = None
    orientation: int | None = None

    def merged(self, fallback: CaptureMetadata) -> CaptureMetadata:
        """A copy with every None field taken from ``fallback``."""
        values = {
            f.name: getattr(self, f.name) if getattr(self, f.name) is not None else getattr(fallback, f.name)
            for f in dataclasses.fields(self)
        }
        return CaptureMetadata(**values)


def tag_number(value: Any) -> float | None:
    """A TIFF tag value (int, float, Pillow IFDRational, (num, den) rational, or a 1-tuple of those) as
    a float; None when missing or not finite (a 0/0 rational)."""
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and all(isinstance(v, int) for v in value):
            num, den = value
            return float(num) / float(den) if den else None
        if len(value) >= 1:
            return tag_number(value[0])
        return None
    if isinstance(value, numbers.Real):  # int, float, and Pillow's IFDRational
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def tag_text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1", errors="replace")
    if not isinstance(value, str):
        return None
    text = value.strip("\x00 ").strip()
    return text or None


def tag_timestamp(value: Any) -> datetime | None:
    text = tag_text(value)
    if text is None:
        return None
    try:
        return datetime.strptime(text[:19], EXIF_DATETIME_FORMAT)
    except ValueError:
        return None


def read_tiff_metadata(path: str | Path) -> CaptureMetadata:
    """Metadata from the TIFF/EXIF tags of a TIFF-based file (DNG, NEF, CR2, ARW, KDC, TIFF...).

    Reads IFD0 and its EXIF sub-IFD with tifffile; returns an empty CaptureMetadata for files that
    are not TIFF-based or whose tags cannot be read (never raises for that).
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            tags = tif.pages[0].tags
            ifd0 = {tag.code: tag.value for tag in tags.values()}
    except Exception:  # noqa: BLE001 - not a TIFF, or tags tifffile cannot parse: no metadata
        return CaptureMetadata()
    exif = ifd0.get(34665)
    exif = exif if isinstance(exif, dict) else {}

    def pick(exif_name: str, code: int) -> Any:
        return exif.get(exif_name, ifd0.get(code))

    iso = pick("PhotographicSensitivity", 34855)
    if iso is None:
        iso = exif.get("ISOSpeedRatings")
    orientation = tag_number(ifd0.get(274))
    return CaptureMetadata(
        make=tag_text(ifd0.get(271)),
        model=tag_text(ifd0.get(272)),
        exposure_time_s=tag_number(pick("ExposureTime", 33434)),
        iso=tag_number(iso),
        f_number=tag_number(pick("FNumber", 33437)),
        timestamp=tag_timestamp(pick("DateTimeOriginal", 36867)) or tag_timestamp(ifd0.get(306)),
        orientation=int(orientation) if orientation is not None and 1 <= orientation <= 8 else None,
    )


def read_pil_metadata(path: str | Path) -> CaptureMetadata:
    """EXIF of a JPEG/PNG through Pillow; empty when there is none."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return CaptureMetadata()
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            sub = exif.get_ifd(0x8769)
    except Exception:  # noqa: BLE001 - metadata is optional
        return CaptureMetadata()
    orientation = tag_number(exif.get(274))
    iso = sub.get(34855)
    return CaptureMetadata(
        make=tag_text(exif.get(271)),
        model=tag_text(exif.get(272)),
        exposure_time_s=tag_number(sub.get(33434)),
        iso=tag_number(iso),
        f_number=tag_number(sub.get(33437)),
        timestamp=tag_timestamp(sub.get(36867)) or tag_timestamp(exif.get(306)),
        orientation=int(orientation) if orientation is not None and 1 <= orientation <= 8 else None,
    )


def read_metadata(path: str | Path) -> CaptureMetadata:
    """The tags of any image file without decoding it: PNG/JPEG EXIF through Pillow
    (:func:`read_pil_metadata`), the TIFF/EXIF tags of anything else (:func:`read_tiff_metadata`;
    empty for files without them). A RAW file's complete metadata, with what LibRaw parses from
    maker-specific places: :func:`isp.raw.read_raw_metadata`."""
    if suffix(path) in EXIF_BLOCK_EXTENSIONS:
        return read_pil_metadata(path)
    return read_tiff_metadata(path)


# LibRaw's ``sizes.flip`` (dcraw convention) -> EXIF orientation.
_LIBRAW_FLIP_TO_EXIF = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}


def exif_orientation_from_libraw_flip(flip: int) -> int:
    """EXIF orientation (1..8) for a LibRaw/dcraw ``flip`` value (0..7); 1 when unknown."""
    return _LIBRAW_FLIP_TO_EXIF.get(int(flip), 1)

"""Checks made before decoding and before writing: the pixel budget and finite pixel values.

A file's width and height are read from its header (PNG IHDR, JPEG SOF, TIFF IFDs; LibRaw's header
parse for RAW files) and checked against the pixel budget *before* any pixel is decoded, so a small
file declaring an enormous image (a decompression bomb) is refused without the memory it asks for.
The budget is :data:`DEFAULT_MAX_PIXELS` (200 MP, above the largest still-camera sensors), or the
environment variable ``BURSTCAP_MAX_PIXELS`` (e.g. ``400e6``).
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from isp.errors import IspError, RawReadError

DEFAULT_MAX_PIXELS = 200_000_000
MAX_PIXELS_ENV = "BURSTCAP_MAX_PIXELS"
#: Linear float inputs beyond this magnitude are refused (no camera or HDR merge makes them).
MAX_LINEAR_VALUE = 1e6
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers (they carry the size): C0..CF except DHT, JPG and DAC.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def max_pixels() -> int:
    """The pixel budget: ``$BURSTCAP_MAX_PIXELS`` when set, else :data:`DEFAULT_MAX_PIXELS`."""
    text = os.environ.get(MAX_PIXELS_ENV)
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1):
        raise IspError(f"{MAX_PIXELS_ENV}={text!r} is not a pixel count like 400e6")
    return int(value)


def check_pixel_budget(path: Path, width: int, height: int, limit: int | None = None) -> None:
    """Raise RawReadError when a ``width`` x ``height`` image is over the budget (or empty)."""
    limit = max_pixels() if limit is None else limit
    if width <= 0 or height <= 0:
        raise RawReadError(path, f"declares an empty image ({width}x{height})")
    if width * height > limit:
        raise RawReadError(path, f"declares {width}x{height} pixels ({width * height / 1e6:.0f} MP), "
                                 f"over the pixel budget of {limit / 1e6:.0f} MP; refused before "
                                 f"decoding (set {MAX_PIXELS_ENV} to allow more)")


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG or TIFF header, without decoding; None for other content.

    Raises RawReadError when the header is cut short or malformed.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            if head.startswith(_PNG_MAGIC):
                if head[12:16] != b"IHDR" or len(head) < 24:
                    raise RawReadError(path, "cannot decode as PNG image (damaged header: no IHDR chunk)")
                return struct.unpack(">II", head[16:24])
            if head.startswith(b"\xff\xd8"):
                return _jpeg_size(path, f)
    except OSError as exc:
        raise RawReadError(path, f"cannot read: {exc.strerror or exc}") from None
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff_size(path)
    return None


def _jpeg_size(path: Path, f: BinaryIO) -> tuple[int, int]:
    """Walk the JPEG markers up to the start of frame (``f`` positioned anywhere)."""
    f.seek(2)
    while True:
        byte = f.read(1)
        if not byte:
            raise RawReadError(path, "cannot decode as JPEG image (it ends before its frame header: truncated?)")
        if byte != b"\xff":
            continue  # entropy-coded data or padding between segments
        marker = f.read(1)
        while marker == b"\xff":  # fill bytes
            marker = f.read(1)
        if not marker:
            raise RawReadError(path, "cannot decode as JPEG image (it ends before its frame header: truncated?)")
        code = marker[0]
        if code == 0x00 or code == 0x01 or 0xD0 <= code <= 0xD8:
            continue  # stuffed byte, TEM, RSTn, SOI: no length
        length_bytes = f.read(2)
        if len(length_bytes) < 2:
            raise RawReadError(path, "cannot decode as JPEG image (it ends before its frame header: truncated?)")
        (length,) = struct.unpack(">H", length_bytes)
        if code in _JPEG_SOF:
            frame = f.read(5)
            if len(frame) < 5:
                raise RawReadError(path, "cannot decode as JPEG image (frame header cut short)")
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        if code == 0xD9 or length < 2:
            raise RawReadError(path, "cannot decode as JPEG image (no frame header)")
        f.seek(length - 2, 1)


def _tiff_size(path: Path) -> tuple[int, int]:
    """(width, height x pages) of the first series of a TIFF: what ``tifffile.imread`` decodes."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            series = tif.series[0]
            pages = max(1, math.prod(series.shape) // max(1, page.imagewidth * page.imagelength
                                                          * page.samplesperpixel))
            return int(page.imagewidth), int(page.imagelength) * pages
    except RawReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types for bad files
        raise RawReadError(path, f"cannot decode as TIFF ({exc})") from None


def count_nonfinite(values: np.ndarray, rows: int = 256) -> int:
    """Number of NaN/inf entries of ``values`` (any shape), counted a block of rows at a time so a
    large image needs no full-size mask."""
    if not np.issubdtype(values.dtype, np.floating):
        return 0
    flat = values.reshape(values.shape[0], -1) if values.ndim > 1 else values.reshape(1, -1)
    return int(sum(np.count_nonzero(~np.isfinite(flat[i:i + rows]))
                   for i in range(0, flat.shape[0], rows)))


def check_output_pixels(path: Path, rgb: np.ndarray) -> None:
    """Raise IspError when an image to be written at ``path`` is empty or holds NaN/inf values:
    such a result is never written (it would look like a black picture and count as done)."""
    if rgb.size == 0:
        raise IspError(f"{path}: the result is empty ({rgb.shape}); nothing written")
    bad = count_nonfinite(rgb)
    if bad:
        raise IspError(f"{path}: the result has {bad} values that are not finite (NaN or "
                       f"infinity); nothing written")

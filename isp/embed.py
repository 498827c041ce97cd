"""Capture metadata into written PNG and JPEG files, losslessly (no re-encoding).

The public way to write metadata is :func:`isp.io.write_image` (``metadata=``): TIFF tags for TIFF
(:mod:`isp.tiffmeta`), this module for PNG and JPEG; DNGs carry theirs through :mod:`isp.dng`.
Here an EXIF block (built with Pillow) is spliced into the bytes of an already written file: a PNG
``eXIf`` chunk before the first ``IDAT``, or a JPEG ``APP1`` segment right after the start-of-image
marker. Carried: Make, Model, Orientation (1: the pixels are already upright), ExposureTime, FNumber,
ISO, DateTimeOriginal, Software. Pillow, exiftool and :func:`isp.io.read_linear` read them back.
"""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

from isp.errors import IspError
from isp.formats import EXIF_BLOCK_EXTENSIONS, PNG_EXTENSIONS, suffix
from isp.metadata import EXIF_DATETIME_FORMAT, CaptureMetadata

EXIF_IFD = 0x8769
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The Software tag of written files (as :mod:`isp.dng` writes it).
SOFTWARE = "burstcap isp"


def exif_bytes(metadata: CaptureMetadata, software: str = SOFTWARE) -> bytes:
    """The TIFF-structured EXIF payload (without the ``Exif\\0\\0`` prefix) for ``metadata``."""
    from PIL import Image, TiffImagePlugin

    exif = Image.Exif()
    exif[305] = software
    exif[274] = 1
    if metadata.make:
        exif[271] = metadata.make
    if metadata.model:
        exif[272] = metadata.model
    if metadata.timestamp:
        exif[306] = metadata.timestamp.strftime(EXIF_DATETIME_FORMAT)
    sub = exif.get_ifd(EXIF_IFD)
    if metadata.exposure_time_s:
        fraction = Fraction(metadata.exposure_time_s).limit_denominator(1_000_000)
        sub[33434] = TiffImagePlugin.IFDRational(fraction.numerator, fraction.denominator)
    if metadata.f_number:
        fraction = Fraction(metadata.f_number).limit_denominator(1000)
        sub[33437] = TiffImagePlugin.IFDRational(fraction.numerator, fraction.denominator)
    if metadata.iso:
        sub[34855] = int(round(min(metadata.iso, 65535)))
    if metadata.timestamp:
        sub[36867] = metadata.timestamp.strftime(EXIF_DATETIME_FORMAT)
    return exif.tobytes().removeprefix(b"Exif\x00\x00")


def _png_with_exif(data: bytes, payload: bytes, path: Path) -> bytes:
    if not data.startswith(PNG_SIGNATURE):
        raise IspError(f"{path}: not a PNG file")
    at = data.find(b"IDAT") - 4  # chunk = length (4) + type (4) + data + CRC (4)
    if at < len(PNG_SIGNATURE):
        raise IspError(f"{path}: PNG without image data")
    chunk = struct.pack(">I", len(payload)) + b"eXIf" + payload
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + payload) & 0xFFFFFFFF)
    return data[:at] + chunk + data[at:]


def _jpeg_with_exif(data: bytes, payload: bytes, path: Path) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise IspError(f"{path}: not a JPEG file")
    body = b"Exif\x00\x00" + payload
    if len(body) + 2 > 0xFFFF:
        raise IspError(f"{path}: EXIF block too large")
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[2:]


def embed_exif(path: str | Path, metadata: CaptureMetadata) -> None:
    """Add ``metadata`` as EXIF to the PNG or JPEG file ``path`` in place (:func:`isp.io.write_image`
    calls it on its temp file before the atomic rename). IspError for other formats."""
    path = Path(path)
    if suffix(path) not in EXIF_BLOCK_EXTENSIONS:
        raise IspError(f"{path}: cannot embed an EXIF block in a {suffix(path) or 'extensionless'} file")
    data = path.read_bytes()
    splice = _png_with_exif if suffix(path) in PNG_EXTENSIONS else _jpeg_with_exif
    path.write_bytes(splice(data, exif_bytes(metadata), path))

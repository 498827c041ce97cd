"""Write capture metadata into TIFF-based files (DNG, 16-bit TIFF) the way LibRaw reads it.

Make, Model and DateTime go in IFD0; ExposureTime, FNumber, ISO and DateTimeOriginal go in a real
EXIF sub-IFD (LibRaw reads ISO and DateTimeOriginal only there). tifffile writes IFD0 with a
placeholder ExifIFD pointer; :func:`append_exif_ifd` then appends the EXIF IFD and patches it in.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

from isp.metadata import EXIF_DATETIME_FORMAT, CaptureMetadata

EXIF_IFD_TAG = 34665
#: tifffile refuses to write ExifIFD itself: a free code just below it holds the place, then is renamed.
_PLACEHOLDER_TAG = EXIF_IFD_TAG - 1
_SHORT, _ASCII, _LONG, _RATIONAL, _UNDEFINED = 3, 2, 4, 5, 7

ExtraTag = tuple[int, str, int, object, bool]


def rational(value: float) -> tuple[int, int]:
    """A positive float as an unsigned TIFF rational (numerator, denominator)."""
    fraction = Fraction(float(value)).limit_denominator(1_000_000)
    if fraction.numerator > 0xFFFFFFFF:
        fraction = Fraction(round(value))
    return fraction.numerator, fraction.denominator


def _exif_entries(metadata: CaptureMetadata) -> list[tuple[int, int, int, bytes]]:
    """(tag, type, count, little-endian value bytes) of the EXIF IFD, sorted by tag."""
    entries = [(36864, _UNDEFINED, 4, b"0230")]  # ExifVersion
    if metadata.exposure_time_s:
        entries.append((33434, _RATIONAL, 1, struct.pack("<II", *rational(metadata.exposure_time_s))))
    if metadata.f_number:
        entries.append((33437, _RATIONAL, 1, struct.pack("<II", *rational(metadata.f_number))))
    if metadata.iso:
        entries.append((34855, _SHORT, 1, struct.pack("<H", int(round(min(metadata.iso, 65535))))))
    if metadata.timestamp:
        text = metadata.timestamp.strftime(EXIF_DATETIME_FORMAT).encode("ascii") + b"\x00"
        entries.append((36867, _ASCII, len(text), text))
    return sorted(entries)


def ifd0_tags(metadata: CaptureMetadata) -> list[ExtraTag]:
    """tifffile ``extratags`` for IFD0: Make, Model, DateTime and the ExifIFD placeholder."""
    tags: list[ExtraTag] = []
    if metadata.make:
        tags.append((271, "s", 0, metadata.make, True))
    if metadata.model:
        tags.append((272, "s", 0, metadata.model, True))
    if metadata.timestamp:
        tags.append((306, "s", 0, metadata.timestamp.strftime(EXIF_DATETIME_FORMAT), True))
    tags.append((_PLACEHOLDER_TAG, "I", 1, 0, True))
    return tags


def _ifd0_entry_offset(handle: BinaryIO, tag: int) -> int:
    """File offset of the 12-byte entry of ``tag`` in IFD0 of a little-endian classic TIFF."""
    header = handle.read(8)
    if header[:4] != b"II*\x00":
        raise ValueError("expected a little-endian classic TIFF")
    (ifd,) = struct.unpack("<I", header[4:])
    handle.seek(ifd)
    (count,) = struct.unpack("<H", handle.read(2))
    for index in range(count):
        (code,) = struct.unpack("<H", handle.read(12)[:2])
        if code == tag:
            return ifd + 2 + 12 * index
    raise ValueError(f"IFD0 has no tag {tag}")


def append_exif_ifd(path: str | Path, metadata: CaptureMetadata) -> None:
    """Append the EXIF IFD of ``metadata`` to a little-endian classic TIFF written with
    :func:`ifd0_tags`, and point IFD0's ExifIFD tag at it (the file is modified in place)."""
    entries = _exif_entries(metadata)
    with open(path, "r+b") as handle:
        entry_offset = _ifd0_entry_offset(handle, _PLACEHOLDER_TAG)
        handle.seek(0, 2)
        start = handle.tell()
        start += start % 2  # IFDs start on a word boundary
        data_offset = start + 2 + 12 * len(entries) + 4
        table = bytearray(struct.pack("<H", len(entries)))
        data = bytearray()
        for tag, kind, count, value in entries:
            if len(value) <= 4:
                field = value.ljust(4, b"\x00")
            else:
                field = struct.pack("<I", data_offset + len(data))
                data += value + b"\x00" * (len(value) % 2)
            table += struct.pack("<HHI", tag, kind, count) + field
        table += struct.pack("<I", 0)  # no next IFD
        handle.seek(start)
        handle.write(bytes(table) + bytes(data))
        handle.seek(entry_offset)
        handle.write(struct.pack("<HHII", EXIF_IFD_TAG, _LONG, 1, start))

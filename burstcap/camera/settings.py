"""Camera setting strings: the one place they are parsed.

Cameras report shutter speeds and ISOs as strings in their own spelling (``'1/100'``, ``'0.0100s'``,
``'30"'``, ``'ISO 200'``, ``'Auto'``). :func:`parse_shutter` and :func:`parse_iso` turn them into numbers
(None when the string names no number, e.g. ``'bulb'`` or ``'Auto'``); :func:`nearest_choice` picks the
camera's choice nearest a target value, in stops; :func:`is_raw_format` reads an image-format choice. Used by shooting (:mod:`burstcap.shoot`), tethered
calibration (``burstcap calibrate``), the CLI's options and the scripted test camera.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from burstcap.camera.backend import UnsupportedOperationError


def parse_shutter(text: str) -> float | None:
    """Seconds from a camera's shutter string ('1/100', '0.0100s', '2.5', '30"'); None for 'bulb' etc."""
    s = text.strip().lower().rstrip("s\"' ").strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)", s)
    try:
        value = float(m.group(1)) / float(m.group(2)) if m else float(s)
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 and math.isfinite(value) else None


def parse_iso(text: str) -> float | None:
    """ISO number from a camera's ISO string ('100', 'ISO 200'); None for 'Auto' and the like."""
    m = re.fullmatch(r"(?:iso\s*)?(\d+(?:\.\d+)?)", text.strip().lower())
    return float(m.group(1)) if m and float(m.group(1)) > 0 else None


def nearest_choice(choices: tuple[str, ...], target: float,
                   parse: Callable[[str], float | None]) -> tuple[str, float]:
    """The choice whose parsed value is nearest ``target`` in stops (log2); raises
    :class:`UnsupportedOperationError` when none parse."""
    parsed = [(c, v) for c in choices if (v := parse(c)) is not None]
    if not parsed:
        raise UnsupportedOperationError(f"no usable value among the camera's choices {list(choices)}")
    return min(parsed, key=lambda cv: abs(math.log2(cv[1] / target)))


def is_raw_format(text: str) -> bool:
    """True when a camera's image-format string ('RAW', 'RAW + Large Fine JPEG', 'NEF (Raw)')
    records a RAW file."""
    return bool(re.search(r"raw|nef|arw|cr2|cr3|orf|raf|rw2|pef|dng", text.lower()))


__all__ = ["is_raw_format", "nearest_choice", "parse_iso", "parse_shutter"]

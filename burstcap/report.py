"""The report per shot: a small JSON file beside every fused output (``<output name>.json``).

Written by the one fuse path (:func:`burstcap.fuse.fuse_frames`) for every door: ``burstcap fuse``,
``process``, ``shoot``, the ``Pipeline`` API and ``serve``; the format is documented
in the README ("The report per shot"). Version ``burstcap_report: 1``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from isp.atomic import atomic_write_text

from burstcap.align import Alignment

REPORT_VERSION = 1


def report_path(out_path: Path) -> Path:
    """Where the report of ``out_path`` goes: ``fused.tif`` -> ``fused.tif.json``."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".json")


def shot_report(*, out_path: Path, short: Path, long: Path, size: tuple[int, int], ratio: float,
                ratio_source: str, alignment: Alignment, gain: float, short_share: float | None,
                profile: str | None, model: str, device: str, seconds: dict[str, float],
                warnings: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The report as a JSON-ready dict. ``size``: (width, height) px; ``short_share``: share of the
    picture the ghost guard took from the short frame (None: guard off); ``seconds``: wall time per
    step, with ``total``."""
    return {
        "burstcap_report": REPORT_VERSION,
        "output": Path(out_path).name,
        "inputs": {"short": str(short), "long": str(long)},
        "size": list(size),
        "ratio": round(float(ratio), 4),
        "ratio_source": ratio_source,
        "alignment": {
            "method": alignment.method,
            "shift_px": round(float(alignment.shift_px), 2),
            "correlation": round(float(alignment.correlation), 4),
            "residual": round(float(alignment.residual), 4),
        },
        "exposure_gain": round(float(gain), 5),
        "ghost_guard": {"enabled": short_share is not None,
                        "short_share": round(float(short_share or 0.0), 4)},
        "noise_profile": profile,
        "model": model,
        "device": device,
        "seconds": {step: round(float(value), 3) for step, value in seconds.items()},
        "warnings": list(warnings),
    }


def write_report(out_path: Path, report: dict[str, Any]) -> Path:
    """Write ``report`` beside ``out_path`` (:func:`report_path`), atomically; returns its path."""
    return atomic_write_text(report_path(out_path), json.dumps(report, indent=2) + "\n")


def read_report(out_path: Path) -> dict[str, Any] | None:
    """The report beside ``out_path``, or None when there is none (or it cannot be parsed)."""
    try:
        return json.loads(report_path(out_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None

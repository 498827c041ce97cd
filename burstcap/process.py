"""Offline processing of a folder of short/long pairs (``burstcap process``): pairing, fusing, resuming.

(Work in progress: pairing and batch processing land next; ``FuseSettings`` and ``fuse_files`` are the
stable entry points used by :mod:`burstcap.pipeline`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from burstcap.errors import BurstcapError


@dataclass(frozen=True)
class FuseSettings:
    """How a pair is fused: model name (``burstcap.models`` entry point), weights, device, output."""

    model: str = "deblur-rnn"
    weights: Path | None = None
    device: str = "auto"
    output_format: str = "tif"


def fuse_files(short: Path, long: Path, out: Path, settings: FuseSettings) -> Path:
    """Fuse one RAW/sRGB pair into ``out`` (atomic) with the ``burstcap fuse`` pipeline."""
    raise BurstcapError("fusing is not wired yet")

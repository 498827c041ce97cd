"""Fusion options shared by the commands that fuse (fuse, process, shoot, serve): the argparse
arguments they all declare and the one way :class:`burstcap.fuse.FuseOptions` is built from them.

Light on purpose (``--help`` imports nothing heavy): :mod:`burstcap.fuse` is imported in the function.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # burstcap.fuse loads torch and OpenCV
    from burstcap.fuse import FuseOptions

#: Command-line destinations that are FuseOptions fields of the same name (``ratio`` is not here: its
#: text is parsed, and ``burstcap shoot --ratio`` is the capture's ratio, not a fusion option).
FUSE_FIELDS = ("model", "weights", "device", "tile", "overlap", "align", "motion", "bits", "threads",
               "ghost_guard", "ensemble", "colour_match", "profile")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """--model, --weights, --device: which network fuses and where it runs (default None: the
    FuseOptions default, or the --config file's value)."""
    p.add_argument("--model", default=None, metavar="NAME",
                   help="fusion model: deblur-rnn (default), deblur-merger, or a plugin registered in "
                        "the deblurnet.models entry-point group")
    p.add_argument("--weights", type=Path, default=None, metavar="FILE",
                   help="weights .safetensors (with its .json card beside it); default: the weights "
                        "shipped with the package")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                   help="where the network runs: auto (default: CUDA when present, else CPU), cpu, cuda")


def add_config_argument(p: argparse.ArgumentParser) -> None:
    """--config: fusion options from the [fuse] table of a TOML file (:func:`burstcap.fuse.load_options`)."""
    p.add_argument("--config", type=Path, default=None, metavar="TOML",
                   help="read fusion options from the [fuse] table of this TOML file first (the names "
                        "of the 'burstcap fuse' options); options given on the command line override it")


def fuse_options_from_args(args: argparse.Namespace, *, config: Path | None = None,
                           ratio: str | None = None) -> FuseOptions:
    """FuseOptions: defaults, then the ``[fuse]`` table of ``config`` (a TOML file), then every
    option of :data:`FUSE_FIELDS` the command declares and the command line gave (not None), then
    ``ratio`` (text like "8" or "1/8"); validated. BurstcapError on a bad file or value."""
    from burstcap.fuse import FuseOptions, load_options, parse_ratio

    options = load_options(config) if config else FuseOptions()
    given = {name: getattr(args, name) for name in FUSE_FIELDS if getattr(args, name, None) is not None}
    if ratio is not None:
        given["ratio"] = parse_ratio(ratio)
    return dataclasses.replace(options, **given).validate()

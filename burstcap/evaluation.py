"""Scores of the whole fuse path on a deblurnet triplet folder: what a user gets from ``burstcap fuse``.

``deblurnet evaluate`` scores the network alone on a triplet's frames. A user's command does more
around the same network (:func:`burstcap.fuse.fuse_arrays`): it aligns the long frame, guards against
ghosts, estimates the noise map from the image, keeps an sRGB file's brightness and restores the long
frame's colour balance. This module adds that as one more row, ``burstcap fuse``, to the same report
(:func:`deblurnet.evaluate.score_folder`, so the baselines and the "worse than the best input" share
are the same): each triplet's two frames go through the fuse path as the sRGB files they are, with
ratio 1 (a triplet's short frame is already at the long frame's brightness), as
``burstcap fuse short.png long.png --ratio 1`` would take them. The triplet's stored noise map is not
used: for sRGB files the fuse path estimates it from the image.

    python -m burstcap.evaluation data-cache/test-polyu --json docs/results/test-polyu.json
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from deblurnet import DeblurnetError
from deblurnet.baselines import Method
from deblurnet.data import list_triplets
from deblurnet.evaluate import NamedMethod, Report, file_fingerprint, score_into
from deblurnet.inference import shipped_weights
from hardware_profiles.registry import GENERIC_NAME
from isp.errors import IspError
from isp.io import read_linear
from isp.color import srgb_decode, srgb_encode
from torch import nn

from burstcap.errors import BurstcapError
from burstcap.fuse import FuseOptions, fuse_arrays, fuse_pair, fusion_model
from burstcap.raw_testset import LOUDER_PROFILE, is_raw_set, raw_paths, set_gains

ROW = "burstcap fuse"
"""The report row of the whole fuse path."""
FUSE_PATH_VERSION = "fuse-path-2"
"""Part of the row's fingerprint: bump it when the fuse path around the network changes."""


NOT_IN_FINGERPRINT = frozenset({
    "model", "weights",  # the network: fingerprinted by its weights file
    "device", "threads",  # where it runs
    "bits",  # the depth of a file written only to be read back (16 bits)
})
"""FuseOptions fields that do not change this module's pixels. Every other field, a new one included,
is part of the row's fingerprint, so a report row made with other settings is scored again."""


def settings_fingerprint(options: FuseOptions) -> str:
    """The fuse settings that change the pixels, as ``name=value`` joined by ``:``; a profile given as
    a file is named by a hash of its contents (so a moved set keeps its rows, an edited profile not)."""
    def value(name: str) -> object:
        v = getattr(options, name)
        if name == "profile" and v is not None and Path(v).is_file():
            return "sha1-" + hashlib.sha1(Path(v).read_bytes()).hexdigest()[:16]
        return v

    return ":".join(f"{field.name}={value(field.name)}" for field in dataclasses.fields(options)
                    if field.name not in NOT_IN_FINGERPRINT)


def fuse_method(model: nn.Module, options: FuseOptions | None = None) -> Method:
    """A :data:`deblurnet.baselines.Method` running :func:`burstcap.fuse.fuse_arrays` on a triplet's
    (H, W, 3) float32 sRGB [0, 1] frames as sRGB files (ratio 1); returns (H, W, 3) sRGB [0, 1]."""
    opts = options or FuseOptions()

    def run(short: np.ndarray, long: np.ndarray, noise: np.ndarray) -> np.ndarray:
        del noise  # sRGB files: the fuse path estimates the map from the image
        fused = fuse_arrays(np.asarray(srgb_decode(short), np.float32), np.asarray(srgb_decode(long), np.float32),
                            1.0, model, **opts.array_options(), display_referred=True, progress=False)
        return np.asarray(srgb_encode(np.clip(fused.rgb, 0.0, 1.0)), np.float32)

    return run


def raw_fuse_method(folder: Path, model: nn.Module, options: FuseOptions, work: Path) -> NamedMethod:
    """A :data:`deblurnet.evaluate.NamedMethod` running the whole command, :func:`burstcap.fuse.fuse_pair`,
    on a RAW set's DNGs (:func:`burstcap.raw_testset.raw_paths`) into ``work``; returns the result in
    the set's network domain (times the set's normalisation gain, sRGB-encoded), as its truth is: the
    command's output is scene-linear at the long frame's exposure, whatever its ``target_level``."""
    opts = dataclasses.replace(options, bits=16)
    gains = set_gains(folder)

    def run(name: str) -> np.ndarray:
        short, long, _ = raw_paths(folder, name)
        out = work / f"{Path(name).stem}.png"
        fuse_pair(short, long, out, opts, model=model, progress=False)
        rgb = read_linear(out).rgb * np.float32(gains[name])
        return np.asarray(srgb_encode(np.clip(rgb, 0.0, 1.0)), np.float32)

    return run


def raw_rows(folder: Path, options: FuseOptions) -> dict[str, FuseOptions]:
    """The rows of a RAW set, by name: the command as a user runs it (the camera's noise profile,
    found by its make and model), with the noise map estimated from the image instead (the generic
    profile), and with a profile of four times the camera's noise variance (the set's
    :data:`burstcap.raw_testset.LOUDER_PROFILE`)."""
    suffix = "" if options.ensemble == 1 else f" x{options.ensemble}"
    return {f"{ROW} (RAW){suffix}": options,
            f"{ROW} (RAW, noise estimated){suffix}": dataclasses.replace(options, profile=GENERIC_NAME),
            f"{ROW} (RAW, profile x4 variance){suffix}":
                dataclasses.replace(options, profile=str(Path(folder).resolve() / LOUDER_PROFILE))}


def score(folder: Path, json_path: Path | None = None, model: nn.Module | None = None,
          options: FuseOptions | None = None) -> Report:
    """Score the fuse path and the baselines on ``folder``, resuming from and writing to ``json_path``
    when given (other rows in it are kept). A folder of sRGB triplets gets row :data:`ROW`; a RAW set
    (:mod:`burstcap.raw_testset`) the rows of :func:`raw_rows`; `` xN`` is added with
    ``options.ensemble`` N > 1. ``model`` None: the shipped network of ``options`` (fingerprinted by
    its weights file, so new weights are scored again)."""
    opts = options or FuseOptions()
    list_triplets(folder)  # bad input fails before the model is loaded
    if model is None:
        model = fusion_model(opts)
        weights = opts.weights or shipped_weights(opts.model)
        network = file_fingerprint(weights) if Path(weights).is_file() else f"plugin:{opts.model}"
    else:
        network = ""  # a model given in code: never reused

    def fingerprint(row_options: FuseOptions) -> str:
        return f"{network}:{FUSE_PATH_VERSION}:{settings_fingerprint(row_options)}" if network else ""

    progress = sys.stderr.isatty()
    if not is_raw_set(folder):
        row = ROW if opts.ensemble == 1 else f"{ROW} x{opts.ensemble}"
        return score_into(folder, {row: fuse_method(model, opts)}, json_path, {row: fingerprint(opts)},
                          progress=progress)
    rows = raw_rows(folder, opts)
    with tempfile.TemporaryDirectory(prefix="burstcap-eval-") as work:
        named = {row: raw_fuse_method(folder, model, row_options, Path(work)) for row, row_options in rows.items()}
        return score_into(folder, {}, json_path, {row: fingerprint(o) for row, o in rows.items()},
                          progress=progress, named=named)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m burstcap.evaluation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path, metavar="DIR", help="triplet folder (short/, long/, sharp/)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT",
                        help="add the row to this report (deblurnet evaluate's JSON), resuming from it")
    parser.add_argument("--ensemble", type=int, default=1, choices=(1, 2, 4, 8), metavar="N",
                        help="score `burstcap fuse --ensemble N` instead (row 'burstcap fuse xN'); default 1")
    args = parser.parse_args(argv)
    if args.json is not None and not args.json.parent.is_dir():
        print(f"burstcap.evaluation: error: {args.json}: its folder {args.json.parent} does not exist",
              file=sys.stderr)
        return 2
    try:
        report = score(args.dir, args.json, options=FuseOptions(ensemble=args.ensemble))
    except (DeblurnetError, BurstcapError, IspError) as exc:
        print(f"burstcap.evaluation: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"burstcap.evaluation: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"{args.dir}: {report.to_dict()['images']} pair(s)")
    print(report.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())

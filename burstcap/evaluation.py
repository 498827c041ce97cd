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
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from deblurnet import DeblurnetError
from deblurnet.baselines import Method
from deblurnet.data import list_triplets
from deblurnet.evaluate import Report, file_fingerprint, score_into
from deblurnet.inference import shipped_weights
from isp.color import srgb_decode, srgb_encode
from torch import nn

from burstcap.errors import BurstcapError
from burstcap.fuse import FuseOptions, fuse_arrays, fusion_model

ROW = "burstcap fuse"
"""The report row of the whole fuse path."""
FUSE_PATH_VERSION = "fuse-path-1"
"""Part of the row's fingerprint: bump it when the fuse path around the network changes."""


NOT_IN_FINGERPRINT = frozenset({
    "model", "weights",  # the network: fingerprinted by its weights file
    "device", "threads",  # where it runs
    "ratio", "target_level", "profile", "bits",  # unused here: sRGB files at ratio 1, no file written
})
"""FuseOptions fields that do not change this module's pixels. Every other field, a new one included,
is part of the row's fingerprint, so a report row made with other settings is scored again."""


def settings_fingerprint(options: FuseOptions) -> str:
    """The fuse settings that change the pixels, as ``name=value`` joined by ``:``."""
    return ":".join(f"{field.name}={getattr(options, field.name)}" for field in dataclasses.fields(options)
                    if field.name not in NOT_IN_FINGERPRINT)


def fuse_method(model: nn.Module, options: FuseOptions | None = None) -> Method:
    """A :data:`deblurnet.baselines.Method` running :func:`burstcap.fuse.fuse_arrays` on a triplet's
    (H, W, 3) float32 sRGB [0, 1] frames as sRGB files (ratio 1); returns (H, W, 3) sRGB [0, 1]."""
    opts = options or FuseOptions()

    def run(short: np.ndarray, long: np.ndarray, noise: np.ndarray) -> np.ndarray:
        del noise  # sRGB files: the fuse path estimates the map from the image
        fused = fuse_arrays(np.asarray(srgb_decode(short), np.float32), np.asarray(srgb_decode(long), np.float32),
                            1.0, model, align=opts.align_options(), tile=opts.tile, overlap=opts.overlap,
                            ensemble=opts.ensemble, colour_match=opts.colour_match,
                            ghost_guard=opts.ghost_guard, display_referred=True, progress=False)
        return np.asarray(srgb_encode(np.clip(fused.rgb, 0.0, 1.0)), np.float32)

    return run


def score(folder: Path, json_path: Path | None = None, model: nn.Module | None = None,
          options: FuseOptions | None = None) -> Report:
    """Score the fuse path (row :data:`ROW`, ``ROW xN`` with ``options.ensemble`` N > 1) and the
    baselines on ``folder``, resuming from and writing
    to ``json_path`` when given (other rows in it are kept). ``model`` None: the shipped network of
    ``options`` (fingerprinted by its weights file, so new weights are scored again)."""
    opts = options or FuseOptions()
    list_triplets(folder)  # bad input fails before the model is loaded
    if model is None:
        model = fusion_model(opts)
        weights = opts.weights or shipped_weights(opts.model)
        network = file_fingerprint(weights) if Path(weights).is_file() else f"plugin:{opts.model}"
        fingerprint = f"{network}:{FUSE_PATH_VERSION}:{settings_fingerprint(opts)}"
    else:
        fingerprint = ""  # a model given in code: never reused
    row = ROW if opts.ensemble == 1 else f"{ROW} x{opts.ensemble}"
    return score_into(folder, {row: fuse_method(model, opts)}, json_path, {row: fingerprint},
                      progress=sys.stderr.isatty())


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
    except (DeblurnetError, BurstcapError) as exc:
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

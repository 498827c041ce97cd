"""`deblurnet evaluate`: PSNR / SSIM / speed of networks and classical baselines on a triplet folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deblurnet.errors import DeblurnetError

if TYPE_CHECKING:  # baselines / evaluate load OpenCV, torch and scipy: imported in run(), --help is fast
    from deblurnet.baselines import Method

#: The names of deblurnet.baselines.BASELINES, repeated so that --help imports nothing heavy (a test
#: checks they agree).
BASELINE_NAMES = ("long", "short", "short-denoised", "pair-classical")

EPILOG = f"""baselines, always reported: {', '.join(BASELINE_NAMES)}
  long: the blurry frame as is; short: the ratio-scaled noisy frame as is; short-denoised: OpenCV
  non-local means on the short frame; pair-classical: kernel from the denoised short and the long frame,
  then residual deconvolution of the long frame (after Yuan et al. 2007).

examples:
  deblurnet synth --protocol gopro2 --source ../shared/data/gopro/GOPR0477_11_00 --frames 101-120 \\
      --count 20 --size full --seed 1 --out data/val-gopro2
  deblurnet evaluate data/val-gopro2 --model deblur-rnn --json results/val-gopro2.json
  deblurnet evaluate data/val-gopro2 --weights runs/a/weights.safetensors --weights runs/b/weights.safetensors

DIR holds short/, long/, sharp/ with the same PNG names; short frames are already multiplied by the
exposure ratio (that is what a triplet folder means), so no ratio is estimated. PSNR/SSIM: scikit-image
on sRGB 0..255, full image. "worse": the share of pairs on which the method is below the better of the
two inputs a user could have kept (the long frame, or the short frame denoised by non-local means).
Noise maps come from DIR/noise/ when present, else they are estimated from the short frames, as
fusion does for sRGB files. With --json, an interrupted run resumes from the file."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="score networks and classical baselines on a triplet folder",
        description="Print a table (and optionally write JSON) of per-image and mean PSNR / SSIM and "
                    "seconds per pair for each network given and for the classical baselines.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", type=Path, metavar="DIR", help="triplet folder (short/, long/, sharp/)")
    p.add_argument("--model", action="append", default=[], metavar="NAME",
                   help="a fusion network with its shipped weights (deblur-rnn, deblur-merger or a "
                        "plugin); repeat for several")
    p.add_argument("--weights", action="append", default=[], type=Path, metavar="PATH",
                   help="a weights file (.safetensors with its JSON card beside it); repeat for several")
    p.add_argument("--json", type=Path, default=None, metavar="OUT",
                   help="write the per-image and mean results here as JSON (resumes from it if present)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where networks run (default: auto = CUDA when present)")
    p.add_argument("--tile", type=int, default=None, metavar="PX",
                   help="network tile side in pixels (default: deblurnet.inference's default)")
    p.add_argument("--ensemble", type=int, default=1, choices=(1, 2, 4, 8), metavar="N",
                   help="also score each network as a self-ensemble over N flips/turns (rows 'NAME xN'; "
                        "N times slower); default 1: plain rows only")
    p.set_defaults(func=run)


def load_networks(args: argparse.Namespace) -> tuple[dict[str, Method], dict[str, str]]:
    """Networks named by --model / --weights as Methods, with their fingerprints."""
    networks: dict[str, Method] = {}
    prints: dict[str, str] = {}
    if not args.model and not args.weights:
        return networks, prints
    from deblurnet import inference
    from deblurnet.checkpoint import load_weights
    from deblurnet.evaluate import file_fingerprint, network_method

    def add(label: str, model: Any, fingerprint: str) -> None:
        networks[label] = network_method(model, args.tile)
        prints[label] = fingerprint
        if args.ensemble > 1:
            networks[f"{label} x{args.ensemble}"] = network_method(model, args.tile, args.ensemble)
            prints[f"{label} x{args.ensemble}"] = f"{fingerprint}:x{args.ensemble}"

    for name in args.model:
        model = inference.load_model(name, device=args.device)
        weights = inference.shipped_weights(name)
        add(name, model, file_fingerprint(weights) if weights.is_file() else f"plugin:{name}")
    for path in args.weights:
        if not path.is_file():
            raise DeblurnetError(f"{path}: weights file not found")
        model = inference.prepare_model(load_weights(path), args.device)
        label = f"{getattr(model, 'config', {}).get('name', 'model')}:{path.stem}"
        if label in networks:
            label = f"{label}:{path.parent.name}"
        add(label, model, file_fingerprint(path))
    return networks, prints


def run(args: argparse.Namespace) -> int:
    from deblurnet.data import list_triplets
    from deblurnet.evaluate import score_into

    list_triplets(args.dir)  # bad input fails before any model is loaded
    networks, prints = load_networks(args)
    report = score_into(args.dir, networks, args.json, prints, progress=sys.stderr.isatty())
    print(f"{args.dir}: {report.to_dict()['images']} pair(s)")
    print(report.table())
    return 0

"""`burstcap demo`: synthesise a short/long pair from a bundled image, fuse it, show the result.

The work is in :mod:`burstcap.demo` (imported by :func:`run`, so ``--help`` loads no torch).
"""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """\
example:
  burstcap demo --out demo-output      # then open demo-output/comparison.jpg

Without the shipped weights (deblurnet/weights/deblur-rnn.safetensors) the demo runs an untrained
network and says so: the fused image then shows the pipeline, not the quality.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="fuse a built-in synthetic pair and write a side-by-side comparison",
        description="Synthesise a short (noisy, 1/8 exposure) and a long (shaken, blurred) frame from "
                    "an image bundled with scikit-image, fuse them with the shipped model and write "
                    "short.png, long.png, fused.png, sharp.png and comparison.jpg; prints PSNR of "
                    "each frame against the sharp original.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("demo-output"), metavar="DIR",
                   help="folder for the images (created if missing; default demo-output)")
    p.add_argument("--model", default="deblur-rnn", metavar="NAME",
                   help="fusion model (default deblur-rnn)")
    p.add_argument("--weights", type=Path, default=None, metavar="FILE",
                   help="weights .safetensors (default: the shipped weights, else an untrained model)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the network runs (default auto: CUDA when present, else CPU)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for the network (default: the number of physical cores)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from burstcap.demo import run_demo
    from deblurnet.inference import check_threads

    check_threads(args.threads)  # before any work
    return run_demo(args.out, args.model, args.weights, args.device, args.threads)

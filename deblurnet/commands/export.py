"""`deblurnet export`: a training run's newest checkpoint -> shipped weights (fp16 safetensors + card)."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """The BatchNorm statistics are re-estimated first over RECALIBRATE training batches (the running
averages kept during training lag the weights), then the run's validation folder is scored again, so
the JSON card beside the weights describes the weights as shipped.

example:
  deblurnet export runs/deblur-rnn-compact deblurnet/weights/deblur-rnn.safetensors --recalibrate 40"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a run's newest checkpoint as shipped fp16 weights + card",
                       description="Write the newest checkpoint of a training run as fp16 safetensors "
                                   "weights with a JSON card (model config, steps, data, validation).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, metavar="RUN", help="run folder (or one checkpoint folder)")
    p.add_argument("out", type=Path, metavar="OUT.safetensors", help="weights file to write (atomic)")
    p.add_argument("--recalibrate", type=int, default=40, metavar="N",
                   help="training batches for the BatchNorm re-estimate; 0 keeps the stored statistics "
                        "(default 40)")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights (default: float16)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from deblurnet.train import export_weights

    torch.set_num_threads(1)
    dtype = torch.float32 if args.fp32 else torch.float16
    path = export_weights(args.run, args.out, dtype=dtype, recalibrate=max(args.recalibrate, 0))
    print(f"exported {args.run} -> {path}")
    return 0

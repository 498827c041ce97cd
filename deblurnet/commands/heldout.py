"""`deblurnet heldout`: build an evaluation set from material never trained on (LSD2, PolyU)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EPILOG = """sets:
  lsd2   LSD2's published synthetic short/long/sharp triplets (another group's synthesis), as they are:
         the short frame is scaled by the exposure ratio estimated from the images, as burstcap fuse
         does without --ratio
  polyu  real high-ISO camera JPEGs as short frames; their clean mean of ~500 shots, blurred by a
         random camera-shake kernel and shifted a few pixels, as long frames; the mean as truth

examples:
  deblurnet heldout lsd2 --source ../shared/data/lsd2_train --out data-cache/test-lsd2
  deblurnet heldout polyu --source ../shared/data/polyu --out data-cache/test-polyu --seed 1
  deblurnet evaluate data-cache/test-polyu --model deblur-rnn --json docs/results/test-polyu.json"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("heldout", help="build a held-out evaluation set (lsd2, polyu) as a triplet folder",
                       description="Write a triplet folder (short/, long/, sharp/, noise/, meta.json) for "
                                   "'deblurnet evaluate' from evaluation-only material.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("set", choices=("lsd2", "polyu"), help="which set to build")
    p.add_argument("--source", type=Path, required=True, help="the set's folder in the data folder")
    p.add_argument("--out", type=Path, required=True, help="triplet folder to write")
    p.add_argument("--seed", type=int, default=0, help="polyu: seed of the shake kernels (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from deblurnet.errors import DeblurnetError
    from deblurnet.heldout import build_lsd2, build_polyu
    from isp.atomic import atomic_write_text

    if not args.source.is_dir():
        raise DeblurnetError(f"{args.source}: no such folder")
    if args.seed < 0:
        raise DeblurnetError(f"--seed must be >= 0, got {args.seed}")
    if args.set == "lsd2":
        records = build_lsd2(args.source, args.out)
    else:
        records = build_polyu(args.source, args.out, args.seed)
    meta = {"set": args.set, "source": str(args.source), "seed": args.seed, "pairs": records}
    atomic_write_text(args.out / "meta.json", json.dumps(meta, indent=1))
    print(f"{args.out}: {len(records)} {args.set} pair(s) written")
    return 0

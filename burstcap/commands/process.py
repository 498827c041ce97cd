"""`burstcap process DIR`: find short/long pairs in a folder and fuse them all (resumable, shardable)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from burstcap.commands.options import add_config_argument, add_model_arguments, fuse_options_from_args
from burstcap.errors import BurstcapError

#: burstcap.process.DEFAULT_OUT_NAME, repeated here so that --help imports nothing heavy (a test
#: checks they agree).
DEFAULT_OUT_NAME = "burstcap-fused"

EPILOG = f"""\
examples:
  burstcap process shots/ --recursive
      every session folder (session.json) and every EXIF pair under shots/, into shots/{DEFAULT_OUT_NAME}/
  burstcap process card/ --out fused/ --model deblur-merger --device cuda --format png
  burstcap process card/ --out fused/ --shard 0/4   (and 1/4, 2/4, 3/4 on other GPUs or hosts)
  torchrun --nproc-per-node 4 --no-python burstcap process card/ --out fused/ --shard env --device cuda

Pairing: a folder with a session.json (from 'burstcap shoot') is one pair. Elsewhere, in this order:
  - sub-folders short/ and long/: files of the same name pair up (short/001.png + long/001.png);
  - file names holding the word short or long, the rest equal (beach_short.png + beach_long.png);
  - with --sequence, consecutive files in name order, two by two (the darker is the short frame);
  - otherwise EXIF: same camera, consecutive captures at most --window seconds apart, exposure ratio
    at least --min-ratio; the darker one is the short frame.
Every file not used is listed with the reason; when nothing pairs, the exit status is 2 with a hint.
Outputs are written atomically, so a pair whose output exists is done: rerun after an interruption
and only the rest is processed. A bad pair is reported and the batch goes on; the exit status is 1
when any pair failed. Each output folder gets contact_sheet.jpg (short | long | fused per pair); each
output a report OUT.json beside it, and OUT gets process-summary.json (every pair with its report).
"""


def parse_shard(text: str) -> tuple[int, int]:
    """'1/4' -> (1, 4) (argparse type; 0 <= i < n); 'env' -> ($RANK, $WORLD_SIZE) as torchrun sets."""
    if text == "env":
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            raise argparse.ArgumentTypeError("--shard env needs RANK and WORLD_SIZE in the environment "
                                             "(run under torchrun)")
        text = f"{os.environ['RANK']}/{os.environ['WORLD_SIZE']}"
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shard {text!r} must look like i/n, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"shard {text!r}: need 0 <= i < n")
    return i, n


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "process", help="find short/long pairs in a folder and fuse them (resumable, shardable)",
        description="Pair the RAW (or sRGB) files of a folder by session sidecar or EXIF, fuse every "
                    "pair with the 'burstcap fuse' pipeline, write a contact sheet per folder.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path, metavar="DIR", help="folder of RAW or sRGB files / sessions")
    p.add_argument("--recursive", "-r", action="store_true", help="also search every sub-folder")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help=f"output folder, mirroring DIR's layout (default: DIR/{DEFAULT_OUT_NAME})")
    p.add_argument("--format", choices=("tif", "png", "jpg", "dng"), default="tif",
                   help="output format: tif (16-bit, default), png (8-bit), jpg (8-bit), dng (16-bit "
                        "linear DNG with the camera's colour, for a raw developer)")
    add_model_arguments(p)
    p.add_argument("--tile", type=int, default=None, metavar="PX",
                   help="tile side for large images (default: whole image up to 1 MP, else 512; 0: whole image)")
    add_config_argument(p)
    p.add_argument("--window", type=float, default=10.0, metavar="SECONDS",
                   help="EXIF pairing: most seconds between the two captures (default: 10)")
    p.add_argument("--min-ratio", type=float, default=2.0, metavar="R",
                   help="EXIF pairing: least long/short exposure ratio (default: 2)")
    p.add_argument("--sequence", action="store_true",
                   help="pair consecutive files (name order) two by two instead of by EXIF: for "
                        "exports without capture times; the darker of each two is the short frame")
    p.add_argument("--no-ghost-guard", dest="ghost_guard", action="store_false", default=None,
                   help="keep the network's output where the long frame disagrees with the short one")
    p.add_argument("--shard", type=parse_shard, default=(0, 1), metavar="I/N",
                   help="process only pairs I, I+N, I+2N... of the sorted list (default 0/1: all); "
                        "'env' takes I/N from $RANK/$WORLD_SIZE and the GPU from $LOCAL_RANK (torchrun)")
    p.add_argument("--no-contact-sheet", action="store_true", help="do not write contact sheets")
    p.add_argument("--dry-run", action="store_true",
                   help="only list the pairs (of this shard) and the skipped files; fuse nothing")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no per-file lines")
    p.set_defaults(func=run)


def _pick_local_gpu() -> None:
    """Under torchrun (``$LOCAL_RANK`` set) with CUDA, make this process use its own GPU."""
    if "LOCAL_RANK" in os.environ:
        import torch

        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count())


def run(args: argparse.Namespace) -> int:
    from burstcap.process import (PairOutcome, PairingOptions, ProcessOptions, find_pairs, output_path,
                                  process_pairs, shard, write_summary)

    root: Path = args.folder
    if not root.is_dir():
        raise BurstcapError(f"{root}: not a folder")
    out_dir = args.out or root / DEFAULT_OUT_NAME
    _pick_local_gpu()
    options = ProcessOptions(fuse=fuse_options_from_args(args, config=args.config),
                             output_ext=f".{args.format}", shard=args.shard,
                             contact_sheet=not args.no_contact_sheet)
    found = find_pairs(root, PairingOptions(args.window, args.min_ratio, args.recursive, args.sequence),
                       exclude=out_dir)
    if not args.quiet or args.dry_run:
        for pair in shard(found.pairs, *options.shard):
            print(f"pair  {pair.short.relative_to(root)} + {pair.long.name}  ({pair.reason})")
        for skip in found.skipped:
            print(f"skip  {skip.path.relative_to(root)}: {skip.reason}")
    if not found.pairs:
        where = "" if args.recursive else " (give --recursive to search sub-folders)"
        raise BurstcapError(f"{root}: no pairs found{where}; name the files *short* / *long* "
                            "(beach_short.png + beach_long.png), put them in short/ and long/ folders, "
                            "or give --sequence to pair consecutive files")
    if args.dry_run:
        return 0

    def show(outcome: PairOutcome) -> None:
        if outcome.status == "failed" and not args.quiet:
            print(f"FAILED {outcome.pair.short.relative_to(root)}: {outcome.error}")

    model = None
    todo = [p for p in shard(found.pairs, *options.shard)
            if not output_path(p, root, out_dir, options.output_ext).is_file()]
    if todo:  # load the network here to say where it runs
        from burstcap.fuse import fusion_model
        from deblurnet.inference import describe_device

        model = fusion_model(options.fuse)
        print(f"fusing with {options.fuse.model} on {describe_device(next(model.parameters()).device)}")
    report = process_pairs(found.pairs, root, out_dir, options, model=model, on_pair=show,
                           progress_bar=not args.quiet)
    report.skipped = found.skipped
    i, n = options.shard
    shard_note = f" (shard {i}/{n}: {len(report.outcomes)} of {len(found.pairs)} pairs)" if n > 1 else ""
    print(f"{report.count('fused')} fused, {report.count('done')} already done, "
          f"{len(report.failures)} failed, {len(found.skipped)} files skipped{shard_note} -> {out_dir}")
    for failure in report.failures:
        print(f"  failed: {failure.pair.short} + {failure.pair.long.name}: {failure.error}")
    print(f"summary: {write_summary(report, out_dir, options.shard)}")
    return 1 if report.failures else 0

"""`burstcap fuse SHORT LONG -o OUT`: fuse one short/long exposure pair into a sharp, clean image."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from burstcap.commands.options import add_config_argument, add_model_arguments, fuse_options_from_args

if TYPE_CHECKING:  # burstcap.fuse loads torch and OpenCV: imported in the functions, so --help is fast
    from burstcap.fuse import FuseResult

EPILOG = """\
examples:
  burstcap fuse short.NEF long.NEF -o fused.tif
  burstcap fuse short.png long.png -o fused.jpg --ratio 1/8 --device cpu
  burstcap fuse s.dng l.dng -o fused.png --bits 16 --tile 1024 --config fuse.toml
  burstcap fuse short.NEF long.NEF -o fused.dng --confidence guard.png

The exposure ratio is the long frame's brightness over the short one's (exposure time x ISO / f-number^2):
"8" and "1/8" mean the same. Without --ratio it comes from the files' metadata, else it is estimated
from the images. The output is scene-linear at the long frame's exposure, sRGB-encoded; its format
follows the extension: .jpg (8-bit), .png (8-bit, or 16 with --bits 16), .tif (16-bit), .dng (a 16-bit
linear DNG with the camera's colour matrix and white balance, for a raw developer). Make, model,
exposure time, f-number, ISO and capture time of the short frame are carried into the output as EXIF
(TIFF/DNG tags; an eXIf chunk in PNG; an APP1 segment in JPEG). Beside the output, OUT.json reports
the shot (ratio, alignment, ghost guard, noise profile, model, device, timings, warnings).

The ghost guard takes the regions where the aligned long frame disagrees with the short one (a
subject that moved, misalignment, light the blur spread) from the denoised short frame.

A TOML file given with --config may hold a [fuse] table with the same names as the options
(model, weights, device, ratio, tile, overlap, align, motion, bits, target_level, ensemble,
colour_match, threads, ghost_guard); options on the command line override it.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fuse", help="fuse a short (noisy) and a long (blurred) exposure into one sharp, clean image",
        description="Fuse a short/long exposure pair: read (RAW or 8/16-bit sRGB), scale the short "
                    "frame by the exposure ratio, align the long frame onto it, run the fusion network "
                    "(tiled for large images) and write the result atomically.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("short", type=Path, metavar="SHORT",
                   help="the short exposure (sharp, noisy): a RAW file LibRaw reads, or PNG/JPEG/TIFF")
    p.add_argument("long", type=Path, metavar="LONG",
                   help="the long exposure (clean, motion-blurred), same camera and size as SHORT")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="OUT",
                   help="output image: .jpg, .png, .tif or .dng (written atomically; replaces OUT)")
    add_model_arguments(p)
    p.add_argument("--ratio", type=str, default=None, metavar="R",
                   help="long/short exposure ratio, e.g. 8 or 1/8 (default: from metadata, else "
                        "estimated from the images)")
    p.add_argument("--tile", type=int, default=None, metavar="PX",
                   help="tile side in pixels for large images (default: the whole image at once up to 1 MP, "
                        "else 512; 0: whole image at once)")
    p.add_argument("--overlap", type=int, default=None, metavar="PX",
                   help="pixels shared by neighbouring tiles, cross-faded (default 64)")
    p.add_argument("--no-align", dest="align", action="store_false", default=None,
                   help="skip aligning the long frame onto the short one (tripod shots)")
    p.add_argument("--motion", choices=("homography", "affine", "translation"), default=None,
                   help="global motion model of the alignment (default homography)")
    p.add_argument("--bits", type=int, choices=(8, 16), default=None,
                   help="bit depth for PNG output (default 8; JPEG is 8-bit, TIFF 16-bit)")
    p.add_argument("--no-colour-match", dest="colour_match", action="store_false", default=None,
                   help="keep the network's colours instead of matching the long frame's global colour "
                        "balance")
    p.add_argument("--ensemble", type=int, choices=(1, 2, 4, 8), default=None, metavar="N",
                   help="average the network over N flips/quarter turns of the pair: less residual "
                        "noise (+0.2 to 0.5 dB at 8 on the README's test sets), N times slower (default 1)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for the network (default: the number of physical cores)")
    p.add_argument("--profile", default=None, metavar="NAME|JSON",
                   help="noise profile of the short frame's camera, a name or a file made by 'burstcap "
                        "calibrate' (default: the camera's own profile for RAW files, found by make and "
                        "model; without one, and for sRGB files, the noise level is estimated from the "
                        "image). The network denoises as strongly as the profile says the noise is")
    p.add_argument("--no-ghost-guard", dest="ghost_guard", action="store_false", default=None,
                   help="keep the network's output everywhere, even where the long frame shows something "
                        "the short one does not (moving subjects, misalignment)")
    p.add_argument("--confidence", type=Path, default=None, metavar="PNG",
                   help="also write the ghost guard's per-pixel confidence map here (white: fused pixel "
                        "kept, black: taken from the denoised short frame)")
    add_config_argument(p)
    p.add_argument("--comparison", type=Path, default=None, metavar="JPG",
                   help="also write a labelled side-by-side picture 'short x ratio | long | fused' here")
    p.set_defaults(func=run)


def summary(result: FuseResult) -> str:
    """One human line describing a finished fusion."""
    a = result.alignment
    aligned = ("not aligned" if a.method == "identity" else
               f"aligned ({a.method}, shift {a.shift_px:.1f} px, correlation {a.correlation:.3f}, "
               f"residual {a.residual:.3f})")
    profile = f", noise profile {result.profile}" if result.profile else ""
    guard = ("ghost guard off" if result.short_share is None else
             f"ghost guard took {result.short_share:.1%} from the short frame")
    return (f"wrote {result.out_path} ({result.width}x{result.height}) in {result.seconds:.1f} s: "
            f"ratio {result.ratio:.3g} ({result.ratio_source}), {aligned}, {guard}, {result.model} on "
            f"{result.device}{profile}")


def run(args: argparse.Namespace) -> int:
    from burstcap.fuse import fuse_pair

    options = fuse_options_from_args(args, config=args.config, ratio=args.ratio)
    if args.comparison is not None and not args.comparison.parent.is_dir():  # before the work
        from burstcap.errors import BurstcapError

        raise BurstcapError(f"{args.comparison.parent}: folder for --comparison does not exist")
    result = fuse_pair(args.short, args.long, args.out, options, confidence=args.confidence)
    for line in result.warnings:
        print(f"burstcap: warning: {line}", file=sys.stderr)
    print(summary(result))
    print(f"wrote {result.report}" + (f" and {args.confidence}" if args.confidence else ""))
    if args.comparison is not None:
        from burstcap.compare import write_pair_comparison
        from isp.io import read_linear

        short, long, fused = (read_linear(p).rgb for p in (args.short, args.long, args.out))
        write_pair_comparison(args.comparison, short, long, fused, result.ratio, result.gain)
        print(f"wrote {args.comparison}")
    return 0

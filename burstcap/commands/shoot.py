"""`burstcap shoot`: shoot short/long pairs on a tethered camera, download them, fuse them."""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

from burstcap.camera.registry import DEFAULT_BACKEND, backend_names
from burstcap.commands.options import add_config_argument, add_model_arguments, fuse_options_from_args
from burstcap.errors import BurstcapError
from burstcap.camera.settings import parse_shutter
from burstcap.shoot import ShootEvent, ShootRequest

EPILOG = """\
examples:
  burstcap shoot --ratio 1/8 --long 1/15 --iso-long 100
      short frame 1/125 s at ISO 800, long frame 1/15 s at ISO 100, then fused
  burstcap shoot --ratio 1/4 --count 5 --out shots --no-process
      five pairs at the camera's current shutter speed, downloaded only
  burstcap shoot --camera "Canon EOS 5D Mark IV" --port usb:001,004 --ratio 1/8

Each pair lands in OUT/<date-time>/ with short_*, long_* and session.json (camera, requested and
read-back settings, timestamps, effective ratio, gap between the exposures).
"""


def parse_ratio(text: str) -> float:
    """'1/8', '8' or '0.125' -> 0.125, the short / long exposure time (argparse type). One convention
    in every interface (:func:`burstcap.fuse.parse_ratio`): a ratio written either way round means the
    same pair, the long exposure 8 times the short one."""
    from burstcap.fuse import parse_ratio as long_over_short  # torch: only when a ratio is given

    try:
        value = long_over_short(text)
    except BurstcapError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 1.0:
        raise argparse.ArgumentTypeError(f"ratio {text}: the two exposures would be the same (use e.g. 8 or 1/8)")
    return 1.0 / value


def parse_seconds(text: str) -> float:
    """'1/15', '0.5', '2' -> seconds (argparse type)."""
    value = parse_shutter(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"not an exposure time: {text!r} (use e.g. 1/15 or 0.5)")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "shoot", help="shoot short/long pairs on a tethered camera and fuse them",
        description="Connect to a camera (python-gphoto2 by default), set a short exposure of "
                    "LONG x RATIO at ISO LONG-ISO / RATIO from the camera's own choices, shoot short "
                    "then long as fast as the camera allows, download both into a session folder with "
                    "a JSON sidecar, then fuse them (the 'burstcap fuse' pipeline).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ratio", type=parse_ratio, default=Fraction(1, 8), metavar="R",
                   help="exposure ratio: 8 or 1/8 mean the same, the long exposure 8 times the short "
                        "one (default: 1/8)")
    p.add_argument("--long", type=parse_seconds, default=None, metavar="SECONDS", dest="long_s",
                   help="long exposure time, e.g. 1/15 (default: the camera's current shutter speed)")
    p.add_argument("--iso-long", type=int, default=None, metavar="ISO",
                   help="ISO of the long frame (default: the camera's current ISO; ignored when the "
                        "camera has no ISO setting)")
    p.add_argument("--tolerance", type=float, default=0.5, metavar="STOPS",
                   help="refuse when the reachable ratio is further than this from --ratio "
                        "(default: 0.5 stops)")
    p.add_argument("--count", type=int, default=1, metavar="N", help="number of pairs (default: 1)")
    p.add_argument("--out", type=Path, default=Path("burstcap-sessions"), metavar="DIR",
                   help="folder for the session folders (default: ./burstcap-sessions)")
    p.add_argument("--backend", default=DEFAULT_BACKEND, metavar="NAME",
                   help=f"camera backend from the 'burstcap.backends' entry points "
                        f"(default: {DEFAULT_BACKEND})")
    p.add_argument("--camera", default=None, metavar="MODEL",
                   help="camera model as autodetect names it (default: the first camera found)")
    p.add_argument("--port", default=None, metavar="PORT", help="camera port, e.g. usb:001,004")
    p.add_argument("--no-process", action="store_true", help="only shoot and download; do not fuse")
    add_model_arguments(p)
    add_config_argument(p)
    p.add_argument("--list-backends", action="store_true", help="print the installed backends and exit")
    p.set_defaults(func=run)


def _print_progress(event: ShootEvent) -> None:
    if event.message:
        print(f"[{event.fraction:4.0%}] {event.stage}: {event.message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    if args.list_backends:
        print("\n".join(backend_names()))
        return 0
    if args.count < 1:
        raise BurstcapError(f"--count must be at least 1, got {args.count}")
    from burstcap.pipeline import Pipeline, PipelineConfig
    from burstcap.process import ProcessOptions

    request = ShootRequest(ratio=float(args.ratio), long_exposure_s=args.long_s, iso_long=args.iso_long,
                           tolerance_stops=args.tolerance)
    config = PipelineConfig(out_root=args.out, backend=args.backend, camera=args.camera, port=args.port,
                            fuse=not args.no_process,
                            process=ProcessOptions(fuse=fuse_options_from_args(args, config=args.config),
                                                   contact_sheet=False))
    pipeline = Pipeline(config, progress=_print_progress)
    if config.fuse:  # load the network first: a missing model fails before the camera fires
        from deblurnet.inference import describe_device

        model = pipeline.load_model()
        print(f"fusing with {config.process.fuse.model} on {describe_device(next(model.parameters()).device)}")
    for session in pipeline.shoot(request, count=args.count):
        print(f"{session.folder}: {session.camera.model}, effective ratio "
              f"1/{1 / session.effective_ratio:.3g} (asked 1/{1 / session.requested_ratio:.3g}), "
              f"gap between exposures {session.gap_s * 1000:.0f} ms")
        if config.fuse:
            print(f"{session.folder}: fused -> {pipeline.fuse(session)}")
    return 0

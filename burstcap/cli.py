"""The ``burstcap`` command line: shoot, process, fuse, serve, calibrate, demo.

Each sub-command lives in its own module under ``burstcap.commands`` and exposes
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``. The list below is the
whole registry: add a module, add it here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from burstcap import __version__
from burstcap.errors import USER_ERRORS
from burstcap.commands import calibrate, demo, fuse, process, serve, shoot

COMMANDS = (shoot, process, fuse, serve, calibrate, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="burstcap",
        description=(
            "Burst photography with a short/long exposure pair: a sharp but noisy short frame and a "
            "clean but blurred long frame, fused by a deep network into one sharp, clean image."
        ),
        epilog="Run 'burstcap COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"burstcap {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def run_command(func, args: argparse.Namespace, prog: str, user_errors=USER_ERRORS) -> int:
    """Call ``func(args)``; user errors become ``prog: error: ...`` on stderr and exit code 2."""
    try:
        return int(func(args) or 0)
    except user_errors as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return run_command(args.func, args, "burstcap")


if __name__ == "__main__":
    sys.exit(main())

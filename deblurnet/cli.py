"""The ``deblurnet`` command line: synth, heldout, train, evaluate, export.

Each sub-command lives in ``deblurnet.commands.<name>`` with ``register(subparsers)``; the tuple below
is the whole registry.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from deblurnet.commands import evaluate, export, heldout, synth, train
from deblurnet.errors import DeblurnetError
from hardware_profiles.errors import ProfileError
from isp.errors import IspError

COMMANDS = (synth, heldout, train, evaluate, export)

#: Errors about the user's input: one line on stderr and exit status 2, no traceback.
USER_ERRORS: tuple[type[Exception], ...] = (DeblurnetError, IspError, ProfileError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deblurnet",
        description="DeblurRNN / DeblurMerger: synthesize noisy/blurry/sharp triplets, train, evaluate.",
        epilog="Run 'deblurnet COMMAND --help' for the options of each command.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        print(f"deblurnet: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deblurnet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

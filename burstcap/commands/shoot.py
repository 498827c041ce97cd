"""`burstcap shoot`: (not implemented yet)."""

from __future__ import annotations

import argparse

from burstcap.errors import BurstcapError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("shoot", help="(not implemented yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise BurstcapError("'shoot' is not implemented yet")

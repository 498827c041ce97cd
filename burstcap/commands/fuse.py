"""`burstcap fuse`: (not implemented yet)."""

from __future__ import annotations

import argparse

from burstcap.errors import BurstcapError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fuse", help="(not implemented yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise BurstcapError("'fuse' is not implemented yet")

"""`deblurnet train`: (not implemented yet)."""

from __future__ import annotations

import argparse

from deblurnet.errors import DeblurnetError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="(not implemented yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise DeblurnetError("'train' is not implemented yet")

"""The two console scripts exist, teach through --help and fail cleanly."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("prog, commands", [
    ("burstcap", ["shoot", "process", "fuse", "serve", "calibrate", "demo"]),
    ("deblurnet", ["synth", "train", "evaluate"]),
])
def test_help_lists_every_command(prog: str, commands: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", f"{prog}.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for command in commands:
        assert command in out

"""Bad raw input through the real CLI: one line on stderr naming the file, non-zero exit.

One subprocess only (starting the CLI imports torch: seconds on a loaded 2-core machine).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_fuse_with_a_bad_raw_prints_one_line_and_fails(tmp_path: Path, shared_data: Path) -> None:
    """The truncated NEF makes LibRaw print "data corrupted at ..." on C stderr: it must be
    folded into the one error line (skipped without the real data: a text file would not show it)."""
    bad = shared_data / "raw" / "truncated" / "exiftool_Nikon.nef"
    if not bad.exists():
        pytest.skip(f"{bad} is absent from the real data")
    out = tmp_path / "x.png"
    command = [sys.executable, "-m", "burstcap.cli", "fuse", str(bad), str(bad), "-o", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(bad) in lines[0] and "Traceback" not in done.stderr
    assert "data corrupted" in lines[0]
    assert not out.exists()

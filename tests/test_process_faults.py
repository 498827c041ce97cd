"""`burstcap process --recursive` on a hostile tree (issue 14): an unreadable sub-folder, an
unreadable file, links out of the tree (into /etc) and a link loop. Each is reported with its real
reason and skipped; the rest of the batch is paired and fused.

Permissions do not stop root, so as root the command runs without the capabilities that let root
read anything (util-linux ``setpriv``; skipped with the reason where that is not possible).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

H, W = 64, 96
#: Root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH obeys file permissions like anyone else.
DROP_READ_ANYTHING = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                      "--bounding-set=-dac_override,-dac_read_search"]


def session(folder: Path, seed: int) -> None:
    """A session folder as `burstcap shoot` leaves it: a short/long pair and its sidecar."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    scene = cv2.GaussianBlur((rng.random((H, W, 3)) * 255).astype(np.uint8), (5, 5), 0)
    cv2.imwrite(str(folder / "short_IMG_1.png"), scene // 4)
    cv2.imwrite(str(folder / "long_IMG_2.png"), scene)
    side = {"burstcap_session": 1,
            "short": {"main": "short_IMG_1.png", "read_back": {"exposure_s": 1 / 120, "iso": "100"}},
            "long": {"main": "long_IMG_2.png", "read_back": {"exposure_s": 1 / 30, "iso": "100"}}}
    (folder / "session.json").write_text(json.dumps(side))


def run_unprivileged(args: list[str]) -> subprocess.CompletedProcess:
    """Run ``args``; as root, through setpriv so that file permissions apply."""
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and util-linux setpriv is missing: permissions cannot apply")
        probe = subprocess.run([*DROP_READ_ANYTHING, "true"], capture_output=True, text=True)
        if probe.returncode != 0:
            pytest.skip(f"cannot drop root's read-anything capabilities here: {probe.stderr.strip()}")
        args = [*DROP_READ_ANYTHING, *args]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@pytest.fixture
def hostile_tree(tmp_path: Path) -> Path:
    root = tmp_path / "shots"
    session(root / "day1" / "20260101-120000", seed=1)
    session(root / "day2" / "20260102-120000", seed=2)
    locked = root / "locked"
    session(locked / "20260103-120000", seed=3)
    locked.chmod(0)
    unreadable = root / "loose" / "IMG_9.png"
    unreadable.parent.mkdir()
    cv2.imwrite(str(unreadable), np.zeros((H, W, 3), np.uint8))
    unreadable.chmod(0)
    (root / "etc-link").symlink_to("/etc")
    (root / "loose" / "passwd.png").symlink_to("/etc/passwd")
    (root / "loop").symlink_to(root)
    yield root
    locked.chmod(0o755)
    unreadable.chmod(0o644)


def test_unreadable_and_linked_entries_are_skipped_with_their_reason(hostile_tree: Path) -> None:
    done = run_unprivileged([sys.executable, "-m", "burstcap.cli", "process", "--recursive",
                             "--dry-run", str(hostile_tree)])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    pairs = sorted(line for line in lines if line.startswith("pair  "))
    assert [p.split()[1] for p in pairs] == ["day1/20260101-120000/short_IMG_1.png",
                                              "day2/20260102-120000/short_IMG_1.png"]
    skips = "\n".join(line for line in lines if line.startswith("skip  "))
    assert "skip  locked: cannot read the folder: Permission denied" in skips
    assert "skip  loose/IMG_9.png: cannot read the file: Permission denied" in skips
    assert "skip  etc-link: link to a folder: not followed" in skips
    assert "skip  loop: link to a folder: not followed" in skips
    assert f"skip  loose/passwd.png: link leading out of {hostile_tree}: not followed" in skips
    assert "no capture time" not in skips
    assert "/etc" not in done.stdout.replace("etc-link", "")  # nothing from /etc was even listed


def test_the_rest_of_the_batch_is_fused(hostile_tree: Path, tmp_path: Path) -> None:
    from deblurnet.checkpoint import save_weights
    from deblurnet.models import create_model

    weights = save_weights(create_model("deblur-merger", preset="compact"), tmp_path / "w.safetensors")
    out = tmp_path / "fused"
    out.mkdir()
    out.chmod(0o777)
    done = run_unprivileged([sys.executable, "-m", "burstcap.cli", "process", "--recursive", "-q",
                             "--format", "png", "--out", str(out), "--model", "deblur-merger",
                             "--weights", str(weights), "--device", "cpu", str(hostile_tree)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 fused" in done.stdout and "0 failed" in done.stdout, done.stdout
    for day in ("day1/20260101-120000", "day2/20260102-120000"):
        assert cv2.imread(str(out / day / "short_IMG_1_fused.png")).shape == (H, W, 3)

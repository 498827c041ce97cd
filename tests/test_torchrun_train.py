"""``deblurnet train`` under torchrun with two CPU processes (gloo), as the README documents it
(``torchrun --nproc_per_node=K -m deblurnet train ...``): the same weights on both ranks after every
step, disjoint data shards that together cover the data, and one checkpoint writer (rank 0).

The probed run (tests/ddp_probe.py) wraps the real ``train_step`` and ``save_checkpoint`` to log what
each rank did; the triplets are flat images of one level each, so a batch says which triplets it held.
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

pytestmark = pytest.mark.timeout(300)

TESTS = Path(__file__).resolve().parent
LEVELS = [40, 70, 100, 130, 160, 190]  # one flat level per triplet (8-bit)
STEPS = 3  # batch 2 = 1 per rank: one epoch of 6 triplets


def torchrun() -> list[str]:
    exe = Path(sys.executable).with_name("torchrun")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("torchrun")
    if found is None:
        pytest.skip("torchrun is not installed beside this Python")
    return [found]


def write_flat_triplets(root: Path) -> Path:
    for key in ("short", "long", "sharp"):
        (root / key).mkdir(parents=True)
    for i, level in enumerate(LEVELS):
        for key in ("short", "long", "sharp"):
            cv2.imwrite(str(root / key / f"{i:03d}.png"), np.full((32, 32, 3), level, np.uint8))
    return root


def run(tmp_path: Path, module: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "DDP_PROBE_OUT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    data = write_flat_triplets(tmp_path / "data")
    return subprocess.run(
        [*torchrun(), "--standalone", "--nproc_per_node=2", "-m", module, "train", "--data", str(data),
         "--out", str(tmp_path / "run"), "--steps", str(STEPS), "--batch-size", "2", "--crop", "32",
         "--adv", "0", "--ckpt-every", "2", "--threads", "1", "--device", "cpu", "--bn-recalibrate", "0",
         *extra], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=280)


def test_two_ranks_same_weights_disjoint_shards_one_writer(tmp_path: Path) -> None:
    result = run(tmp_path, "ddp_probe")
    assert result.returncode == 0, result.stderr[-3000:]
    logs = [[json.loads(line) for line in (tmp_path / f"rank{r}.jsonl").read_text().splitlines()]
            for r in (0, 1)]
    assert [e["step"] for e in logs[0]] == [e["step"] for e in logs[1]] == list(range(1, STEPS + 1))
    for a, b in zip(*logs):
        assert a["weights"] == b["weights"], f"ranks differ after step {a['step']}"
    assert len({e["weights"] for e in logs[0]}) == STEPS  # and they did train
    seen = [sorted(level for e in log for level in e["levels"]) for log in logs]
    assert not set(seen[0]) & set(seen[1]), seen  # disjoint shards...
    assert sorted(seen[0] + seen[1]) == LEVELS  # ...covering the data once per epoch
    writers = [json.loads(line)["rank"] for line in (tmp_path / "saves.jsonl").read_text().splitlines()]
    assert writers == [0, 0], writers  # steps 2 and 3 (the last), rank 0 only
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "step-0000002", "step-0000003"]


def test_the_documented_command_runs(tmp_path: Path) -> None:
    """README: ``torchrun --nproc_per_node=K -m deblurnet train ...`` (a console script is no module)."""
    result = run(tmp_path, "deblurnet", "--steps", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "x2" in result.stdout  # 'on cpu x2': two processes
    assert list((tmp_path / "run").iterdir())

"""benchmarks/device_train.sh, the GPU training burst, dry-run on the CPU (the GPU is the boundary
that cannot run here: DEVICE=cpu and a tiny config stand in for it; the parts, the merge, the rate
probe, the step count that fits the time given, the training and the export all run for real; SHARE
0.5 leaves this shared CPU room for its load to vary)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "device_train.sh"
CONFIG = """model = "deblur-rnn"
preset = "compact"
data = "synth"
synth_length = 64
steps = 100000
batch_size = 2
crop = 64
adv = 0.0
workers = 0
out = "{run}"

[synth]
images = [1, 2]
weight_gopro2 = 0.0
weight_camera = 0.0
weight_stills = 1.0
"""


def burst(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GPU_PARTS": str(tmp_path / "parts"), "GPU_DATA": str(tmp_path / "merged"),
           "DEVICE": "cpu", "PYTHON": sys.executable, "PROBE_STEPS": "16", "EXPORT_SECONDS": "5", "SHARE": "0.25",
           "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=300)


def make_parts(tmp_path: Path, data: Path, parts: range = range(1, 5)) -> None:
    for p in parts:
        (tmp_path / "parts" / str(p)).mkdir(parents=True)
    if 1 in parts:
        (tmp_path / "parts" / "1" / "kodak24").mkdir()
        for i in (1, 2):
            shutil.copy(data / "kodak24" / f"kodim0{i}.png", tmp_path / "parts" / "1" / "kodak24")


def test_a_missing_part_stops_the_burst_before_training(tmp_path: Path, shared_data: Path) -> None:
    make_parts(tmp_path, shared_data, range(1, 4))
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG.format(run=tmp_path / "run"))
    assert "missing parts: 4" in burst(tmp_path, "check").stdout
    result = burst(tmp_path, "train", str(config), "20", str(tmp_path / "out"))
    assert result.returncode == 2 and "parts 4 of the training material" in result.stderr
    assert not (tmp_path / "run").exists()


def test_the_burst_trains_a_schedule_that_fits_its_time_and_exports_it(tmp_path: Path, shared_data: Path) -> None:
    make_parts(tmp_path, shared_data)
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG.format(run=tmp_path / "run"))
    out = tmp_path / "out"
    # 60 s with a quarter of what is left planned: on a loaded 2-core machine (a training run beside
    # the suite) the start-up alone took 12 s, which a 30 s budget at half could not hold
    result = burst(tmp_path, "train", str(config), "60", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    plan = (out / "plan.txt").read_text()
    planned = int(plan.split(": ")[-1].split()[0])
    startup = float(plan.split("start-up ")[1].split()[0])
    # the probe's start-up (imports, the model) is taken off the time the steps are planned to fill
    assert planned >= 1 and startup > 0.5
    steps = [json.loads(line)["step"] for line in (out / "train.jsonl").read_text().splitlines() if '"step"' in line]
    card = json.loads((out / "deblur-rnn.json").read_text())
    # the cosine schedule spans exactly the planned steps, all of which ran, and the card says so
    assert max(steps) == planned and card["steps"] == planned and card["train"]["steps"] == planned
    assert (out / "deblur-rnn.safetensors").stat().st_size > 100_000
    # the merged folder is what training read: hard links to the carried part's files
    assert (tmp_path / "merged" / "kodak24" / "kodim01.png").stat().st_nlink >= 2
    # a second burst into the same run folder refuses at once rather than overwrite it
    again = burst(tmp_path, "train", str(config), "20", str(tmp_path / "out2"))
    assert again.returncode == 2 and "exists already" in again.stderr and not (tmp_path / "out2").exists()


def test_a_burst_without_time_to_train_says_so(tmp_path: Path, shared_data: Path) -> None:
    make_parts(tmp_path, shared_data)
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG.format(run=tmp_path / "run"))
    result = burst(tmp_path, "train", str(config), "1", str(tmp_path / "out"))
    assert result.returncode == 3 and "no time left to train" in result.stderr
    assert not (tmp_path / "run").exists()

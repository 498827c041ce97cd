"""Every write path on a full disk (issue 14): one clear error naming the folder, the free space and
what was needed; no output, no temp file left. A real 3 MB tmpfs mounted by the test (skipped where
mounting is not allowed); the service's 507 is in test_service_faults.py."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from burstcap.camera.scripted import CameraScript, ScriptedBackend
from burstcap.cli import main
from burstcap.shoot import RetryPolicy, ShootRequest, shoot_pair
from isp.atomic import atomic_write_bytes, remove_leftovers
from isp.errors import DiskFullError
from isp.io import write_image
from test_service_faults import fill, small_disk  # noqa: F401 - fixture

H, W = 64, 96


def no_hidden_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*")]


def test_atomic_writes_say_the_disk_is_full(small_disk: Path) -> None:
    """A Python write (ENOSPC) and OpenCV's encoder through numpy (a short write without errno)."""
    fill(small_disk)
    with pytest.raises(DiskFullError) as info:
        atomic_write_bytes(small_disk / "big.bin", b"\1" * 500_000)
    assert str(info.value) == (f"{small_disk}: no space left on the device writing big.bin (0 bytes "
                               "free; it needs about 488.3 KB); free some space and try again")
    noise = np.random.default_rng(0).random((400, 400, 3)).astype(np.float32)  # incompressible
    with pytest.raises(DiskFullError, match=r"writing noise.png \(0 bytes free; it needs about [\d.]+ KB\)"):
        write_image(small_disk / "noise.png", noise)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler.bin"]  # no output, no temp file


def test_fuse_and_process_on_a_full_disk_are_one_line(small_disk: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    from deblurnet.checkpoint import save_weights
    from deblurnet.models import create_model

    weights = save_weights(create_model("deblur-merger", preset="compact"), tmp_path / "w.safetensors")
    rng = np.random.default_rng(1)
    scene = cv2.GaussianBlur((rng.random((H, W, 3)) * 255).astype(np.uint8), (5, 5), 0)
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    cv2.imwrite(str(pairs / "short.png"), scene // 4)
    cv2.imwrite(str(pairs / "long.png"), scene)
    fill(small_disk)
    model = ["--model", "deblur-merger", "--weights", str(weights), "--device", "cpu"]

    code = main(["fuse", str(pairs / "short.png"), str(pairs / "long.png"), "-o",
                 str(small_disk / "fused.tif"), "--ratio", "4", *model])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"burstcap: error: {small_disk}: no space left on the device"), err

    out = small_disk / "out"
    out.mkdir()
    code = main(["process", str(pairs), "--out", str(out), "--format", "png", "-q", *model[:4]])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"{out}: no space left on the device writing short_fused.png" in err  # the first output
    assert list(out.iterdir()) == [] and no_hidden_files(small_disk) == []


def test_a_shot_onto_a_full_disk_leaves_no_session(small_disk: Path) -> None:
    files = [[("IMG_0001.CR2", b"R" * 200_000)], [("IMG_0002.CR2", b"R" * 200_000)]]
    fill(small_disk)
    with ScriptedBackend(script=CameraScript(captures=files)) as camera:
        with pytest.raises(DiskFullError, match="no space left on the device"):
            shoot_pair(camera, ShootRequest(retry=RetryPolicy(attempts=1)), small_disk / "shots")
    assert list((small_disk / "shots").iterdir()) == []


def test_a_checkpoint_onto_a_full_disk_says_so(small_disk: Path) -> None:
    from deblurnet.checkpoint import save_checkpoint
    from deblurnet.models import create_model

    fill(small_disk)
    with pytest.raises(DiskFullError, match="no space left on the device writing checkpoint step-0000010"):
        save_checkpoint(small_disk / "run", 10, create_model("deblur-merger", preset="compact"), None,
                        {}, {"steps": 10})
    assert list((small_disk / "run" / "checkpoints").iterdir()) == []


def test_leftovers_are_removed_only_when_old_enough(tmp_path: Path) -> None:
    """`process` removes a killed run's temp files only past an age (another shard may be writing)."""
    temp = tmp_path / "a" / ".x_fused.abcd1234.tmp.png"
    temp.parent.mkdir()
    temp.write_bytes(b"half")
    mine = tmp_path / "a" / ".notes.txt"
    mine.write_bytes(b"keep")
    assert remove_leftovers(tmp_path, min_age_s=3600) == []
    os.utime(temp, (temp.stat().st_atime - 7200, temp.stat().st_mtime - 7200))
    assert remove_leftovers(tmp_path, min_age_s=3600) == [temp]
    assert mine.exists()

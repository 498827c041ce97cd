"""Every package writes its outputs through isp.atomic: normal permissions, no temp file left behind."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _tiny_model():  # noqa: ANN202 - torch imported lazily
    import torch

    from deblurnet.models import create_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    return create_model("deblur-rnn", widths=[8, 16, 16], disc_widths=[8, 16], dropout=0.0)


def weights(tmp_path: Path) -> list[Path]:
    from deblurnet.checkpoint import save_weights

    path = save_weights(_tiny_model(), tmp_path / "tiny.safetensors", {"steps": 1})
    return [path, path.with_suffix(".json")]


def checkpoint(tmp_path: Path) -> list[Path]:
    from deblurnet.checkpoint import save_checkpoint

    folder = save_checkpoint(tmp_path / "run", 5, _tiny_model(), None, {}, {"lr": 1e-3})
    return [folder, *folder.iterdir()]


def profile(tmp_path: Path) -> list[Path]:
    import hardware_profiles as hp

    return [hp.save_profile(hp.load_profile("generic"), tmp_path / "mine.json")]


def plot(tmp_path: Path) -> list[Path]:
    from deblurnet.plots import plot_log

    log = tmp_path / "train.jsonl"
    log.write_text("".join(json.dumps({"step": s, "loss_g": 1.0 / s}) + "\n" for s in range(1, 5)))
    return [log, plot_log(log, tmp_path / "train.png")]


def triplet(tmp_path: Path) -> list[Path]:
    from deblurnet.data import write_triplet
    from deblurnet.synth import Triplet

    img = np.full((8, 8, 3), 0.5, np.float32)
    write_triplet(tmp_path, "a.png", Triplet(img, img, img, ratio=2.0, noise=img[..., :1]))
    return [tmp_path / key / "a.png" for key in ("short", "long", "sharp", "noise")]


def report(tmp_path: Path) -> list[Path]:
    from deblurnet.evaluate import Report, save_report

    save_report(Report("set"), tmp_path / "report.json")
    return [tmp_path / "report.json"]


def thumbnail(tmp_path: Path) -> list[Path]:
    import cv2

    from burstcap.service.thumbs import make_thumbnail

    src = tmp_path / "src.png"
    cv2.imwrite(str(src), np.zeros((40, 60, 3), np.uint8))
    return [src, make_thumbnail(src, tmp_path / "thumbs" / "src.jpg", max_side=16)]


def download(tmp_path: Path) -> list[Path]:
    from burstcap.camera.backend import write_atomic

    dest = tmp_path / "DSC_0001.NEF"
    assert write_atomic(dest, [b"raw", b"data"]) == 7
    return [dest]


@pytest.mark.parametrize("writer", [weights, checkpoint, profile, plot, triplet, report, thumbnail, download])
def test_outputs_get_normal_permissions_and_leave_no_temp_files(
        tmp_path: Path, writer: Callable[[Path], list[Path]]) -> None:
    """Each writer's files get 0666 & ~umask (folders written whole: 0777 & ~umask), not mkstemp's
    0600 / mkdtemp's 0700, and nothing hidden (a temp file or folder) is left beside them."""
    mask = _umask()
    outputs = writer(tmp_path)
    for path in outputs:
        want = (0o777 if path.is_dir() else 0o666) & ~mask
        assert path.stat().st_mode & 0o777 == want, f"{path.relative_to(tmp_path)}: {oct(path.stat().st_mode)}"
    leftovers = [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.name.startswith(".")]
    assert leftovers == []
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(p for p in outputs if p.is_file())

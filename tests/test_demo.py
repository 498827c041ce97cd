"""`burstcap demo`: the embedded sample pair, fused, with a labelled comparison and PSNR figures."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from burstcap.cli import main
from burstcap.demo import RATIO, shake_kernel, sharp_image, synthesise_pair
from deblurnet.inference import shipped_weights


def test_synthesised_pair_is_noisy_short_and_blurred_long() -> None:
    sharp = sharp_image()
    short, long = synthesise_pair(sharp)
    assert short.shape == long.shape == sharp.shape == (512, 512, 3)
    # Short: 1/8 of the exposure, noisy; long: full exposure, smooth.
    assert float(short.mean() * RATIO) == pytest.approx(float(sharp.mean()), rel=0.03)
    assert float(long.mean()) == pytest.approx(float(sharp.mean()), rel=0.03)

    def detail(x: np.ndarray) -> float:
        return float(np.abs(cv2.Laplacian(x.mean(axis=2), cv2.CV_32F)).mean())
    assert detail(short * RATIO) > 2 * detail(sharp)   # noise
    assert detail(long) < 0.6 * detail(sharp)          # blur
    kernel = shake_kernel()
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5) and (kernel > 0).sum() > 20
    # Deterministic under the seed.
    assert np.array_equal(synthesise_pair(sharp)[0], short)


def test_demo_writes_images_and_prints_psnr(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--device", "cpu", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    for name in ("short.png", "short_x8.png", "long.png", "fused.png", "sharp.png", "comparison.jpg"):
        assert (out / name).is_file(), name
    assert "fusing with deblur-rnn on cpu" in text
    # short_x8.png shows the short frame at the long frame's brightness, as the comparison labels it
    shown, long_png = (cv2.imread(str(out / n), cv2.IMREAD_GRAYSCALE).mean() for n in ("short_x8.png", "long.png"))
    assert shown == pytest.approx(long_png, rel=0.1)
    scores = dict(re.findall(r"^\s+(short x8|long|fused)\s+([\d.]+) dB$", text, re.MULTILINE))
    assert set(scores) == {"short x8", "long", "fused"}
    assert 12 < float(scores["short x8"]) < 30 and 12 < float(scores["long"]) < 30
    if not shipped_weights("deblur-rnn").is_file():
        assert "UNTRAINED" in text
    else:  # the trained model must beat both inputs
        assert float(scores["fused"]) > max(float(scores["short x8"]), float(scores["long"]))
    sheet = cv2.imread(str(out / "comparison.jpg"))
    assert sheet.shape[1] == 3 * 512 and sheet.shape[0] > 512
    assert cv2.imread(str(out / "short.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    # short/long carry EXIF exposure times, so `burstcap fuse short.png long.png` finds the ratio.
    from PIL import Image

    with Image.open(out / "short.png") as short, Image.open(out / "long.png") as long:
        t_short = float(short.getexif().get_ifd(0x8769)[33434])
        t_long = float(long.getexif().get_ifd(0x8769)[33434])
    assert t_long / t_short == pytest.approx(RATIO)


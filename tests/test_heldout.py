"""deblurnet.heldout: the evaluation-only sets (LSD2 as published, PolyU real camera noise) built as
triplet folders the way the README's results use them (real files from ../shared/data)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from deblurnet.cli import main
from deblurnet.data import TripletFolder, list_triplets, read_noise_map, read_triplet
from deblurnet.heldout import shake_kernel
from deblurnet.noise_map import estimated_noise_map
from deblurnet.synth.common import srgb_decode


def test_shake_kernel_is_a_normalised_path_of_the_asked_extent() -> None:
    kernel = shake_kernel(15.0, np.random.default_rng(0))
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5) and kernel.min() >= 0
    ys, xs = np.nonzero(kernel > 1e-4)
    assert 13 <= max(np.ptp(xs), np.ptp(ys)) <= 18  # extent ~15 px (+1 for the bilinear splats)
    assert (kernel > 1e-4).sum() < 0.25 * kernel.size  # a thin path, not a blob


def test_lsd2_short_frames_get_the_long_frames_brightness(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "lsd2"
    assert main(["heldout", "lsd2", "--source", str(shared_data / "lsd2_train"), "--out", str(out)]) == 0
    names = list_triplets(out)
    assert len(names) == 10
    for name in names[:3]:
        short, long, sharp = read_triplet(out, name)
        assert srgb_decode(short).mean() == pytest.approx(srgb_decode(long).mean(), rel=0.15)
        original = read_triplet(shared_data / "lsd2_train", name)
        assert np.array_equal(sharp, original[2]) and np.array_equal(long, original[1])  # as published
        assert srgb_decode(short).mean() > 2 * srgb_decode(original[0]).mean()  # the dark short, scaled


def test_polyu_pairs_are_real_noise_against_a_shaken_clean_mean(shared_data: Path, tmp_path: Path) -> None:
    source = tmp_path / "polyu"
    source.mkdir()
    for path in sorted((shared_data / "polyu").glob("Canon5D2*_chair_11_*.JPG")):
        shutil.copy(path, source)  # one real/mean pair, copied to a temporary folder (not the repo)
    out = tmp_path / "set"
    assert main(["heldout", "polyu", "--source", str(source), "--out", str(out), "--seed", "1"]) == 0
    (name,) = list_triplets(out)
    short, long, sharp = read_triplet(out, name)
    # the short frame is the camera's noisy JPEG as is; the long one is blurred and shifted, not noisy
    assert np.abs(short - sharp).mean() > 0.005
    assert np.abs(long - sharp).mean() > 0.005
    detail = lambda x: float(np.abs(np.diff(x, axis=1)).mean())  # noqa: E731
    assert detail(long) < 0.8 * detail(sharp) < detail(short)
    assert srgb_decode(long).mean() == pytest.approx(srgb_decode(sharp).mean(), rel=0.02)
    np.testing.assert_allclose(read_noise_map(out, name, short), estimated_noise_map(short), atol=1e-4)
    assert len(TripletFolder(out)) == 1


def test_heldout_bad_source_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["heldout", "polyu", "--source", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no *_real.JPG" in err and len(err.splitlines()) == 1

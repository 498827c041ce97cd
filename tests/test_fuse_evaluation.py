"""burstcap.evaluation: the whole fuse path as one more row of deblurnet's evaluation reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from burstcap import evaluation
from conftest import settled
from deblurnet.data import write_triplet
from deblurnet.evaluate import load_report
from deblurnet.synth import Triplet


@pytest.fixture()
def triplets(tmp_path: Path) -> Path:
    """Two 128x128 triplets: smooth sharp scene, noisy short, long shifted by 2 px."""
    root = tmp_path / "set"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float32) / 128
    for i in range(2):
        sharp = np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.5 + 0.3 * np.sin(6 * xx + i)], axis=2)
        short = np.clip(sharp + rng.normal(0, 0.05, sharp.shape).astype(np.float32), 0, 1)
        long = np.roll(sharp, 2, axis=1)
        write_triplet(root, f"{i}.png", Triplet(short, long, sharp, ratio=1.0,
                                                noise=np.full((128, 128, 1), 0.05, np.float32)))
    return root


def test_fuse_path_row_joins_the_report(triplets: Path, tmp_path: Path) -> None:
    """With a network that returns its short input, the fuse path gives the short frame back (gain 1,
    colour gains ~1): its row scores as the 'short' baseline; other rows of the JSON stay."""
    out = tmp_path / "report.json"
    out.write_text(json.dumps({"dataset": str(triplets.resolve()), "contents": "", "images": 2,
                               "methods": {"other": {"psnr": 1.0, "ssim": 0.1, "seconds_per_pair": 0.0,
                                                     "fingerprint": "x", "per_image": {}}}}))
    report = evaluation.score(triplets, out, model=settled(gain=0.0))
    rows = report.results
    assert list(rows)[:2] == ["other", evaluation.ROW]
    for image, fused in rows[evaluation.ROW].scores.items():
        assert fused.psnr == pytest.approx(rows["short"].scores[image].psnr, abs=0.1)
    assert evaluation.ROW in load_report(out).results


def test_ensemble_gets_its_own_row(triplets: Path) -> None:
    from burstcap.fuse import FuseOptions

    report = evaluation.score(triplets, model=settled(gain=1.0), options=FuseOptions(ensemble=2))
    assert f"{evaluation.ROW} x2" in report.results and evaluation.ROW not in report.results


def test_fuse_path_row_uses_the_network(triplets: Path) -> None:
    """A network that changes the image (untrained, residual gain 1) scores otherwise than one that
    returns its short input: the row really runs the given model (the fuse path does not bypass it)."""
    identity = evaluation.score(triplets, model=settled(gain=0.0)).results[evaluation.ROW]
    smoothing = evaluation.score(triplets, model=settled(gain=1.0)).results[evaluation.ROW]
    assert smoothing.mean("psnr") != pytest.approx(identity.mean("psnr"), abs=0.05)


def test_bad_folder_or_json_path_is_one_line_exit_2(triplets: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluation.main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0]
    assert evaluation.main([str(triplets), "--json", str(tmp_path / "no" / "such" / "r.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "r.json" in err[0]


@pytest.mark.parametrize("change", [{"ensemble": 8}, {"overlap": 32}, {"tile": 256}, {"align": False},
                                    {"motion": "affine"}, {"ghost_guard": False}, {"colour_match": False},
                                    {"profile": "generic"}, {"target_level": 0.5}, {"ratio": 4.0}])
def test_settings_that_change_pixels_change_the_fingerprint(change: dict) -> None:
    """A report row is reused only under the same fuse settings: each setting the row's pixels depend on
    is in the fingerprint (a new FuseOptions field is too, unless it is listed as not changing them)."""
    from burstcap.fuse import FuseOptions

    assert evaluation.settings_fingerprint(FuseOptions(**change)) != evaluation.settings_fingerprint(FuseOptions())


def test_settings_that_do_not_change_pixels_keep_the_fingerprint() -> None:
    from burstcap.fuse import FuseOptions

    same = FuseOptions(threads=1, device="cpu", bits=16)
    assert evaluation.settings_fingerprint(same) == evaluation.settings_fingerprint(FuseOptions())

"""burstcap.raw_testset and its rows in burstcap.evaluation: Bayer DNG pairs from a real raw scene,
scored through the whole RAW fuse path. The source here is a synthetic Bayer DNG (the real one,
../shared/data/raw/valid/Blackmagic.dng, is what `make results` uses)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from burstcap import evaluation, raw_testset
from burstcap.errors import BurstcapError
from burstcap.fuse import FuseOptions, to_network
from conftest import settled
from deblurnet.data import read_triplet
from hardware_profiles import load_profile
from isp.dng import write_dng, write_linear_dng
from isp.exposure import exposure_ratio
from isp.io import read_linear
from isp.raw import read_raw


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 320x640 RGGB DNG of a textured scene (edges, stripes, smooth shading)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:320, 0:640].astype(np.float32)
    scene = 0.15 + 0.1 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + 0.2 * ((xx // 40 + yy // 40) % 2)
    scene += cv2.GaussianBlur(rng.random((320, 640)).astype(np.float32), (0, 0), 2) * 0.1
    adu = np.clip(np.rint(scene * 4000 + 256), 0, 4095).astype(np.uint16)
    return write_dng(tmp_path_factory.mktemp("src") / "scene.dng", adu, "RGGB", black_level=256, white_level=4095,
                     as_shot_neutral=(0.5, 1.0, 0.6))


@pytest.fixture(scope="module")
def raw_set(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("raw-set")
    raw_testset.build(source, out, count=2, crop=128, seed=3)
    return out


def test_pairs_carry_the_camera_its_exposures_and_its_noise(raw_set: Path) -> None:
    """Each pair is what burstcap shoot takes with the profiled camera: its make and model, the long
    frame at base ISO and 1/15 s, the short one at ISO 100 T / U and 1/(15 T) s, so the ratio read
    from the metadata is U; the short mosaic's noise is the profile's law at its ISO; the long one is
    blurred; the triplet's truth is the sharp DNG as the fuse path normalises it."""
    meta = json.loads((raw_set / "meta.json").read_text())
    profile = load_profile(raw_testset.CAMERA)
    for record, (time_ratio, under) in zip(meta["pairs"], raw_testset.SCHEDULE):
        short_path, long_path, sharp_path = raw_testset.raw_paths(raw_set, record["name"])
        short, long, sharp = (read_raw(p) for p in (short_path, long_path, sharp_path))
        assert (short.metadata.make, short.metadata.model) == (profile.make, profile.model)
        assert short.metadata.iso == pytest.approx(100 * time_ratio / under)
        assert short.metadata.exposure_time_s == pytest.approx(raw_testset.LONG_EXPOSURE_S / time_ratio, rel=1e-3)
        assert (long.metadata.iso, long.metadata.exposure_time_s) == (100, pytest.approx(1 / 15, rel=1e-3))
        estimate = exposure_ratio(read_linear(long_path), read_linear(short_path))
        assert (estimate.source, estimate.ratio) == ("metadata", pytest.approx(under, rel=1e-3))

        a, b = profile.params(short.metadata.iso)  # RGGB sites
        clean = sharp.mosaic / under
        law = np.zeros_like(clean)
        for site, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            law[dy::2, dx::2] = a[site] * clean[dy::2, dx::2] + b[site]
        measured = float(np.var(short.mosaic - clean))
        assert measured == pytest.approx(float(law.mean()), rel=0.2)

        def edges(m: np.ndarray) -> float:  # steepest steps of the green plane (the checker's edges)
            green = cv2.GaussianBlur(np.ascontiguousarray(m[0::2, 1::2]), (0, 0), 1.0)
            gy, gx = np.gradient(green)
            return float(np.percentile(np.hypot(gx, gy), 99))
        assert edges(long.mosaic) < 0.9 * edges(sharp.mosaic)  # about 1 without the shake (noise adds a little)

        truth = read_triplet(raw_set, record["name"])[2]
        expected = to_network(read_linear(sharp_path).rgb, record["gain"])
        assert np.abs(truth - expected).max() <= 1.0 / 255 + 1e-6


def test_the_louder_profile_has_four_times_the_variance(raw_set: Path) -> None:
    louder = json.loads((raw_set / raw_testset.LOUDER_PROFILE).read_text())
    own = load_profile(raw_testset.CAMERA)
    from hardware_profiles.profile import NoiseProfile

    a4, _ = NoiseProfile.from_dict(louder, "x4").params(1600)
    np.testing.assert_allclose(a4, 4 * own.params(1600)[0], rtol=1e-9)


def test_a_source_that_is_not_a_bayer_mosaic_is_refused(tmp_path: Path) -> None:
    linear = write_linear_dng(tmp_path / "linear.dng", np.full((256, 320, 3), 0.3, np.float32))
    with pytest.raises(BurstcapError, match="linear.dng: need a Bayer RAW"):
        raw_testset.build(linear, tmp_path / "out", count=1, crop=128)
    assert raw_testset.main([str(linear), str(tmp_path / "out")]) == 2


@pytest.mark.parametrize("target_level", [0.9, 0.5])
def test_the_whole_command_is_scored_on_the_dngs(raw_set: Path, target_level: float) -> None:
    """A network that returns its short input: each RAW row scores as the `short` baseline (the
    command read the DNGs, took the ratio from their metadata, and its output is compared at the
    set's brightness whatever the command's own normalisation)."""
    options = FuseOptions(target_level=target_level)
    report = evaluation.score(raw_set, model=settled(gain=0.0), options=options)
    rows = evaluation.raw_rows(raw_set, options)
    assert set(rows) <= set(report.results) and evaluation.ROW not in report.results
    for row in rows:
        for image, fused in report.results[row].scores.items():
            assert fused.psnr == pytest.approx(report.results["short"].scores[image].psnr, abs=0.3)


def test_each_raw_row_uses_its_noise_profile(raw_set: Path, tmp_path: Path) -> None:
    """A network that follows the noise map gives other pixels with the camera's profile, with four
    times its variance and with the map estimated from the image."""
    model = settled(gain=1.0)
    name = json.loads((raw_set / "meta.json").read_text())["pairs"][1]["name"]
    outputs = [evaluation.raw_fuse_method(raw_set, model, options, tmp_path)(name)
               for options in evaluation.raw_rows(raw_set, FuseOptions()).values()]
    own, estimated, louder = outputs
    assert np.abs(louder - own).mean() > 1e-4  # the same path with the same map would give 0 exactly
    assert np.abs(estimated - own).mean() > 1e-4


def test_any_bayer_phase_is_cut_to_start_at_red(tmp_path: Path) -> None:
    """A GRBG file holding the same sensor data one column later gives the same RGGB scene."""
    rng = np.random.default_rng(1)
    adu = rng.integers(300, 3000, (64, 96)).astype(np.uint16)
    rggb = write_dng(tmp_path / "rggb.dng", adu, "RGGB", black_level=256, white_level=4095)
    grbg = write_dng(tmp_path / "grbg.dng", np.ascontiguousarray(adu[:, 1:95]), "GRBG", black_level=256,
                     white_level=4095)
    a, b = raw_testset.scene_mosaic(rggb)[0], raw_testset.scene_mosaic(grbg)[0]
    assert b.shape == (64, 92)
    np.testing.assert_allclose(b / b.mean(), a[:, 2:94] / a[:, 2:94].mean(), rtol=1e-5)

"""Calibration from RAW files: photon transfer recovers the truth, single-frame estimate, bad input.

Frames are synthesized from a known sensor (Poisson shot noise, Gaussian read noise, row noise,
fixed pattern DSNU/PRNU, vignetted flats, clipping, a black-level offset the file does not record),
written as real DNG files with isp.dng.write_dng and read back through isp.raw.read_raw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from burstcap.cli import main
from hardware_profiles import CalibrationError, load_profile
from hardware_profiles.calibration import calibrate_folder
from hardware_profiles.single_frame import estimate_file, estimate_single_frame
from sensor_fixtures import SensorModel, smooth_scene, vignetted_flat
from isp.dng import write_dng
from isp.metadata import CaptureMetadata

SHAPE = (256, 256)
ISOS = (100, 800, 3200)
#: flat exposure times; at 30 * t the brightest (1/30 s) clips in the centre and must be excluded
EXPOSURES = (1 / 500, 1 / 250, 1 / 125, 1 / 60, 1 / 30)


def sensor_at(iso: float, dsnu: float = 0.5, prnu: float = 0.01) -> SensorModel:
    """Truth: a proportional to ISO, per-channel differences, b growing with gain."""
    g = iso / 100
    a = tuple(2e-5 * g * f for f in (1.0, 1.04, 0.97, 1.08))
    b = tuple(4e-7 * g**1.5 * f for f in (1.0, 0.9, 1.1, 1.2))
    sigma = float(np.sqrt(b[0]))
    return SensorModel(a=a, b=b, row_sigma=0.3 * sigma, dsnu_sigma=dsnu * sigma, prnu=prnu,
                       black_offset_adu=9.0)


def write_frame(path: Path, adu: np.ndarray, sensor: SensorModel, iso: float, exposure: float,
                model: str = "Sim 1") -> None:
    write_dng(path, adu, black_level=sensor.black, white_level=sensor.white,
              metadata=CaptureMetadata(make="Acme", model=model, exposure_time_s=exposure, iso=iso))


def write_set(folder: Path, iso: float, rng: np.random.Generator, darks: int = 4, flats: int = 4,
              exposures: tuple[float, ...] = EXPOSURES, shape: tuple[int, int] = SHAPE,
              level_per_s: float = 30.0, model: str = "Sim 1") -> SensorModel:
    sensor = sensor_at(iso)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(darks):
        write_frame(folder / f"dark_{i:02d}.dng", sensor.frame_adu(np.zeros(shape), rng), sensor, iso,
                    1 / 1000, model)
    for t in exposures:
        clean = vignetted_flat(shape, level_per_s * t)
        for i in range(flats):
            write_frame(folder / f"flat_{t:.5f}s_{i:02d}.dng", sensor.frame_adu(clean, rng), sensor,
                        iso, t, model)
    return sensor


@pytest.fixture(scope="module")
def cal_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cal")
    rng = np.random.default_rng(2024)
    for iso in ISOS:
        write_set(root / f"iso{iso:05d}", iso, rng)
    return root


def test_photon_transfer_recovers_the_truth_within_5_percent(cal_dir: Path) -> None:
    result = calibrate_folder(cal_dir)
    profile = result.profile
    assert profile.measured_isos == ISOS
    assert (profile.make, profile.model, profile.cfa) == ("Acme", "Sim 1", "RGGB")
    for m in profile.measured:
        truth = sensor_at(m.iso)
        np.testing.assert_allclose(m.a, truth.a, rtol=0.05, err_msg=f"a at ISO {m.iso}")
        np.testing.assert_allclose(m.b, truth.b, rtol=0.05, err_msg=f"b at ISO {m.iso}")
        assert m.row_sigma == pytest.approx(truth.row_sigma, rel=0.25)
        assert m.fpn_sigma == pytest.approx(truth.dsnu_sigma, rel=0.25)
        # the clipped 1/30 s flats were left out: 4 exposure levels x 2 pairs
        assert len(result.fits[m.iso].levels) == 8
        # the unrecorded black offset (9 ADU) shows up as the dark mean
        offset = np.array(profile.extra["dark_mean"][f"{m.iso:g}"]) * (truth.white - truth.black)
        np.testing.assert_allclose(offset, 9.0, atol=3.0)  # row noise: ~2 ADU scatter
    # between measured ISOs the profile interpolates; the law is close to "a proportional to ISO"
    assert profile.law.a_exponent[0] == pytest.approx(1.0, abs=0.03)


def test_cli_from_folder_writes_profile_and_plot(cal_dir: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "acme.json"
    assert main(["calibrate", "--from", str(cal_dir), "--name", "acme", "--out", str(out)]) == 0
    profile = load_profile(out)
    assert profile.name == "acme" and profile.measured_isos == ISOS
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    text = capsys.readouterr().out
    assert "ISO    800" in text and str(out) in text
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temp files


def _mosaic(adu: np.ndarray, sensor: SensorModel) -> np.ndarray:
    return (adu.astype(np.float32) - sensor.black) / (sensor.white - sensor.black)


@pytest.mark.parametrize("iso", [100, 1600])
def test_single_frame_estimate_within_20_percent(iso: int) -> None:
    """One 512x512 frame of a smooth scene. Fixed pattern cannot be told from temporal noise in one
    frame, so this sensor has little of it (DSNU 0.15 sigma, PRNU 0.1%)."""
    rng = np.random.default_rng(iso)
    sensor = sensor_at(iso, dsnu=0.15, prnu=0.001)
    adu = sensor.frame_adu(smooth_scene((512, 512), rng), rng)
    est = estimate_single_frame(_mosaic(adu, sensor), adu_step=1 / (sensor.white - sensor.black))
    np.testing.assert_allclose(est.a, sensor.a, rtol=0.2)
    np.testing.assert_allclose(est.b, sensor.b, rtol=0.2)
    assert np.all(est.blocks > 200)


def test_single_frame_on_the_real_kodak_kdc(shared_data: Path) -> None:
    est = estimate_file(shared_data / "raw/valid/RAW_KODAK_DC50.KDC")
    assert np.all(np.isfinite(est.a)) and np.all(est.a > 0)
    assert np.all(np.isfinite(est.b)) and np.all(est.b > 0)


def test_single_frame_without_smooth_areas_is_refused() -> None:
    rng = np.random.default_rng(0)
    overexposed = np.minimum(1.0 + rng.normal(0, 0.01, (128, 128)), 1.0)
    with pytest.raises(CalibrationError, match="smooth, unclipped areas"):
        estimate_single_frame(overexposed)


SMALL = (64, 64)


def _bad(tmp_path: Path, **kw: object) -> Path:
    write_set(tmp_path / "iso00100", 100, np.random.default_rng(1), shape=SMALL, **kw)
    return tmp_path


@pytest.mark.parametrize("make_bad, message", [
    (lambda p: _bad(p, darks=1), r"1 dark frame\(s\); shoot at least 2 with the lens capped"),
    (lambda p: _bad(p, exposures=(1 / 500, 1 / 250)), r"2 usable flat exposure level\(s\), need 3"),
    (lambda p: _bad(p, exposures=(1 / 500, 1 / 250, 1 / 96, 1 / 92), level_per_s=100.0),
     r"flats at 1/96 s, 1/92 s are saturated \(clipped\): reshoot them with shorter exposures"),
    (lambda p: _bad(p, exposures=(1 / 500, 1 / 250, 1 / 125, 1 / 20), level_per_s=100.0),
     r"flat_0.05000s_00.dng: every pixel has the same value \(fully saturated"),
    (lambda p: _bad(p, flats=1), r"only one flat at .*: shoot two frames per exposure time"),
])
def test_bad_sets_say_what_to_reshoot(tmp_path: Path, make_bad, message: str) -> None:
    with pytest.raises(CalibrationError, match=message):
        calibrate_folder(make_bad(tmp_path))


def test_mixed_cameras_are_refused(tmp_path: Path) -> None:
    _bad(tmp_path)
    rng = np.random.default_rng(3)
    sensor = sensor_at(100)
    write_frame(tmp_path / "iso00100" / "flat_other.dng", sensor.frame_adu(np.full(SMALL, 0.3), rng),
                sensor, 100, 1 / 100, model="Other 2")
    with pytest.raises(CalibrationError, match="different cameras: 'Acme Sim 1'.*'Acme Other 2'"):
        calibrate_folder(tmp_path)


def test_mixed_isos_in_one_set_are_refused(tmp_path: Path) -> None:
    _bad(tmp_path)
    rng = np.random.default_rng(4)
    sensor = sensor_at(400)
    write_frame(tmp_path / "iso00100" / "flat_0.01000s_09.dng", sensor.frame_adu(np.full(SMALL, 0.3), rng),
                sensor, 400, 1 / 100)
    with pytest.raises(CalibrationError, match="mixes ISO 100 .* and ISO 400"):
        calibrate_folder(tmp_path)


def test_cli_prints_one_line_and_exits_2_on_bad_input(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _bad(tmp_path, darks=1)
    assert main(["calibrate", "--from", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("burstcap: error: ") and "lens capped" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert main(["calibrate", "--from", str(tmp_path / "nowhere")]) == 2
    assert "not a folder of calibration RAWs" in capsys.readouterr().err


def test_cli_single_frame_prints_the_estimate(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kdc = shared_data / "raw/valid/RAW_KODAK_DC50.KDC"
    assert main(["calibrate", "--single", str(kdc)]) == 0
    out = capsys.readouterr().out
    assert "single-frame estimate" in out and "a = [" in out and "b = [" in out
    truncated = next((shared_data / "raw/truncated").iterdir())
    assert main(["calibrate", "--single", str(truncated)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("burstcap: error: ") and str(truncated) in err and len(err.splitlines()) == 1

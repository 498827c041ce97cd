"""Tethered `burstcap calibrate`: the camera is driven through the CameraBackend interface.

A real camera cannot run here and libgphoto2's virtual camera serves only a fixed file, so this test
uses a tiny in-test fake backend at the CameraBackend boundary: it renders a real DNG per capture
(isp.dng.write_dng) from a known sensor model according to its ISO and shutter settings and to
whether the lens cap is on (toggled by the prompts the command shows the user).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from burstcap.camera.backend import CameraBackend, CameraFile, CameraInfo, Widget
from burstcap.cli import build_parser, run_command
from burstcap.commands import calibrate
from burstcap.errors import BurstcapError
from hardware_profiles import load_profile
from sensor_fixtures import SensorModel, vignetted_flat
from isp.dng import write_dng
from isp.metadata import CaptureMetadata

SHUTTERS = ("1/1000", "1/500", "1/250", "1/125", "1/60", "1/30", "1/15")
RADIANCE = 25.0  # normalised signal per second at ISO 100


def truth(iso: float) -> SensorModel:
    g = iso / 100
    return SensorModel(a=(3e-5 * g,) * 4, b=(5e-7 * g**1.6, 6e-7 * g**1.6, 6e-7 * g**1.6, 5e-7 * g**1.6),
                       row_sigma=1e-4, dsnu_sigma=2e-4, prnu=0.01, black_offset_adu=5.0)


class FakeCamera:
    """In-memory camera: widgets, captures rendered as DNGs, downloads copied from a scratch folder."""

    def __init__(self, scratch: Path, raw: bool = True, with_iso: bool = True) -> None:
        self.scratch = scratch
        self.raw = raw
        self.values = {"shutterspeed": "1/30", "iso": "100"}
        self.choices = {"shutterspeed": SHUTTERS, "iso": ("100", "200", "400", "800", "1600")}
        if not with_iso:
            del self.values["iso"], self.choices["iso"]
        self.capped = False
        self.captures = 0
        self.rng = np.random.default_rng(11)
        self.is_open = False

    def open(self) -> CameraInfo:
        self.is_open = True
        return self.info()

    def close(self) -> None:
        self.is_open = False

    def __enter__(self) -> "FakeCamera":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def info(self) -> CameraInfo:
        return CameraInfo(model="Acme Tether 1", port="fake:", backend="fake")

    def widgets(self) -> dict[str, Widget]:
        return {n: Widget(n, v, self.choices[n]) for n, v in self.values.items()}

    def set_widget(self, name: str, value: str) -> str:
        assert value in self.choices[name], (name, value)
        self.values[name] = value
        return value

    def capture(self, timeout_s: float = 30.0) -> list[CameraFile]:
        assert self.is_open
        self.captures += 1
        t = float(eval(self.values["shutterspeed"]))  # noqa: S307 - our own "1/30" strings
        iso = float(self.values.get("iso", "100"))
        sensor = truth(iso)
        level = 0.0 if self.capped else RADIANCE * t * iso / 100
        adu = sensor.frame_adu(vignetted_flat((256, 256), level), self.rng)
        name = f"IMG_{self.captures:04d}"
        if self.raw:
            write_dng(self.scratch / f"{name}.DNG", adu, black_level=sensor.black,
                      white_level=sensor.white,
                      metadata=CaptureMetadata(make="Acme", model="Tether 1", exposure_time_s=t, iso=iso))
        (self.scratch / f"{name}.JPG").write_bytes(b"\xff\xd8 not really a jpeg")
        files = [CameraFile("/DCIM/100FAKE", f"{name}.JPG")]
        if self.raw:
            files.insert(0, CameraFile("/DCIM/100FAKE", f"{name}.DNG"))
        return files

    def download(self, file: CameraFile, dest: Path) -> Path:
        shutil.copyfile(self.scratch / file.name, dest)
        return dest


def _prompter(camera: FakeCamera, seen: list[str]):
    def prompt(message: str) -> None:
        seen.append(message)
        if "lens cap on" in message:
            camera.capped = True
        elif "Remove the lens cap" in message:
            camera.capped = False
    return prompt


def test_fake_is_a_camera_backend(tmp_path: Path) -> None:
    assert isinstance(FakeCamera(tmp_path), CameraBackend)


def test_tethered_calibration_guides_the_user_and_recovers_the_sensor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scratch = tmp_path / "card"
    scratch.mkdir()
    camera = FakeCamera(scratch)
    seen: list[str] = []
    out = tmp_path / "cal"
    args = build_parser().parse_args(["calibrate", "--isos", "100,400", "--to", str(out),
                                      "--name", "tether"])
    assert calibrate.run(args, backend=camera, prompt=_prompter(camera, seen)) == 0
    assert len(seen) == 2 and "lens cap on" in seen[0] and "uniform" in seen[1]
    # ISO 400 scales the 1/30 s brightest flat to 1/125 s: the camera stops at 1/1000 s, 4 levels
    assert camera.captures == 2 * 4 + 6 * 2 + 4 * 2
    assert sorted(p.name for p in out.iterdir()) == ["iso00100", "iso00400", "tether.json", "tether.png"]
    assert len(list((out / "iso00400").glob("dark_*.dng"))) == 4
    profile = load_profile(out / "tether.json")
    assert profile.measured_isos == (100.0, 400.0)
    for m in profile.measured:
        np.testing.assert_allclose(m.a, truth(m.iso).a, rtol=0.05)
        np.testing.assert_allclose(m.b, truth(m.iso).b, rtol=0.05)
    err = capsys.readouterr().err
    assert "dark frame 1/4 at ISO 100, 1/1000 s" in err
    assert "ISO 400: the camera offers only 4 distinct exposure times" in err

    # a rerun into the same folder resumes: nothing left to shoot, same fit
    again = calibrate.run(args, backend=camera, prompt=_prompter(camera, seen))
    assert again == 0 and camera.captures == 28
    assert load_profile(out / "tether.json").measured == profile.measured


def test_camera_without_raw_is_refused_in_one_line(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    camera = FakeCamera(tmp_path, raw=False)
    args = build_parser().parse_args(["calibrate", "--to", str(tmp_path / "cal")])
    code = run_command(lambda a: calibrate.run(a, backend=camera, prompt=lambda m: None), args,
                       "burstcap")
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("burstcap: error: the camera saved no RAW file (IMG_0001.JPG); "
                       "set its image quality to RAW")


def test_isos_on_a_camera_without_iso_setting_are_refused(tmp_path: Path) -> None:
    camera = FakeCamera(tmp_path, with_iso=False)
    args = build_parser().parse_args(["calibrate", "--isos", "100,400", "--to", str(tmp_path / "c")])
    with pytest.raises(BurstcapError, match="no settable ISO"):
        calibrate.run(args, backend=camera, prompt=lambda m: None)
    assert camera.captures == 0


@pytest.mark.camera
@pytest.mark.timeout(180)
def test_real_gphoto2_backend_on_the_virtual_camera_refuses_jpeg_only(tmp_path: Path) -> None:
    """The real gphoto2 backend against libgphoto2's virtual camera (which captures JPEGs only):
    the user is told the first step, then gets one clear line about RAW, exit code 2."""
    import os
    import subprocess

    import cv2

    folder = tmp_path / "vcamera" / "DCIM" / "100TEST"
    folder.mkdir(parents=True)
    assert cv2.imwrite(str(folder / "IMG_0001.JPG"), np.full((32, 48, 3), 128, np.uint8))
    env = {k: v for k, v in os.environ.items() if k not in ("IOLIBS", "CAMLIBS")}
    env["VCAMERADIR"] = str(tmp_path / "vcamera")  # read by python-gphoto2 before import
    result = subprocess.run([sys.executable, "-m", "burstcap.cli", "calibrate", "--yes", "--to",
                             str(tmp_path / "cal")], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=150)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "Put the lens cap on" in lines[0]
    assert lines[-1].startswith("burstcap: error: the camera saved no RAW file (")
    assert lines[-1].endswith("set its image quality to RAW") and "Traceback" not in result.stderr

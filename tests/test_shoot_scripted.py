"""shoot_pair with the scripted backend: behaviour libgphoto2's virtual camera cannot show.

The scripted backend is a fake at the camera boundary (busy errors, RAW+JPEG event order, snapping
shutter values, exposure timing and disconnects need real hardware otherwise).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from burstcap.camera.backend import CameraBusyError, CameraDisconnectedError, StorageFullError
from burstcap.camera.scripted import CameraScript, ScriptedBackend
from burstcap.camera.settings import is_raw_format, parse_iso, parse_shutter
from burstcap.errors import BurstcapError
from burstcap.shoot import RetryPolicy, ShootEvent, ShootRequest, plan_exposures, shoot_pair

pytestmark = pytest.mark.timeout(30)
FAST_RETRY = RetryPolicy(attempts=5, first_delay_s=0.001, max_delay_s=0.004)


def pair(raw_first: bool = True) -> list[list[tuple[str, bytes]]]:
    def capture(n: int) -> list[tuple[str, bytes]]:
        files = [(f"IMG_{n:04d}.CR2", b"RAW" * 100 + bytes([n])), (f"IMG_{n:04d}.JPG", b"JPG" * 50)]
        return files if raw_first else files[::-1]
    return [capture(1), capture(2)]


def shoot(tmp_path: Path, script: CameraScript, **request) -> tuple[ScriptedBackend, object]:
    camera = ScriptedBackend(script=script)
    with camera:
        session = shoot_pair(camera, ShootRequest(retry=FAST_RETRY, **request), tmp_path / "out")
    return camera, session


def test_parsers_read_camera_strings() -> None:
    assert parse_shutter("1/100") == pytest.approx(0.01)
    assert parse_shutter("0.0100s") == pytest.approx(0.01)
    assert parse_shutter('30"') == 30.0 and parse_shutter("2.5") == 2.5
    assert parse_shutter("bulb") is None and parse_shutter("Time") is None
    assert parse_iso("800") == 800 and parse_iso("ISO 200") == 200 and parse_iso("Auto") is None
    assert is_raw_format("RAW + Large Fine JPEG") and is_raw_format("NEF (Raw)")
    assert not is_raw_format("Large Fine JPEG")


def test_session_folder_sidecar_and_iso_from_choices(tmp_path: Path) -> None:
    camera, session = shoot(tmp_path, CameraScript(captures=pair()), ratio=1 / 8, long_exposure_s=1 / 15,
                            iso_long=100)
    assert "set shutterspeed=1/125" in camera.calls and "set iso=800" in camera.calls
    assert "set capturetarget=Memory card" in camera.calls and "set imageformat=RAW" in camera.calls
    assert camera.calls.index("set shutterspeed=1/125") < camera.calls.index("set shutterspeed=1/15")
    assert camera.calls[-1] == "close"
    assert sorted(p.name for p in session.folder.iterdir()) == [
        "long_IMG_0002.CR2", "long_IMG_0002.JPG", "session.json", "short_IMG_0001.CR2", "short_IMG_0001.JPG"]
    assert session.short.name == "short_IMG_0001.CR2" and session.long.name == "long_IMG_0002.CR2"
    assert session.short.read_bytes() == b"RAW" * 100 + bytes([1])
    side = json.loads(session.sidecar.read_text())
    assert side["camera"]["model"] == "Scripted Camera"
    assert side["short"]["read_back"] == {"shutter": "1/125", "exposure_s": pytest.approx(0.008), "iso": "800"}
    assert side["long"]["read_back"]["shutter"] == "1/15" and side["long"]["read_back"]["iso"] == "100"
    assert side["effective_ratio"] == pytest.approx(15 / 125)
    assert side["gap_s"] >= 0 and side["short"]["started"] <= side["long"]["started"]
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_busy_after_capture_is_retried(tmp_path: Path) -> None:
    camera, session = shoot(tmp_path, CameraScript(captures=pair(), busy_after_capture=2), ratio=1 / 8,
                            long_exposure_s=1 / 15)
    after_first = camera.calls[camera.calls.index("capture") + 1:]
    assert after_first[:3] == ["set shutterspeed=1/15"] * 3  # two busy refusals, then success
    assert session.long.exists()


def test_busy_forever_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CameraBusyError, match="still busy after 5 tries to set shutterspeed"):
        shoot(tmp_path, CameraScript(captures=pair(), busy_after_capture=100), ratio=1 / 8,
              long_exposure_s=1 / 15)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("raw_first", [True, False])
def test_raw_and_jpeg_in_either_order(tmp_path: Path, raw_first: bool) -> None:
    _, session = shoot(tmp_path, CameraScript(captures=pair(raw_first)), ratio=1 / 8, long_exposure_s=1 / 15)
    assert session.short.suffix == ".CR2" and session.long.suffix == ".CR2"
    assert len(session.files) == 4 and all(p.exists() for p in session.files)


def test_camera_that_snaps_reports_the_effective_ratio(tmp_path: Path) -> None:
    script = CameraScript(captures=pair(), snap={"1/125": "1/100"})
    _, session = shoot(tmp_path, script, ratio=1 / 8, long_exposure_s=1 / 15)
    assert session.effective_ratio == pytest.approx(15 / 100)
    side = json.loads(session.sidecar.read_text())
    assert side["short"]["requested"]["shutter"] == "1/125"
    assert side["short"]["read_back"]["shutter"] == "1/100"


def test_unreachable_ratio_is_refused_before_shooting(tmp_path: Path) -> None:
    camera = ScriptedBackend(script=CameraScript(captures=pair()))
    with camera, pytest.raises(BurstcapError, match=r"cannot reach ratio 1/64 at long 1/2000"):
        shoot_pair(camera, ShootRequest(ratio=1 / 64, long_exposure_s=1 / 2000), tmp_path)
    assert "capture" not in camera.calls


def test_snapping_beyond_tolerance_is_refused_before_capturing(tmp_path: Path) -> None:
    camera = ScriptedBackend(script=CameraScript(captures=pair(), snap={"1/125": "1/30"}))
    with camera, pytest.raises(BurstcapError, match=r"snapped to 1/30 / 1/15: ratio 1/2 is 2.00 stops"):
        shoot_pair(camera, ShootRequest(ratio=1 / 8, long_exposure_s=1 / 15), tmp_path)
    assert "capture" not in camera.calls


def test_missing_iso_widget_is_optional() -> None:
    script = CameraScript()
    del script.widgets["iso"]
    plan = plan_exposures(script.widgets, ShootRequest(ratio=1 / 4, long_exposure_s=1 / 30, iso_long=200))
    assert plan.iso_widget is None and (plan.short_shutter, plan.long_shutter) == ("1/125", "1/30")


def test_disconnect_mid_download_leaves_nothing_half_written(tmp_path: Path) -> None:
    script = CameraScript(captures=pair(), disconnect_during="IMG_0002.CR2")
    camera = ScriptedBackend(script=script)
    with pytest.raises(CameraDisconnectedError, match=r"disconnected while sending IMG_0002.CR2 \(150 of 301"):
        with camera:
            shoot_pair(camera, ShootRequest(retry=FAST_RETRY, long_exposure_s=1 / 15), tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []  # no session folder, no temporary file
    assert not camera.is_open


def test_storage_full_and_progress(tmp_path: Path) -> None:
    seen: list[ShootEvent] = []
    camera = ScriptedBackend(script=CameraScript(captures=pair()[:1]))
    with camera, pytest.raises(StorageFullError, match="card full"):
        shoot_pair(camera, ShootRequest(long_exposure_s=1 / 15), tmp_path, progress=seen.append)
    assert [p.stage for p in seen] == ["plan", "capture-short", "capture-long"]


def test_gap_is_measured_between_exposures(tmp_path: Path) -> None:
    """Timing is faked by the script (2 s per exposure second); the gap excludes the exposures."""
    script = CameraScript(captures=pair(), seconds_per_exposure_second=2.0)
    _, session = shoot(tmp_path, script, ratio=1 / 8, long_exposure_s=1 / 15)
    side = json.loads(session.sidecar.read_text())
    assert side["short"]["capture_s"] == pytest.approx(2 / 125, abs=0.01)
    assert side["long"]["capture_s"] == pytest.approx(2 / 15, abs=0.02)
    assert 0 < session.gap_s < 0.05  # measured, never assumed (test_camera_timing.py checks its value)


def test_ctrl_c_releases_the_camera_and_leaves_no_session(tmp_path: Path) -> None:
    from burstcap.pipeline import Pipeline, PipelineConfig

    class Interrupted(ScriptedBackend):
        def download(self, file, dest):
            raise KeyboardInterrupt

    camera = Interrupted(script=CameraScript(captures=pair()))
    pipeline = Pipeline(PipelineConfig(out_root=tmp_path / "out", fuse=False), backend=camera)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(ShootRequest(long_exposure_s=1 / 15))
    assert camera.calls[-1] == "close" and not camera.is_open
    assert list((tmp_path / "out").iterdir()) == []

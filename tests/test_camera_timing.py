"""Timing and order at the camera boundary (issue 13): both exposures come before any download, and the
gap between them is measured, not assumed.

A scripted camera (a fake at the backend boundary: libgphoto2's virtual camera has no timing) takes
SET_S to apply a setting, exposes for the shutter time and takes DOWNLOAD_S per download; it stamps
every call with ``time.perf_counter``, so the test knows the true gap between the end of the short
exposure and the start of the long one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from burstcap.camera.scripted import CameraScript, ScriptedBackend
from burstcap.shoot import ShootRequest, shoot_pair

pytestmark = pytest.mark.timeout(30)

SET_S = 0.03  # a camera takes this long to apply the long frame's shutter
DOWNLOAD_S = 0.05


class TimedCamera(ScriptedBackend):
    def __init__(self, script: CameraScript) -> None:
        super().__init__(script=script)
        self.events: list[tuple[str, float, float]] = []  # call, start, end

    def _timed(self, what: str, call):
        start = time.perf_counter()
        result = call()
        self.events.append((what, start, time.perf_counter()))
        return result

    def set_widget(self, name: str, value: str) -> str:
        time.sleep(SET_S)
        return self._timed("set", lambda: super(TimedCamera, self).set_widget(name, value))

    def capture(self, timeout_s: float = 30.0):
        return self._timed("capture", lambda: super(TimedCamera, self).capture(timeout_s))

    def download(self, file, dest):
        def slow():
            time.sleep(DOWNLOAD_S)
            return super(TimedCamera, self).download(file, dest)
        return self._timed("download", slow)


def test_capture_capture_download_download_and_a_measured_gap(tmp_path: Path) -> None:
    script = CameraScript(captures=[[("IMG_0001.CR2", b"short" * 50)], [("IMG_0002.CR2", b"long" * 50)]],
                          seconds_per_exposure_second=1.0)
    camera = TimedCamera(script)
    with camera:
        session = shoot_pair(camera, ShootRequest(ratio=1 / 8, long_exposure_s=1 / 15), tmp_path)
    order = [what for what, *_ in camera.events if what in ("capture", "download")]
    assert order == ["capture", "capture", "download", "download"]
    (short_end,), (long_start,) = ([e for w, s, e in camera.events if w == "capture"][:1],
                                   [s for w, s, e in camera.events if w == "capture"][1:])
    true_gap = long_start - short_end
    assert true_gap >= SET_S  # the long shutter was set in between
    assert session.gap_s > 0
    # the reported gap is the true one, give or take the call overhead (generous for a loaded machine)
    assert true_gap - 0.005 <= session.gap_s <= true_gap + 0.02, (session.gap_s, true_gap)
    side = json.loads(session.sidecar.read_text())
    assert side["gap_s"] == pytest.approx(session.gap_s)
    assert side["long"]["capture_s"] == pytest.approx(1 / 15, abs=0.03)  # the exposure itself
    downloads = [s for w, s, e in camera.events if w == "download"]
    assert min(downloads) > max(e for w, s, e in camera.events if w == "capture")

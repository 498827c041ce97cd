"""The gphoto2 backend and ``burstcap shoot`` against libgphoto2's virtual camera (real PTP code path).

Every test runs in a subprocess whose environment points libgphoto2 at the virtual camera
(``VCAMERADIR`` before ``import gphoto2``), so the switch never leaks into other tests; each has a
hard timeout. The virtual camera has no ISO widget, no timing, and allows 26 captures per session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = [pytest.mark.camera, pytest.mark.timeout(180)]


@pytest.fixture
def vcamera(tmp_path: Path) -> dict[str, str]:
    """A folder the virtual camera serves (one JPEG, one NEF) and the environment selecting it."""
    folder = tmp_path / "vcamera" / "DCIM" / "100TEST"
    folder.mkdir(parents=True)
    gradient = np.tile(np.linspace(0, 255, 96, dtype=np.uint8)[None, :, None], (64, 1, 3))
    assert cv2.imwrite(str(folder / "IMG_0001.JPG"), gradient)
    (folder / "IMG_0002.NEF").write_bytes(b"not really a NEF" * 10)
    env = {k: v for k, v in os.environ.items() if k not in ("IOLIBS", "CAMLIBS")}
    env["VCAMERADIR"] = str(tmp_path / "vcamera")
    return env


def python(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=150)


def burstcap(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "burstcap.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=150)


def test_autodetect_and_widgets(vcamera: dict[str, str], tmp_path: Path) -> None:
    out = python("""
        import json
        from burstcap.camera.gphoto import GPhoto2Backend
        with GPhoto2Backend() as cam:
            w = cam.widgets()
            print(json.dumps({"model": cam.info().model, "port": cam.info().port,
                              "shutter": w["shutterspeed"].choices, "iso": "iso" in w,
                              "back": cam.set_widget("shutterspeed", "0.0500s")}))
        with GPhoto2Backend(camera="Nikon DSC D750", port="usb:001,001") as cam:
            print(cam.info().model)
        try:
            GPhoto2Backend(camera="Canon EOS R5").open()
        except Exception as exc:
            print(type(exc).__name__, exc)
    """, vcamera, tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    got = json.loads(lines[0])
    assert lines[1] == "Nikon DSC D750"  # picked by model and port
    assert lines[2] == ("NoCameraError no camera found matching model 'Canon EOS R5' (detected: Nikon DSC "
                        "D750 on usb:001,001); is it connected, switched on, and not held by another "
                        "program (gvfs)?")
    assert got["model"] == "Nikon DSC D750" and got["port"] == "usb:001,001"
    assert "0.0100s" in got["shutter"] and got["iso"] is False and got["back"] == "0.0500s"


def test_shoot_stores_session_and_reads_back_shutter(vcamera: dict[str, str], tmp_path: Path) -> None:
    result = burstcap(["shoot", "--ratio", "1/10", "--long", "0.1", "--iso-long", "200", "--out", "shots",
                       "--no-process"], vcamera, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "effective ratio 1/10" in result.stdout and "gap between exposures" in result.stdout
    assert "no ISO setting" in result.stderr  # the missing widget is reported, not fatal
    (session,) = (tmp_path / "shots").iterdir()
    names = sorted(p.name for p in session.iterdir())
    assert len(names) == 3 and names[1] == "session.json"
    assert names[0].startswith("long_") and names[2].startswith("short_")
    assert cv2.imread(str(session / names[2])).shape == (64, 96, 3)  # a real, complete JPEG
    side = json.loads((session / "session.json").read_text())
    assert side["camera"]["model"] == "Nikon DSC D750"
    assert side["short"]["read_back"]["shutter"] == "0.0100s" and side["short"]["read_back"]["iso"] is None
    assert side["long"]["read_back"]["shutter"] == "0.1000s"
    assert side["prepared"] == {"capturetarget": "Memory card"}
    assert side["effective_ratio"] == pytest.approx(0.1)


def test_store_full_is_a_clear_error(vcamera: dict[str, str], tmp_path: Path) -> None:
    """The virtual camera refuses the 27th capture of a session: complete pairs stay, no partial one."""
    result = burstcap(["shoot", "--ratio", "1/10", "--long", "0.1", "--count", "14", "--out", "shots",
                       "--no-process"], vcamera, tmp_path)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("burstcap: error: Nikon DSC D750 cannot store another picture")
    assert "Traceback" not in result.stderr
    sessions = list((tmp_path / "shots").iterdir())
    assert len(sessions) == 13 and all((s / "session.json").exists() for s in sessions)


def test_unsupported_operations_are_clear(vcamera: dict[str, str], tmp_path: Path) -> None:
    out = python("""
        from pathlib import Path
        from burstcap.camera.backend import CameraFile, UnsupportedOperationError
        from burstcap.camera.gphoto import GPhoto2Backend
        with GPhoto2Backend() as cam:
            for call in (lambda: cam.download(CameraFile("/store_00010001/DCIM/100TEST", "IMG_0002.NEF"),
                                              Path("x.NEF")),
                         lambda: cam.set_widget("iso", "100")):
                try:
                    call()
                except UnsupportedOperationError as exc:
                    print(exc)
        print(sorted(p.name for p in Path(".").iterdir()))
    """, vcamera, tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "cannot download /store_00010001/DCIM/100TEST/IMG_0002.NEF" in lines[0]
    assert "does not support this" in lines[0]
    assert lines[1] == "Nikon DSC D750 has no setting 'iso'"
    assert lines[2] == "['vcamera']"  # nothing half-written


def test_no_camera_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VCAMERADIR", "IOLIBS", "CAMLIBS")}
    result = burstcap(["shoot", "--no-process", "--out", "shots"], env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("burstcap: error: no camera found") and result.stderr.count("\n") == 1
    assert not (tmp_path / "shots").exists()


@pytest.mark.timeout(20)
def test_capture_event_drain_ends_when_the_camera_never_goes_quiet() -> None:
    """Fake at the python-gphoto2 camera object (a camera that floods events cannot be made from the
    virtual camera): after the capture it sends an unknown event every call and one extra file,
    never GP_EVENT_TIMEOUT. The drain stops after ``timeout_s`` and returns the files seen."""
    import time
    from types import SimpleNamespace

    import gphoto2 as gp

    from burstcap.camera.gphoto import GPhoto2Backend

    class ChattyCamera:
        def __init__(self) -> None:
            self.events = 0

        def capture(self, kind: int) -> SimpleNamespace:
            return SimpleNamespace(folder="/store_00010001/DCIM/100TEST", name="IMG_0001.NEF")

        def wait_for_event(self, timeout_ms: int) -> tuple[int, object]:
            self.events += 1
            time.sleep(0.005)
            if self.events == 3:
                return gp.GP_EVENT_FILE_ADDED, SimpleNamespace(folder="/store_00010001/DCIM/100TEST",
                                                               name="IMG_0001.JPG")
            return gp.GP_EVENT_UNKNOWN, "PTP Property d10c changed"

    backend = GPhoto2Backend()
    backend._camera = ChattyCamera()  # the open PTP session, faked
    start = time.monotonic()
    files = backend.capture(timeout_s=0.3)
    assert 0.3 <= time.monotonic() - start < 3
    assert [f.name for f in files] == ["IMG_0001.NEF", "IMG_0001.JPG"]
    assert backend._camera.events > 10

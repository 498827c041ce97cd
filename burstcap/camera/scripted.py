"""A scripted camera backend: stands in for behaviour libgphoto2's virtual camera cannot show.

It plays a :class:`CameraScript`: settings that snap to other values, busy errors after a capture,
RAW+JPEG files announced in any order, exposure timing, a disconnect in the middle of a download. It
is a fake *at the backend boundary* (used by tests and demos), never a model of a specific camera.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from burstcap.camera.backend import (CameraBusyError, CameraDisconnectedError, CameraFile,
                                     CameraInfo, StorageFullError, UnsupportedOperationError,
                                     Widget, write_atomic)
from burstcap.camera.settings import parse_shutter
from burstcap.errors import CameraError, NoCameraError

DEFAULT_SHUTTERS = ("1", "1/2", "1/4", "1/8", "1/15", "1/30", "1/60", "1/125", "1/250", "1/500",
                    "1/1000", "1/2000", "1/4000")
DEFAULT_ISOS = ("100", "200", "400", "800", "1600", "3200", "6400", "12800")


def default_widgets() -> dict[str, Widget]:
    """A typical manual-exposure camera: shutter, ISO, capture target, image format."""
    return {w.name: w for w in (
        Widget("shutterspeed", "1/15", DEFAULT_SHUTTERS),
        Widget("iso", "100", DEFAULT_ISOS),
        Widget("capturetarget", "Internal RAM", ("Internal RAM", "Memory card")),
        Widget("imageformat", "Large Fine JPEG", ("Large Fine JPEG", "RAW + Large Fine JPEG", "RAW")),
    )}


@dataclass
class CameraScript:
    """What the scripted camera does.

    captures: the files of each capture in the order the camera announces them, as (name, content);
        when it runs out, a capture raises ``StorageFullError``.
    snap: value -> value the camera snaps to (read back differs from what was set).
    busy_after_capture: how many camera calls after each capture fail with ``CameraBusyError``.
    disconnect_during: name of a file whose download dies half-way with ``CameraDisconnectedError``.
    seconds_per_exposure_second: sleep this much per second of exposure (0: no timing).
    present: False behaves as if no camera were attached.
    """

    model: str = "Scripted Camera"
    port: str = "script:0"
    widgets: dict[str, Widget] = field(default_factory=default_widgets)
    captures: list[list[tuple[str, bytes]]] = field(default_factory=list)
    snap: dict[str, str] = field(default_factory=dict)
    busy_after_capture: int = 0
    disconnect_during: str | None = None
    seconds_per_exposure_second: float = 0.0
    present: bool = True


class ScriptedBackend:
    """Plays a :class:`CameraScript`; records every call in ``calls`` for tests to inspect."""

    name = "scripted"

    def __init__(self, camera: str | None = None, port: str | None = None,
                 script: CameraScript | None = None) -> None:
        self.script = script or CameraScript()
        self.values = {n: w.value for n, w in self.script.widgets.items()}
        self.calls: list[str] = []
        self.is_open = False
        self._busy = 0
        self._stored: dict[tuple[str, str], bytes] = {}
        self._captured = 0

    def open(self) -> CameraInfo:
        if not self.script.present:
            raise NoCameraError("no camera found (scripted camera is absent)")
        self.is_open = True
        self.calls.append("open")
        return self.info()

    def close(self) -> None:
        if self.is_open:
            self.calls.append("close")
        self.is_open = False

    def __enter__(self) -> "ScriptedBackend":
        if not self.is_open:
            self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def info(self) -> CameraInfo:
        self._check("info")
        return CameraInfo(self.script.model, self.script.port, self.name, battery="100%")

    def widgets(self) -> dict[str, Widget]:
        self._check("widgets")
        return {n: Widget(n, self.values[n], w.choices, w.readonly) for n, w in self.script.widgets.items()}

    def set_widget(self, name: str, value: str) -> str:
        self._check(f"set {name}={value}")
        if name not in self.script.widgets:
            raise UnsupportedOperationError(f"{self.script.model} has no setting {name!r}")
        widget = self.script.widgets[name]
        if widget.choices and value not in widget.choices:
            raise CameraError(f"{self.script.model}: {value!r} is not a choice of {name}")
        self.values[name] = self.script.snap.get(value, value)
        return self.values[name]

    def capture(self, timeout_s: float = 30.0) -> list[CameraFile]:
        self._check("capture")
        if self._captured >= len(self.script.captures):
            raise StorageFullError(f"{self.script.model} cannot store another picture: card full")
        exposure = parse_shutter(self.values.get("shutterspeed", "0")) or 0.0
        time.sleep(exposure * self.script.seconds_per_exposure_second)
        files = []
        for name, content in self.script.captures[self._captured]:
            cam_file = CameraFile(f"/store_00010001/DCIM/{100 + self._captured}SCRPT", name)
            self._stored[(cam_file.folder, cam_file.name)] = content
            files.append(cam_file)
        self._captured += 1
        self._busy = self.script.busy_after_capture
        return files

    def download(self, file: CameraFile, dest: Path) -> Path:
        self._check(f"download {file.name}")
        key = (file.folder, file.name)
        if key not in self._stored:
            raise CameraError(f"{self.script.model}: no file {file.folder}/{file.name}")
        write_atomic(Path(dest), self._chunks(file.name, self._stored[key]))
        return Path(dest)

    def _chunks(self, name: str, content: bytes) -> Iterator[bytes]:
        half = len(content) // 2
        yield content[:half]
        if name == self.script.disconnect_during:
            self.is_open = False
            raise CameraDisconnectedError(
                f"{self.script.model} disconnected while sending {name} ({half} of {len(content)} bytes)")
        yield content[half:]

    def _check(self, call: str) -> None:
        self.calls.append(call)
        if not self.is_open:
            raise CameraDisconnectedError(f"{self.script.model} is not connected (call: {call})")
        if self._busy > 0:
            self._busy -= 1
            raise CameraBusyError(f"{self.script.model} is busy (PTP 0x2019 Device Busy)")

"""Camera backend on python-gphoto2 (libgphoto2): real USB cameras and libgphoto2's virtual camera.

``gphoto2`` is imported when a backend opens, not at import time, so callers (and tests) can point
libgphoto2 at its virtual camera (``VCAMERADIR`` / ``IOLIBS``) first. libgphoto2 errors become
:mod:`burstcap.camera.backend` errors: -110 busy -> ``CameraBusyError`` (retried by the caller),
-3 during a capture -> ``StorageFullError``, -6 -> ``UnsupportedOperationError``, I/O and USB errors
-> ``CameraDisconnectedError``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from burstcap.camera.backend import (CameraBusyError, CameraDisconnectedError, CameraFile,
                                     CameraInfo, StorageFullError, UnsupportedOperationError,
                                     Widget, write_atomic)
from burstcap.errors import CameraError, NoCameraError

log = logging.getLogger(__name__)

#: libgphoto2 result codes (gphoto2-result.h / gphoto2-port-result.h) we map to our errors.
GP_ERROR_NO_MEMORY = -3
GP_ERROR_NOT_SUPPORTED = -6
GP_ERROR_CAMERA_BUSY = -110
DISCONNECT_CODES = frozenset({-7, -10, -34, -35, -52, -53, -105})  # I/O, timeout, USB find/claim, gone
EVENT_DRAIN_MS = 100  # wait this long for late FILE_ADDED events (RAW+JPEG) after a capture


def _gp() -> ModuleType:
    try:
        import gphoto2
    except ImportError as exc:  # pragma: no cover - gphoto2 is a dependency
        raise CameraError(f"python-gphoto2 is not installed: {exc}") from exc
    return gphoto2


class GPhoto2Backend:
    """A camera through libgphoto2. ``camera``/``port`` pick one when several are attached."""

    name = "gphoto2"

    def __init__(self, camera: str | None = None, port: str | None = None) -> None:
        self.camera_model = camera
        self.port = port
        self._camera: Any = None
        self._info: CameraInfo | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> CameraInfo:
        """Autodetect (or find ``camera``/``port``) and start a PTP session."""
        gp = _gp()
        try:
            cameras = gp.Camera.autodetect()
            found = [(str(cameras.get_name(i)), str(cameras.get_value(i))) for i in range(cameras.count())]
        except gp.GPhoto2Error as exc:
            raise NoCameraError(f"camera autodetection failed: {exc}") from exc
        matches = [(m, p) for m, p in found
                   if (self.camera_model is None or m.lower() == self.camera_model.lower())
                   and (self.port is None or p == self.port)]
        if not matches:
            wanted = " ".join(x for x in (self.camera_model and f"model {self.camera_model!r}",
                                          self.port and f"port {self.port!r}") if x)
            seen = ", ".join(f"{m} on {p}" for m, p in found) or "none"
            raise NoCameraError(
                f"no camera found{' matching ' + wanted if wanted else ''} (detected: {seen}); "
                "is it connected, switched on, and not held by another program (gvfs)?")
        model, port = matches[0]
        camera = gp.Camera()
        try:
            if self.camera_model or self.port:
                abilities = gp.CameraAbilitiesList()
                abilities.load()
                camera.set_abilities(abilities[abilities.lookup_model(model)])
                ports = gp.PortInfoList()
                ports.load()
                camera.set_port_info(ports[ports.lookup_path(port)])
            camera.init()
        except gp.GPhoto2Error as exc:
            raise self._error(exc, f"connect to {model} on {port}") from exc
        self._camera = camera
        self._info = CameraInfo(model=model, port=port, backend=self.name,
                                battery=self._value_or_none("batterylevel"))
        return self._info

    def close(self) -> None:
        """End the PTP session (idempotent, never raises)."""
        camera, self._camera = self._camera, None
        if camera is not None:
            try:
                camera.exit()
            except Exception as exc:  # releasing must not mask the original error
                log.warning("closing the camera failed: %s", exc)

    def __enter__(self) -> "GPhoto2Backend":
        if self._camera is None:
            self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- settings ----------------------------------------------------------------------------
    def info(self) -> CameraInfo:
        """Model, port and battery level of the open camera."""
        self._require_open()
        assert self._info is not None
        return self._info

    def widgets(self) -> dict[str, Widget]:
        """Every leaf setting of the camera's configuration tree, by name."""
        gp = _gp()
        camera = self._require_open()
        try:
            root = camera.get_config()
        except gp.GPhoto2Error as exc:
            raise self._error(exc, "read the configuration") from exc
        out: dict[str, Widget] = {}
        stack = [root]
        while stack:
            widget = stack.pop()
            children = [widget.get_child(i) for i in range(widget.count_children())]
            stack.extend(children)
            if widget.get_type() in (gp.GP_WIDGET_WINDOW, gp.GP_WIDGET_SECTION, gp.GP_WIDGET_BUTTON):
                continue
            choices: tuple[str, ...] = ()
            if widget.get_type() in (gp.GP_WIDGET_RADIO, gp.GP_WIDGET_MENU):
                choices = tuple(str(widget.get_choice(i)) for i in range(widget.count_choices()))
            try:
                value = widget.get_value()
            except gp.GPhoto2Error:
                continue
            out.setdefault(widget.get_name(), Widget(widget.get_name(), str(value), choices,
                                                     bool(widget.get_readonly())))
        return out

    def set_widget(self, name: str, value: str) -> str:
        """Set ``name`` to ``value`` and return what the camera reports afterwards."""
        gp = _gp()
        camera = self._require_open()
        try:
            widget = camera.get_single_config(name)
        except gp.GPhoto2Error as exc:
            if exc.code in (GP_ERROR_CAMERA_BUSY, *DISCONNECT_CODES):
                raise self._error(exc, f"read setting {name!r}") from exc
            raise UnsupportedOperationError(f"{self._model()} has no setting {name!r}") from exc
        try:
            widget.set_value(value)
            camera.set_single_config(name, widget)
            return str(camera.get_single_config(name).get_value())
        except gp.GPhoto2Error as exc:
            raise self._error(exc, f"set {name} to {value!r}") from exc

    # -- capture -----------------------------------------------------------------------------
    def capture(self, timeout_s: float = 30.0) -> list[CameraFile]:
        """Capture one image; also collect files announced by FILE_ADDED events (RAW+JPEG).

        libgphoto2 has no timeout for ``capture``: ``timeout_s`` only bounds the event drain (a
        camera that keeps sending other events stops it then; the files seen so far are returned).
        """
        gp = _gp()
        camera = self._require_open()
        try:
            path = camera.capture(gp.GP_CAPTURE_IMAGE)
        except gp.GPhoto2Error as exc:
            if exc.code == GP_ERROR_NO_MEMORY:
                raise StorageFullError(
                    f"{self._model()} cannot store another picture ({exc}): the card or the camera's "
                    "buffer is full; free space or reconnect the camera") from exc
            raise self._error(exc, "capture") from exc
        files = [CameraFile(str(path.folder), str(path.name))]
        drain_ms = min(EVENT_DRAIN_MS, max(1, int(timeout_s * 1000)))
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if time.monotonic() > deadline:
                    log.warning("the camera kept sending events for %.1f s after the capture; "
                                "not waiting for more files", timeout_s)
                    break
                kind, data = camera.wait_for_event(drain_ms)
                if kind == gp.GP_EVENT_FILE_ADDED:
                    extra = CameraFile(str(data.folder), str(data.name))
                    if extra not in files:
                        files.append(extra)
                elif kind == gp.GP_EVENT_TIMEOUT:
                    break
        except gp.GPhoto2Error as exc:
            log.warning("waiting for capture events failed: %s", exc)
        return files

    def download(self, file: CameraFile, dest: Path) -> Path:
        """Copy ``file`` to ``dest`` atomically."""
        gp = _gp()
        camera = self._require_open()
        try:
            cam_file = camera.file_get(file.folder, file.name, gp.GP_FILE_TYPE_NORMAL)
            data = bytes(memoryview(cam_file.get_data_and_size()))
        except gp.GPhoto2Error as exc:
            raise self._error(exc, f"download {file.folder}/{file.name}") from exc
        write_atomic(Path(dest), [data], size=len(data))
        return Path(dest)

    # -- helpers -----------------------------------------------------------------------------
    def _require_open(self) -> Any:
        if self._camera is None:
            raise CameraError("the camera is not open (use the backend as a context manager)")
        return self._camera

    def _model(self) -> str:
        return self._info.model if self._info else (self.camera_model or "the camera")

    def _value_or_none(self, name: str) -> str | None:
        try:
            return str(self._camera.get_single_config(name).get_value())
        except Exception:
            return None

    def _error(self, exc: Any, what: str) -> CameraError:
        code = getattr(exc, "code", None)
        message = f"{self._model()}: cannot {what}: {exc}"
        if code == GP_ERROR_CAMERA_BUSY:
            return CameraBusyError(message)
        if code == GP_ERROR_NOT_SUPPORTED:
            return UnsupportedOperationError(f"{message} (the camera or its driver does not support this)")
        if code in DISCONNECT_CODES:
            return CameraDisconnectedError(f"{message} (was the camera disconnected or switched off?)")
        return CameraError(message)

"""The one interface through which burstcap talks to a camera.

The gphoto2 backend implements it for real cameras (and libgphoto2's virtual camera); a scripted
backend implements it for behaviour that cannot run here (timing, busy errors, disconnects). Third
parties register more through the ``burstcap.backends`` entry-point group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Widget:
    """One configuration setting as the camera reports it (values are the camera's own strings)."""

    name: str
    value: str
    choices: tuple[str, ...] = ()
    readonly: bool = False


@dataclass(frozen=True)
class CameraInfo:
    """What identifies the connected camera."""

    model: str
    port: str
    backend: str
    battery: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CameraFile:
    """A file on the camera, as reported after a capture."""

    folder: str
    name: str


@runtime_checkable
class CameraBackend(Protocol):
    """A connected camera. Use as a context manager so the camera is always released."""

    def open(self) -> CameraInfo:
        """Connect; raise ``NoCameraError`` when there is no camera."""

    def close(self) -> None:
        """Release the camera (idempotent)."""

    def info(self) -> CameraInfo:
        """Model, port, battery level."""

    def widgets(self) -> dict[str, Widget]:
        """Every setting the camera exposes, by name (e.g. 'shutterspeed', 'iso', 'f-number')."""

    def set_widget(self, name: str, value: str) -> str:
        """Set a setting and return the value read back (cameras snap to their nearest value)."""

    def capture(self, timeout_s: float = 30.0) -> list[CameraFile]:
        """Take one exposure; return every file it produced (RAW+JPEG come as several)."""

    def download(self, file: CameraFile, dest: Path) -> Path:
        """Copy a file from the camera to ``dest`` atomically; return the final path."""

    def __enter__(self) -> "CameraBackend": ...

    def __exit__(self, *exc: object) -> None: ...

"""The one interface through which burstcap talks to a camera.

The gphoto2 backend implements it for real cameras (and libgphoto2's virtual camera); a scripted
backend implements it for behaviour that cannot run here (timing, busy errors, disconnects). Third
parties register more through the ``burstcap.backends`` entry-point group: the entry point names a
callable ``factory(camera: str | None = None, port: str | None = None) -> CameraBackend`` (usually the
class itself).

Errors: every backend raises :class:`burstcap.errors.CameraError` or one of the subclasses below, with
a message that names the camera and what failed; never a library's own exception.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from isp.atomic import atomic_path

from burstcap.errors import CameraError, NoCameraError

__all__ = [
    "CameraBackend", "CameraBusyError", "CameraDisconnectedError", "CameraError", "CameraFile",
    "CameraInfo", "NoCameraError", "StorageFullError", "UnsupportedOperationError", "Widget",
    "write_atomic",
]


class CameraBusyError(CameraError):
    """The camera is busy (typically right after a capture); the same call may succeed later."""


class StorageFullError(CameraError):
    """The camera cannot store another picture (card or capture buffer full)."""


class UnsupportedOperationError(CameraError):
    """The camera (or its driver) does not support what was asked."""


class CameraDisconnectedError(CameraError):
    """The camera went away in the middle of an operation."""


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
    """A file on the camera, as reported after a capture (``folder`` is the camera's own path)."""

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
        """Set a setting and return the value read back (cameras snap to their nearest value).

        Raises ``CameraError`` when the widget does not exist, ``CameraBusyError`` when the camera is
        busy (the caller retries).
        """

    def capture(self, timeout_s: float = 30.0) -> list[CameraFile]:
        """Take one exposure; return every file it produced (RAW+JPEG come as several, in any order).

        Raises ``CameraBusyError`` (retry later), ``StorageFullError``, ``CameraError``.
        """

    def download(self, file: CameraFile, dest: Path) -> Path:
        """Copy a file from the camera to the path ``dest`` atomically (see :func:`write_atomic`).

        On failure nothing is left at ``dest`` (and no temporary file either); raises
        ``CameraDisconnectedError`` when the camera went away, ``UnsupportedOperationError`` when it
        cannot send that file.
        """

    def __enter__(self) -> "CameraBackend": ...

    def __exit__(self, *exc: object) -> None: ...


def write_atomic(dest: Path, chunks: Iterable[bytes], size: int | None = None) -> int:
    """Write ``chunks`` (``size`` bytes in all, when known) to ``dest`` through a temporary file in
    the same folder (``.part``, :func:`isp.atomic.atomic_path`; a full disk is an
    :class:`isp.DiskFullError`).

    If iterating ``chunks`` raises, the temporary file is removed and the error propagates: ``dest``
    is either absent/unchanged or complete. Returns the number of bytes written.
    """
    written = 0
    with atomic_path(dest, suffix=".part", size=size) as tmp, open(tmp, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
            written += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return written

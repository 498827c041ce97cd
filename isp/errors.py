"""The one error family of ``isp``: every bad input raises a subclass of :class:`IspError`."""

from __future__ import annotations

from pathlib import Path


class IspError(Exception):
    """Base class of every error ``isp`` raises on bad input."""


class RawReadError(IspError):
    """A file could not be read as an image. The message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DiskFullError(IspError):
    """A write ran out of space. Names the folder, the free space and (when known) what was needed."""

    def __init__(self, folder: str | Path, free: int, needed: int | None = None,
                 what: str | None = None, at_least: bool = False) -> None:
        self.folder = Path(folder)
        self.free = free
        self.needed = needed  # bytes (a lower bound when ``at_least``)
        self.what = what
        self.at_least = at_least
        writing = f" writing {what}" if what else ""
        need = (f"; it needs {'more than' if at_least else 'about'} {format_bytes(needed)}"
                if needed else "")
        super().__init__(f"{self.folder}: no space left on the device{writing} "
                         f"({format_bytes(free)} free{need}); free some space and try again")


def format_bytes(n: int | float) -> str:
    """``1536`` -> ``"1.5 KB"`` (powers of 1024, one decimal)."""
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")

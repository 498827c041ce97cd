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

"""Discover camera backends through Python entry points.

A third-party package adds a camera by declaring, in its own ``pyproject.toml``::

    [project.entry-points."burstcap.backends"]
    mycam = "mycam_pkg:MyCameraBackend"   # factory(camera=None, port=None) -> CameraBackend

Installing that package is enough: ``burstcap shoot --backend mycam`` and :class:`burstcap.pipeline.Pipeline`
find it through :mod:`importlib.metadata`. (Fusion models are found the same way, in the
``deblurnet.models`` group, by :func:`deblurnet.inference.load_model`.)
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from burstcap.camera.backend import CameraBackend
from burstcap.errors import BurstcapError

BACKEND_GROUP = "burstcap.backends"
DEFAULT_BACKEND = "gphoto2"

BackendFactory = Callable[..., CameraBackend]


def _group(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def backend_names() -> list[str]:
    """Names of every installed camera backend, sorted."""
    return sorted(_group(BACKEND_GROUP))


def _load(group: str, name: str, kind: str) -> Any:
    found = _group(group)
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise BurstcapError(f"unknown {kind} {name!r} (installed: {known}; entry-point group {group!r})")
    try:
        return found[name].load()
    except Exception as exc:  # a broken plugin must not crash the CLI with a traceback
        raise BurstcapError(f"{kind} {name!r} ({found[name].value}) failed to load: {exc}") from exc


def load_backend(name: str = DEFAULT_BACKEND) -> BackendFactory:
    """The factory registered as ``name`` in ``burstcap.backends``; raises ``BurstcapError``."""
    return _load(BACKEND_GROUP, name, "camera backend")


def create_backend(name: str = DEFAULT_BACKEND, camera: str | None = None,
                   port: str | None = None) -> CameraBackend:
    """A new, not yet opened backend: ``load_backend(name)(camera=camera, port=port)``."""
    return load_backend(name)(camera=camera, port=port)


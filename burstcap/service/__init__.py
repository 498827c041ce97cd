"""The HTTP service behind ``burstcap serve``: a JSON API, an event stream and a phone page.

- :mod:`~burstcap.service.app`: ``create_app(config, open_camera, capture, process) -> FastAPI``;
- :mod:`~burstcap.service.runner`: background capture (one at a time) and processing queue;
- :mod:`~burstcap.service.store`: job records in SQLite beside the images;
- :mod:`~burstcap.service.auth`: the bearer token (0600 file);
- :mod:`~burstcap.service.steps`: the real capture and fusion steps;
- :mod:`~burstcap.service.server`: uvicorn in the foreground or on a thread.

See docs/service.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from burstcap.service.app import create_app
    from burstcap.service.config import ServiceConfig, load_config
    from burstcap.service.runner import CapturedPair, CaptureFn, ProcessFn, ProgressFn, ShootParams
    from burstcap.service.server import BackgroundServer

#: Public name -> the module defining it. Loaded on first use (PEP 562), so that importing
#: ``burstcap.service.config`` (``burstcap serve --help``) does not pull in FastAPI, torch and OpenCV.
_EXPORTS = {
    "create_app": "app", "ServiceConfig": "config", "load_config": "config",
    "CapturedPair": "runner", "CaptureFn": "runner", "ProcessFn": "runner", "ProgressFn": "runner",
    "ShootParams": "runner", "BackgroundServer": "server",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"burstcap.service.{_EXPORTS[name]}"), name)

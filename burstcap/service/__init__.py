"""The HTTP service behind ``burstcap serve``: a JSON API, an event stream and a phone page.

- :mod:`~burstcap.service.app`: ``create_app(config, open_camera, capture, process) -> FastAPI``;
- :mod:`~burstcap.service.runner`: background capture (one at a time) and processing queue;
- :mod:`~burstcap.service.store`: job records in SQLite beside the images;
- :mod:`~burstcap.service.auth`: the bearer token (0600 file);
- :mod:`~burstcap.service.steps`: the real capture and fusion steps;
- :mod:`~burstcap.service.server`: uvicorn in the foreground or on a thread.

See docs/service.md.
"""

from burstcap.service.app import create_app
from burstcap.service.config import ServiceConfig, load_config
from burstcap.service.runner import CapturedPair, CaptureFn, ProcessFn, ProgressFn, ShootParams
from burstcap.service.server import BackgroundServer

__all__ = ["BackgroundServer", "CaptureFn", "CapturedPair", "ProcessFn", "ProgressFn",
           "ServiceConfig", "ShootParams", "create_app", "load_config"]

"""Settings of the HTTP service (overridable from ``burstcap serve`` options or a TOML file)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import tomlconfig

from burstcap.errors import BurstcapError


@dataclass(frozen=True)
class ServiceConfig:
    """Where the service listens and keeps its files.

    ``out_dir`` holds the job database (``jobs.sqlite``), the job folders (``jobs/<id>/``) and, unless
    ``token_file`` says otherwise, the access token (``service-token``, mode 0600).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    out_dir: Path = Path("burstcap-output")
    token_file: Path | None = None
    max_body_bytes: int = 16 * 1024  # larger request bodies get 413
    history: int = 50  # jobs listed by GET /api/jobs and the event stream
    thumbnail_px: int = 320  # longer side of gallery previews
    event_interval_s: float = 0.25  # how often the event stream looks for changes
    access_log: bool = False  # off by default (the token is blanked out of it when on)
    min_free_bytes: int = 100 * 1024 * 1024  # a shot is refused (507) with less free in out_dir

    @property
    def token_path(self) -> Path:
        return self.token_file if self.token_file is not None else self.out_dir / "service-token"

    @property
    def loopback_only(self) -> bool:
        """True when ``host`` is a loopback address (or 'localhost')."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def load_config(path: Path, base: ServiceConfig = ServiceConfig()) -> ServiceConfig:
    """``base`` updated from the ``[serve]`` table of the TOML file ``path`` (:mod:`tomlconfig`);
    errors are BurstcapErrors naming the file and the key (``[serve] port``)."""
    try:
        config = tomlconfig.load_toml(path, ServiceConfig, table="serve", base=base, noun="setting")
    except tomlconfig.ConfigError as exc:
        raise BurstcapError(str(exc)) from None
    if not 0 <= config.port <= 65535:
        raise BurstcapError(f"{path}: [serve] port must be 0..65535, not {config.port}")
    return config

"""Settings of the HTTP service (overridable from ``burstcap serve`` options or a TOML file)."""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

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
    """``base`` updated from the ``[serve]`` table of the TOML file ``path``."""
    try:
        table: dict[str, Any] = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("serve", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BurstcapError(f"{path}: cannot read the configuration: {exc}") from exc
    known = {f.name: f for f in fields(ServiceConfig)}
    changes: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in known:
            raise BurstcapError(f"{path}: unknown setting [serve] {key} (known: {', '.join(known)})")
        default = getattr(base, name)
        if name in ("host", "out_dir", "token_file"):
            if not isinstance(value, str):
                raise BurstcapError(f"{path}: [serve] {key} must be a string, not {value!r}")
            value = value if name == "host" else Path(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise BurstcapError(f"{path}: [serve] {key} must be true or false, not {value!r}")
        elif isinstance(default, int):
            if not isinstance(value, int) or isinstance(value, bool):
                raise BurstcapError(f"{path}: [serve] {key} must be an integer, not {value!r}")
        elif isinstance(default, float):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise BurstcapError(f"{path}: [serve] {key} must be a number, not {value!r}")
            value = float(value)
        if name == "port" and not 0 <= value <= 65535:
            raise BurstcapError(f"{path}: [serve] {key} must be 0..65535, not {value}")
        changes[name] = value
    return replace(base, **changes)

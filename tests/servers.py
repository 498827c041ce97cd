"""Service processes the service tests start and kill (tests/test_service.py,
tests/test_service_faults.py): a server script run with ``python -c``, or ``burstcap serve`` itself."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def script_server(script: str, out: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Run ``script`` (indented Python source; ``sys.argv[1]`` is ``out``, the first line it prints
    the server's URL) in a new process; yields (URL, authorisation headers with the token the server
    wrote into ``out``). The process is killed (SIGKILL) on leaving."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if not url else url  # type: ignore
        yield url, {"Authorization": f"Bearer {(out / 'service-token').read_text().strip()}"}
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def serve_command(out: Path, *options: str) -> subprocess.Popen:
    """Start ``burstcap serve --port 0 --out OUT *options`` with unbuffered output (the banner's
    lines can be read as they come); the caller stops it."""
    return subprocess.Popen([sys.executable, "-m", "burstcap.cli", "serve", "--port", "0", "--out", str(out),
                             *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))


def first_page(base: str, timeout_s: float = 20.0) -> httpx.Response:
    """GET ``base``/ once the server answers (uvicorn starts after the banner is printed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return httpx.get(base + "/")
        except httpx.ConnectError:
            assert time.monotonic() < deadline
            time.sleep(0.1)

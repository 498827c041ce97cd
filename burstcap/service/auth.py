"""The service's access token: generated on first start, kept in a user-only (0600) file.

Every ``/api`` call must send ``Authorization: Bearer <token>``. Browsers cannot set headers on an
``EventSource`` or an ``<img src>``, so the event stream and the thumbnails (and only those) also
accept ``?token=<token>``; the access log never shows it (:class:`RedactToken`). A token read from a
file must carry at least :data:`MIN_TOKEN_BITS` bits (:func:`token_bits`).
"""

from __future__ import annotations

import logging
import math
import os
import re
import secrets
import stat
import string
from pathlib import Path

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from burstcap.errors import BurstcapError

#: Bytes of randomness in a new token (encoded as URL-safe base64, 43 characters).
TOKEN_BYTES = 32
#: Least estimated entropy of a token read from a file (:func:`token_bits`).
MIN_TOKEN_BITS = 128
#: Character classes a token's alphabet is estimated from.
_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits, string.punctuation)

#: Declares the bearer scheme in the OpenAPI document, so /docs offers an "Authorize" button.
_BEARER = HTTPBearer(auto_error=False, description="the token printed by 'burstcap serve'")


def load_or_create_token(path: Path) -> str:
    """Return the token stored in ``path``, creating the file (mode 0600) with a new one if absent.

    Raises ``BurstcapError`` when the file is readable by group or others, empty, or cannot be read
    or created.
    """
    path = Path(path)
    try:
        return _load_or_create(path)
    except OSError as exc:  # permission denied, a folder in the way, ...
        raise BurstcapError(f"{path}: cannot read or create the token file: "
                            f"{exc.strerror or exc}") from exc


def _load_or_create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise BurstcapError(f"{path}: token file is accessible to other users (mode {mode:04o}); "
                                f"run 'chmod 600 {path}' or delete it to get a new token") from None
        token = path.read_text(encoding="utf-8").strip()
        if not token:
            raise BurstcapError(f"{path}: token file is empty; delete it to get a new token")
        bits = token_bits(token)
        if bits < MIN_TOKEN_BITS:
            raise BurstcapError(f"{path}: the token is too weak (about {bits:.0f} bits, at least "
                                f"{MIN_TOKEN_BITS} needed); delete the file to get a random one, or "
                                "write e.g. 'python -c \"import secrets; print(secrets.token_urlsafe(32))\"'")
        return token
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token


def token_bits(token: str) -> float:
    """Estimated entropy of ``token`` in bits: length x log2(alphabet), the alphabet being the
    character classes it uses (a-z, A-Z, 0-9, punctuation; anything else counts 64). A token of
    fewer than 8 distinct characters counts as one of that many symbols (``aaaa...``, ``abab...``)."""
    if not token:
        return 0.0
    alphabet = sum(len(c) for c in _CLASSES if any(ch in c for ch in token))
    alphabet += 64 if any(all(ch not in c for c in _CLASSES) for ch in token) else 0
    distinct = len(set(token))
    return len(token) * math.log2(distinct if distinct < 8 else alphabet) if distinct > 1 else 0.0


class RedactToken(logging.Filter):
    """Logging filter: blanks out ``token=...`` and every token in :attr:`secrets` wherever it
    stands in a record's message and arguments (uvicorn's access log gets the full path with its
    query string; a client may even put the token into the path)."""

    _PATTERN = re.compile(r"(?i)(token=)[^&\s\"']*")

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._redact(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._redact(v) for k, v in record.args.items()}
        return True

    def _redact(self, value: object) -> object:
        if not isinstance(value, str):
            return value
        for secret in self.secrets:
            value = value.replace(secret, "<redacted>")
        return self._PATTERN.sub(r"\1<redacted>", value)


#: Installed on uvicorn's access logger by :func:`burstcap.service.create_app`.
REDACT_TOKEN = RedactToken()


class TokenCheck:
    """FastAPI dependency: 401 unless the request carries the token.

    ``allow_query=True`` also accepts ``?token=`` (event stream and images only).
    """

    def __init__(self, token: str, allow_query: bool = False) -> None:
        self._token = token
        self._allow_query = allow_query

    def __call__(self, request: Request,
                 credentials: HTTPAuthorizationCredentials | None = Depends(_BEARER)) -> None:
        given = credentials.credentials if credentials else ""
        if not given and self._allow_query:
            given = request.query_params.get("token", "")
        if not given or not secrets.compare_digest(given.strip().encode(), self._token.encode()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="missing or wrong access token: send 'Authorization: Bearer <token>' "
                       "(the token is printed by 'burstcap serve' and stored in its token file)",
                headers={"WWW-Authenticate": "Bearer"})

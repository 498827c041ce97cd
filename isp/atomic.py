"""Atomic file output: write to a temp file in the destination folder, then os.replace.

The one mechanism of the project: every package writes its outputs through :func:`atomic_path` (or
:func:`atomic_write_bytes` / :func:`atomic_write_text`). Results get the usual permissions of a new
file (0666 less the umask), not mkstemp's owner-only 0600; :func:`set_new_modes` does the same
for a folder written whole and renamed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from isp.errors import DiskFullError

#: Below this many free bytes, a failed write is taken as "no space left" even when the writer
#: (OpenCV, numpy's ``tofile``) reports no errno.
LOW_SPACE_BYTES = 1 << 20
#: Names of the temp files :func:`atomic_path` makes (``.STEM.XXXXXXXX.tmp[.ext]``, ``.part``) and
#: of the hidden folders written whole then renamed (``.NAME.XXXXXXXX.partial``, ``.tmp-XXXXXXXX``).
_LEFTOVER = re.compile(r"^\..*\.[a-z0-9_]{8}(\.tmp(\.\w+)?|\.part|\.partial)$|^\.(tmp|old)-[a-z0-9_]{8}$")


def _read_umask() -> int:
    """The process umask (reading it requires setting it; restored at once). Read once, at import,
    because setting it is not thread-safe."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _new_mode(folder: bool = False) -> int:
    """Permission bits a new file (0666) or, with ``folder``, a new folder (0777) gets under the
    process umask."""
    return (0o777 if folder else 0o666) & ~_UMASK


def set_new_modes(folder: str | Path) -> None:
    """Give ``folder`` and the files directly in it the permissions of new ones (0777 / 0666 less
    the umask). For a folder written whole in a temp folder and then renamed: mkdtemp makes it 0700
    and some libraries (safetensors) write their files 0600."""
    folder = Path(folder)
    os.chmod(folder, _new_mode(folder=True))
    for entry in folder.iterdir():
        if entry.is_file() and not entry.is_symlink():
            os.chmod(entry, _new_mode())


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None,
                size: int | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it replaces ``path`` atomically.

    The temp file is hidden (``.STEM.XXXX``) and ends in ``suffix``; the default ``.tmp`` + the
    target's suffix lets writers that choose the format by extension (OpenCV, matplotlib) work.
    On error the temp file is removed and ``path`` is left untouched; a full disk raises
    :class:`isp.DiskFullError` (``size``: the bytes to be written, when known, for its message).
    The result gets permissions 0666 less the umask.
    """
    target = Path(path)
    if suffix is None:
        suffix = f".tmp{target.suffix}"
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=suffix, dir=target.parent)
    except OSError as exc:
        raise disk_full_error(exc, target.parent, size, what=target.name) or exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _new_mode())
        os.replace(tmp, target)
    except BaseException as exc:
        full = disk_full_error(exc, target.parent, size, written=_size(tmp), what=target.name)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if full is not None:
            raise full from exc
        raise


def disk_full_error(exc: BaseException, folder: str | Path, needed: int | None = None,
                    written: int = 0, what: str | None = None) -> DiskFullError | None:
    """The :class:`DiskFullError` that ``exc`` (raised while writing in ``folder``) really is, or None.

    A write failed for lack of space when it says so (ENOSPC, EDQUOT, SQLite's "disk is full",
    also in its causes) or when an error comes while under :data:`LOW_SPACE_BYTES` are free (OpenCV
    and numpy report a short write without errno). ``needed``: bytes the write needs (else: more
    than ``written``, what it had written when it failed).
    """
    if isinstance(exc, DiskFullError):  # from a nested write: named after the outer one
        if Path(folder) == exc.folder and what in (None, exc.what):
            return exc
        return DiskFullError(folder, exc.free, exc.needed, what or exc.what, exc.at_least)
    if not isinstance(exc, Exception):
        return None
    free = free_bytes(folder)
    said_full = False
    cause: BaseException | None = exc
    while cause is not None and not said_full:
        said_full = (getattr(cause, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
                     or "disk is full" in str(cause) or "No space left" in str(cause))
        cause = cause.__cause__ or cause.__context__
    if not said_full and (free is None or free >= LOW_SPACE_BYTES):
        return None
    if needed is None and written:
        return DiskFullError(folder, free or 0, written, what, at_least=True)
    return DiskFullError(folder, free or 0, needed, what)


def free_bytes(folder: str | Path) -> int | None:
    """Bytes an unprivileged user may still write in ``folder``'s filesystem (None if unknown)."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def require_space(folder: str | Path, needed: int, what: str | None = None) -> None:
    """Raise :class:`DiskFullError` unless ``folder``'s filesystem has ``needed`` bytes free."""
    free = free_bytes(folder)
    if free is not None and free < needed:
        raise DiskFullError(folder, free, needed, what)


def remove_leftovers(folder: str | Path, min_age_s: float = 0.0) -> list[Path]:
    """Delete the temp files and half-written folders an interrupted run (kill -9, power cut) left
    under ``folder`` (recursively, symlinks not followed), older than ``min_age_s`` seconds; return
    them. Only the hidden names this module and its users make are touched."""
    removed: list[Path] = []
    now = time.time()
    for parent, dirs, files in os.walk(folder):
        for name in [*files, *dirs]:
            path = Path(parent, name)
            if not _LEFTOVER.match(name) or path.is_symlink():
                continue
            with contextlib.suppress(OSError):
                if now - path.lstat().st_mtime < min_age_s:
                    continue
                if path.is_dir():
                    shutil.rmtree(path)
                    dirs.remove(name)
                else:
                    path.unlink()
                removed.append(path)
    return removed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); return the path.

    The temp file ends in ``.tmp``, so a crash leftover never matches a ``*.json`` / ``*.png`` glob.
    """
    with atomic_path(path, suffix=".tmp", size=len(data)) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically in ``encoding`` (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode(encoding))

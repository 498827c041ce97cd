"""Atomic file output: write to a temp file in the destination folder, then os.replace.

The one mechanism of the project: every package writes its outputs through :func:`atomic_path` (or
:func:`atomic_write_bytes` / :func:`atomic_write_text`). Results get the usual permissions of a new
file (0666 less the umask), not mkstemp's owner-only 0600; :func:`set_new_modes` does the same
for a folder written whole and renamed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


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
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it replaces ``path`` atomically.

    The temp file is hidden (``.STEM.XXXX``) and ends in ``suffix``; the default ``.tmp`` + the
    target's suffix lets writers that choose the format by extension (OpenCV, matplotlib) work.
    On error the temp file is removed and ``path`` is left untouched. The result gets
    permissions 0666 less the umask.
    """
    target = Path(path)
    if suffix is None:
        suffix = f".tmp{target.suffix}"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _new_mode())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); return the path.

    The temp file ends in ``.tmp``, so a crash leftover never matches a ``*.json`` / ``*.png`` glob.
    """
    with atomic_path(path, suffix=".tmp") as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically in ``encoding`` (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode(encoding))

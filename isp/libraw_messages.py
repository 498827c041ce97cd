"""LibRaw prints its warnings ("data corrupted at 1378") straight to C stderr; catch them.

The CLI promises one error line, so LibRaw's own lines are captured around each LibRaw call and
either folded into the error message or, when the call succeeds, passed on to ``sys.stderr``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

_LOCK = threading.Lock()


class Captured:
    """The text LibRaw wrote to stderr inside :func:`capture_libraw_stderr` (``text``, stripped)."""

    text: str = ""


@contextlib.contextmanager
def capture_libraw_stderr() -> Iterator[Captured]:
    """Redirect file descriptor 2 to a temp file for the duration of the block.

    On normal exit the captured text is forwarded to ``sys.stderr``; on an exception it is only
    kept in the yielded object, for the caller's error message. Serialised by a lock.
    """
    captured = Captured()
    with _LOCK, tempfile.TemporaryFile(mode="w+b") as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        failed = False
        try:
            yield captured
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read().decode(errors="replace").strip()
            if captured.text and not failed:
                print(captured.text, file=sys.stderr)

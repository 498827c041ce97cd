"""Elementwise work on large images, a block of rows at a time, on all the CPU's cores.

A 24 MP float32 RGB image is 288 MB: an elementwise formula written over whole arrays makes several
temporaries of that size, each one written to and read back from memory, on one core. Done a block
of rows at a time, the temporaries stay in the CPU's cache; and since numpy's arithmetic releases the
GIL, the blocks run in parallel on a thread pool. The values are the same either way (each output
element depends on the same input elements).

``map_rows(fn, out, *inputs)`` is the one way to do this in the project: ``isp.color``'s sRGB curves,
``burstcap.fuse``'s conversions to and from the network domain and ``deblurnet``'s noise maps and
colour match use it. A call made from inside a block (a block's ``fn`` calling ``srgb_encode``) runs
its own blocks one after the other, so the pool never waits on itself; a forked child starts its own
pool. ``BURSTCAP_THREADS`` sets the number of threads (training's synthesis workers use 1).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

ROWS = 64
"""Rows per block: for a 6000 px wide RGB float32 image, 4.6 MB per input."""

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_inside = threading.local()


def _forget_pool_in_child() -> None:
    """A forked child (a DataLoader worker) inherits the pool object but not its threads: start afresh."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def workers() -> int:
    """Threads the blocks run on: the CPUs this process may use (``BURSTCAP_THREADS`` overrides)."""
    value = os.environ.get("BURSTCAP_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _executor() -> ThreadPoolExecutor:
    """The shared pool, made anew when :func:`workers` changed. A replaced pool is not shut down: a
    call still holding it finishes on it, and its threads end once nothing refers to it."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers != workers():
            _pool = ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="isp-rows")
        return _pool


def map_rows(fn: Callable[..., np.ndarray], out: np.ndarray, *inputs: np.ndarray,
             rows: int = ROWS) -> np.ndarray:
    """Fill ``out[y:y + rows] = fn(*(a[y:y + rows] for a in inputs))`` for every block of rows.

    ``out`` and each input: arrays of one first-axis length (any further axes); ``fn`` returns a block
    ``out``'s block can take (broadcast as in ``out[...] = ...``). It must be elementwise along the first
    axis (a row of the output depends on that row of the inputs only). Blocks run on :func:`workers`
    threads, or in order where there is one block, one worker, or the call comes from inside a block.
    Returns ``out``.
    """
    if out.ndim == 0:  # a scalar: one block
        out[...] = fn(*inputs)
        return out
    length = out.shape[0]
    if any(a.ndim == 0 or a.shape[0] != length for a in inputs):
        raise ValueError(f"map_rows: inputs of shapes {[a.shape for a in inputs]} for an output of {length} rows")

    def block(y: int) -> None:
        out[y:y + rows] = fn(*(a[y:y + rows] for a in inputs))

    starts = range(0, length, rows)
    if len(starts) <= 1 or workers() == 1 or getattr(_inside, "active", False):
        for y in starts:
            block(y)
        return out

    def in_pool(y: int) -> None:
        _inside.active = True
        try:
            block(y)
        finally:
            _inside.active = False

    pool = _executor()
    futures = [pool.submit(in_pool, y) for y in starts]
    wait(futures)  # every block ends before the first error (if any) is raised here
    for future in futures:
        future.result()
    return out

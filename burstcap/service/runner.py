"""Background work of the service: one capture at a time, processing queued behind it.

The camera and the two steps are injected, so the service runs the real camera and fusion pipeline
in production and a virtual camera with a fast processing step in tests:

- ``open_camera() -> CameraBackend``: a new, unopened backend for each camera session;
- ``capture(camera, params, job_dir, progress) -> Iterable[CapturedPair]``: shoot ``params.count``
  pairs into ``job_dir`` with the opened camera, giving each pair as soon as it is downloaded (a
  generator), so that the pairs shot before a failure are kept, recorded and fused;
- ``process(pair, ratio, out_path, progress) -> Path``: fuse one pair into ``out_path``.

``progress(fraction, stage)`` takes a fraction in [0, 1] of that step and a short human message.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from burstcap.camera.backend import CameraBackend, CameraInfo
from burstcap.errors import USER_ERRORS, BurstcapError
from burstcap.report import read_report
from burstcap.service.store import Job, JobState, JobStore, PairFiles
from burstcap.service.thumbs import make_thumbnail
from isp.atomic import LOW_SPACE_BYTES, disk_full_error, require_space
from isp.errors import DiskFullError

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class ShootParams:
    """What the user asked for: long/short exposure ratio (> 1), how many pairs, and optionally the
    long frame's exposure (seconds) and ISO (None: keep the camera's current values)."""

    ratio: float
    count: int = 1
    long_exposure_s: float | None = None
    iso_long: int | None = None


@dataclass(frozen=True)
class CapturedPair:
    """A downloaded short/long pair (paths inside the job folder)."""

    short: Path
    long: Path


CaptureFn = Callable[[CameraBackend, ShootParams, Path, ProgressFn], Iterable[CapturedPair]]
ProcessFn = Callable[[CapturedPair, float, Path, ProgressFn], Path]


class NothingToRetryError(BurstcapError):
    """A retry was asked for a job that is not failed, or has no captured pair left to process."""


class CaptureBusyError(BurstcapError):
    """A capture is already running; the camera takes one at a time."""

    def __init__(self, job_id: str | None) -> None:
        super().__init__(f"the camera is busy with job {job_id}; wait until its capture has finished"
                         if job_id else "the camera is busy; try again in a moment")
        self.job_id = job_id


@dataclass(frozen=True)
class CameraStatus:
    """The last camera reading. ``busy`` is True when it comes from the cache during a capture."""

    info: CameraInfo | None
    settings: dict[str, str] = field(default_factory=dict)
    busy: bool = False
    error: str | None = None
    checked: float | None = None  # Unix time of the reading


#: Folder of a job's previews (hidden: `burstcap process` skips hidden files and folders).
THUMBS_DIR = ".thumbs"
#: Share of a job's progress bar given to capture; processing gets the rest.
CAPTURE_SHARE = 0.5
#: Seconds ``close`` waits for the running capture and processing before the store is closed.
SHUTDOWN_WAIT_S = 30.0


class JobRunner:
    """Runs jobs in two single-worker pools (capture, processing) and records them in the store."""

    def __init__(self, store: JobStore, out_dir: Path, open_camera: Callable[[], CameraBackend],
                 capture: CaptureFn, process: ProcessFn, thumbnail_px: int = 320,
                 min_free_bytes: int = 0) -> None:
        self.store = store
        self.out_dir = Path(out_dir).resolve()
        self._open_camera = open_camera
        self._capture = capture
        self._process = process
        self._thumbnail_px = thumbnail_px
        self._min_free_bytes = min_free_bytes
        self._space_needed = 0  # raised by a job that ran out of space, until that much is free
        self._camera_lock = threading.Lock()  # held for the whole capture (and camera reads)
        self._retry_lock = threading.Lock()
        self._capturing: str | None = None
        self._camera_cache = CameraStatus(info=None)
        self._capture_pool = ThreadPoolExecutor(1, thread_name_prefix="burstcap-capture")
        self._process_pool = ThreadPoolExecutor(1, thread_name_prefix="burstcap-process")
        self._version = 0
        self._version_lock = threading.Lock()
        self._closing = False
        self._futures: dict[Future[None], ThreadPoolExecutor] = {}  # submitted, not yet ended
        self._futures_lock = threading.Lock()

    @property
    def version(self) -> int:
        """Bumped at every job change: the event stream compares it to know when to send."""
        return self._version

    def submit(self, params: ShootParams) -> Job:
        """Start a capture now; raise :class:`CaptureBusyError` when one is running and
        :class:`isp.DiskFullError` when the output folder has less than ``min_free_bytes`` free (or
        less than the last job that ran out of space needed)."""
        if self._closing:
            raise BurstcapError("the server is stopping; no new capture")
        require_space(self.out_dir, max(self._min_free_bytes, self._space_needed), "a new shot")
        self._space_needed = 0
        if not self._camera_lock.acquire(blocking=False):
            raise CaptureBusyError(self._capturing)
        try:
            job = Job(id=uuid.uuid4().hex, ratio=params.ratio, count=params.count)
            self._capturing = job.id
            self._save(job)
            self._submit(self._capture_pool, self._run_capture, job, params)
        except BaseException:
            self._capturing = None
            self._camera_lock.release()
            raise
        return job

    def retry(self, job_id: str) -> Job:
        """Queue the processing of the captured pairs of a *failed* job that have no result yet
        (after a crash, a full disk, a processing error); raise :class:`NothingToRetryError`
        otherwise (or for an unknown id). The job ends done, or failed again if it has fewer pairs
        than it asked for."""
        if self._closing:
            raise BurstcapError("the server is stopping; no retry")
        with self._retry_lock:  # read and queued under the lock: two retries queue it once
            job = self.store.get(job_id)
            if job is None:
                raise NothingToRetryError(f"no job {job_id}")
            if job.state is not JobState.FAILED or all(p.result for p in job.pairs):
                raise NothingToRetryError(
                    f"job {job.id} is {job.state.value} with "
                    f"{sum(p.result is None for p in job.pairs)} unprocessed pair(s): nothing to retry")
            job.state, job.error, job.finished = JobState.QUEUED, None, None
            job.progress, job.stage = CAPTURE_SHARE, "waiting for processing (retry)"
            self._save(job)
        self._submit(self._process_pool, self._run_process, job, time.monotonic())
        return job

    def camera_status(self) -> CameraStatus:
        """Read the camera (model, battery, settings), or the last reading while it is busy."""
        if not self._camera_lock.acquire(blocking=False):
            cached = self._camera_cache
            return CameraStatus(cached.info, cached.settings, True, cached.error, cached.checked)
        try:
            camera = self._open_camera()
            try:
                info = camera.open()
                settings = {name: w.value for name, w in camera.widgets().items()}
                status = CameraStatus(info=info, settings=settings, checked=time.time())
            finally:
                camera.close()
        except BurstcapError as exc:
            status = CameraStatus(info=None, error=str(exc), checked=time.time())
        finally:
            self._camera_lock.release()
        self._camera_cache = status
        return status

    def close(self, timeout_s: float = SHUTDOWN_WAIT_S) -> None:
        """Stop taking work: cancel queued jobs and wait up to ``timeout_s`` seconds (in all) for the
        running capture and processing to record their result. Close the store only after this;
        jobs still unfinished are marked failed at the next start."""
        self._closing = True
        self._capture_pool.shutdown(wait=False, cancel_futures=True)
        self._process_pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout_s
        for pool in (self._capture_pool, self._process_pool):  # a capture may still queue processing
            with self._futures_lock:
                running = [f for f, p in self._futures.items() if p is pool]
            _, pending = wait(running, timeout=max(0.0, deadline - time.monotonic()))
            if pending:
                log.warning("stopping with %d job(s) still running; they will be marked failed at "
                            "the next start", len(pending))
                return

    # -- the two steps, each on its own worker thread ---------------------------------------------

    def _run_capture(self, job: Job, params: ShootParams) -> None:
        start = time.monotonic()
        job_dir = self.out_dir / "jobs" / job.id
        try:  # the camera lock (taken by submit) is held only while the camera is in use
            job_dir.mkdir(parents=True, exist_ok=True)
            camera = self._open_camera()
            try:
                camera.open()
                self._progress(job, 0.0, "capturing")
                for pair in self._capture(camera, params, job_dir,
                                          lambda f, s: self._progress(job, f * CAPTURE_SHARE, s)):
                    job.pairs.append(PairFiles(short=self._relative(pair.short),
                                               long=self._relative(pair.long)))
                    self._save(job)  # recorded at once: a crash later keeps it
            finally:
                camera.close()
            if len(job.pairs) == 0:
                raise BurstcapError("the capture produced no pair")
        except Exception as exc:  # noqa: BLE001 - any failure becomes the job's error
            if not job.pairs:
                self._fail(job, exc, "capture")
                return
            # the pairs shot before the failure are kept and fused; the job ends failed
            job.error = (f"capture failed after {len(job.pairs)} of {job.count} pair(s): "
                         f"{self._message(job, exc, 'capture')}; the {len(job.pairs)} captured "
                         "pair(s) are processed")
        finally:
            self._capturing = None
            self._camera_lock.release()
        try:
            for i, pair in enumerate(job.pairs):
                self._thumbnail(job, i, "short", pair.short)
                self._thumbnail(job, i, "long", pair.long)
            job.timings["capture_s"] = round(time.monotonic() - start, 4)
            job.state = JobState.QUEUED
            job.progress = CAPTURE_SHARE
            job.stage = "waiting for processing"
            self._save(job)
            if self._closing:
                self._fail(job, BurstcapError("the server stopped before processing the captured "
                                              "pair(s)"), "processing")
                return
            self._submit(self._process_pool, self._run_process, job, time.monotonic())
        except Exception as exc:  # noqa: BLE001 - never leave the job 'capturing' or 'queued'
            self._fail(job, exc, "capture")

    def _run_process(self, job: Job, queued_at: float) -> None:
        start = time.monotonic()
        job.timings["queue_s"] = round(start - queued_at, 4)
        job.state = JobState.PROCESSING
        self._save(job)
        try:
            for i, pair in enumerate(job.pairs):
                if pair.result is not None:  # fused before (a retry)
                    continue

                def progress(f: float, stage: str, i: int = i) -> None:
                    share = (i + min(max(f, 0.0), 1.0)) / len(job.pairs)
                    self._progress(job, CAPTURE_SHARE + share * (1 - CAPTURE_SHARE), stage)

                progress(0.0, f"processing pair {i + 1} of {len(job.pairs)}")
                out_path = self.out_dir / "jobs" / job.id / f"fused_{i:02d}.jpg"
                written = self._process(CapturedPair(self.out_dir / pair.short,
                                                     self.out_dir / pair.long),
                                        job.ratio, out_path, progress)
                pair.result = self._relative(written)
                pair.report = read_report(written)
                self._thumbnail(job, i, "result", pair.result)
        except Exception as exc:  # noqa: BLE001 - any failure becomes the job's error
            self._fail(job, exc, "processing")
            return
        job.timings["process_s"] = round(time.monotonic() - start, 4)
        job.timings["total_s"] = round(time.time() - job.created, 4)
        if job.error is None and len(job.pairs) < job.count:  # a retry of a job cut short
            job.error = (f"capture failed after {len(job.pairs)} of {job.count} pair(s); the "
                         f"{len(job.pairs)} captured pair(s) are processed")
        job.state = JobState.DONE if job.error is None else JobState.FAILED  # failed: capture cut short
        job.progress = 1.0
        job.stage = "done" if job.error is None else "capture failed"
        job.finished = time.time()
        self._save(job)

    # -- helpers -----------------------------------------------------------------------------------

    def _relative(self, path: Path) -> str:
        """``path`` relative to the output folder; refuses files outside it."""
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(self.out_dir):
            raise BurstcapError(f"{path}: written outside the output folder {self.out_dir}")
        return resolved.relative_to(self.out_dir).as_posix()

    def _thumbnail(self, job: Job, index: int, kind: str, rel: str) -> None:
        """A preview of ``rel`` as ``jobs/<id>/.thumbs/<index>_<kind>.jpg``, recorded in the pair
        (hidden, so `burstcap process` on a job folder sees only the shot pairs)."""
        dest = self.out_dir / "jobs" / job.id / THUMBS_DIR / f"{index:02d}_{kind}.jpg"
        try:
            make_thumbnail(self.out_dir / rel, dest, self._thumbnail_px)
        except Exception as exc:  # noqa: BLE001 - a missing thumbnail (disk full, odd RAW) must not fail the job
            log.warning("job %s: no thumbnail for %s: %s", job.id, rel, exc)
            return
        job.pairs[index].thumbnails[kind] = self._relative(dest)

    def _progress(self, job: Job, fraction: float, stage: str) -> None:
        job.progress = round(min(max(fraction, 0.0), 1.0), 4)
        job.stage = stage
        self._save(job)

    def _message(self, job: Job, exc: Exception, step: str) -> str:
        """One line for the job's error; a disk that filled up is said so, whoever wrote, and new
        shots wait until there is room for what failed."""
        exc = disk_full_error(exc, self.out_dir) or exc
        if isinstance(exc, DiskFullError):
            self._space_needed = max(self._space_needed,
                                     exc.free + (exc.needed or LOW_SPACE_BYTES))
        if not isinstance(exc, USER_ERRORS):
            log.error("job %s: %s failed", job.id, step, exc_info=exc)
            return f"{type(exc).__name__}: {exc}"
        return str(exc)

    def _fail(self, job: Job, exc: Exception, step: str) -> None:
        message = self._message(job, exc, step)
        if job.error is not None:  # the capture already failed after some pairs
            message = f"{message} ({job.error})"
        job.state = JobState.FAILED
        job.error = f"{step} failed: {message}"
        job.stage = f"{step} failed"
        job.finished = time.time()
        self._save(job)

    def _submit(self, pool: ThreadPoolExecutor, fn: Callable[..., None], *args: object) -> None:
        """``pool.submit``, remembering the future until it ends so :meth:`close` can wait for it."""
        future = pool.submit(fn, *args)
        with self._futures_lock:
            self._futures[future] = pool
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._futures_lock:
            self._futures.pop(future, None)

    def _save(self, job: Job) -> None:
        try:
            self.store.put(job)
        except sqlite3.ProgrammingError as exc:  # the store was closed while this job still ran
            if not self._closing:
                raise
            log.warning("job %s: not recorded (%s, stage %r): the store is closed: %s",
                        job.id, job.state.value, job.stage, exc)
            return
        with self._version_lock:
            self._version += 1

"""Job records, persisted in SQLite beside the images so history survives a restart.

A job is one press of the shutter: ``count`` short/long pairs captured, then each pair fused. File
paths in a record are relative to the service's output folder; the file endpoints resolve them and
refuse anything that leaves that folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from burstcap.errors import BurstcapError

log = logging.getLogger(__name__)

#: Name of the database file inside the output folder.
DB_NAME = "jobs.sqlite"


class JobState(str, Enum):
    """Where a job is. ``done`` and ``failed`` are final."""

    CAPTURING = "capturing"
    QUEUED = "queued"  # captured, waiting for the processing worker
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED)


@dataclass
class PairFiles:
    """The files of one captured pair, relative to the output folder (None until written)."""

    short: str
    long: str
    result: str | None = None
    thumbnails: dict[str, str] = field(default_factory=dict)  # "short" | "long" | "result" -> path
    report: dict[str, Any] | None = None  # the shot's report (burstcap.report), once fused


@dataclass
class Job:
    """One shoot request and everything that happened to it. Times are Unix seconds."""

    id: str
    ratio: float
    count: int
    state: JobState = JobState.CAPTURING
    progress: float = 0.0  # [0, 1] over capture and processing together
    stage: str = "waiting for the camera"
    created: float = field(default_factory=time.time)
    finished: float | None = None
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    error: str | None = None
    pairs: list[PairFiles] = field(default_factory=list)

    def to_json(self) -> str:
        data = asdict(self)
        data["state"] = self.state.value
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> "Job":
        data = json.loads(text)
        data["state"] = JobState(data["state"])
        data["pairs"] = [PairFiles(**p) for p in data["pairs"]]
        return cls(**data)


class JobStore:
    """Thread-safe job table in ``<out_dir>/jobs.sqlite``; every write is committed at once.

    One store per output folder at a time: it holds an exclusive lock on ``jobs.sqlite.lock`` until
    :meth:`close` (or the process ends), so a second server cannot mark the first one's running jobs
    as failed. A record SQLite cannot write (disk full) is kept in memory, served from there and
    written at the next successful write, so a job never looks stuck because its last state was
    not saved.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / DB_NAME
        lock_path = self.path.with_name(DB_NAME + ".lock")
        self._lock_file = open(lock_path, "a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise BurstcapError(f"{out_dir}: in use by another burstcap service (lock {lock_path}); "
                                "stop it or choose another output folder") from None
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, created REAL NOT NULL, "
                "record TEXT NOT NULL)")
        except sqlite3.Error as exc:
            self._lock_file.close()
            raise BurstcapError(f"{self.path}: cannot open the job database: {exc}") from exc
        self._lock = threading.Lock()
        self._unsaved: dict[str, Job] = {}  # id -> newest record SQLite could not write yet

    def put(self, job: Job) -> bool:
        """Insert or replace ``job``; False when SQLite could not write it (then it is kept in
        memory and written with the next successful write)."""
        with self._lock:
            self._unsaved[job.id] = Job.from_json(job.to_json())
            try:
                with self._db:  # one transaction for this record and any kept back
                    self._db.executemany(
                        "INSERT OR REPLACE INTO jobs (id, created, record) VALUES (?, ?, ?)",
                        [(j.id, j.created, j.to_json()) for j in self._unsaved.values()])
            except sqlite3.OperationalError as exc:  # disk full, I/O error
                log.warning("%s: job %s kept in memory only: %s", self.path, job.id, exc)
                return False
            self._unsaved.clear()
            return True

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            if job_id in self._unsaved:
                return Job.from_json(self._unsaved[job_id].to_json())
            row = self._db.execute("SELECT record FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_json(row[0]) if row else None

    def recent(self, limit: int = 50) -> list[Job]:
        """The newest ``limit`` jobs, newest first."""
        with self._lock:
            rows = self._db.execute("SELECT record FROM jobs ORDER BY created DESC LIMIT ?",
                                    (limit,)).fetchall()
            unsaved = {j.id: Job.from_json(j.to_json()) for j in self._unsaved.values()}
        jobs = {job.id: job for job in (Job.from_json(r[0]) for r in rows)} | unsaved
        return sorted(jobs.values(), key=lambda j: j.created, reverse=True)[:limit]

    def fail_unfinished(self, reason: str) -> list[str]:
        """Mark every job that is not final as failed (after a crash); return their ids."""
        failed = []
        for job in self.recent(limit=1_000_000):
            if not job.state.final:
                job.error = f"{reason} (it was {job.state.value})"
                job.state = JobState.FAILED
                job.finished = time.time()
                self.put(job)
                failed.append(job.id)
        return failed

    def close(self) -> None:
        """Close the database and release the folder (idempotent); records kept in memory get one
        last try."""
        if self._unsaved:
            with contextlib.suppress(sqlite3.Error):
                self.put(next(iter(self._unsaved.values())))
        with self._lock:
            self._db.close()
            self._lock_file.close()

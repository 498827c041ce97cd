"""The FastAPI application: JSON API under ``/api``, event stream, phone page at ``/``.

Build it with :func:`create_app`, giving the camera and the two processing steps (see
:mod:`burstcap.service.runner`). OpenAPI docs are at ``/docs``, served offline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from anyio import to_thread
from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from burstcap import __version__
from burstcap.camera.backend import CameraBackend
from burstcap.errors import BurstcapError
from burstcap.service.auth import REDACT_TOKEN, TokenCheck, load_or_create_token
from burstcap.service.config import ServiceConfig
from burstcap.service.docs import add_offline_docs
from burstcap.service.models import (CameraView, ErrorView, JobList, JobView, ShootBody,
                                     ValidationErrorView)
from burstcap.service.runner import (CaptureBusyError, CaptureFn, JobRunner, NothingToRetryError,
                                     ProcessFn, ShootParams)
from burstcap.service.store import Job, JobStore, PairFiles
from isp.atomic import remove_leftovers
from isp.errors import DiskFullError

log = logging.getLogger(__name__)

#: The static phone page (index.html, app.js, style.css).
WEB_DIR = Path(__file__).resolve().parents[1] / "web"

JOB_ID = PathParam(pattern=r"^[0-9a-f]{32}$", description="job id (32 hex digits)")
PAIR = Query(0, ge=0, le=1000, description="which pair of the job (0 = first)")
#: Seconds between keep-alive comments on an idle event stream.
KEEPALIVE_S = 15.0


class BodyLimit:
    """ASGI middleware: answer 413 to request bodies larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # chunked bodies that say no length
                raise HTTPException(413, self._detail())
            return message

        await self.app(scope, limited, send)

    def _detail(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse({"detail": self._detail()}, 413)
        await response(scope, receive, send)


def create_app(config: ServiceConfig, open_camera: Callable[[], CameraBackend],
               capture: CaptureFn, process: ProcessFn) -> FastAPI:
    """The service for ``config``; jobs left unfinished by a previous run are marked failed."""
    out_dir = config.out_dir.resolve()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BurstcapError(f"{out_dir}: cannot create the output folder: "
                            f"{exc.strerror or exc}") from exc
    token = load_or_create_token(config.token_path)
    try:
        store = JobStore(out_dir)
    except OSError as exc:  # the folder exists but is not writable (lock file)
        raise BurstcapError(f"{out_dir}: cannot write in the output folder: "
                            f"{exc.strerror or exc}") from exc
    store.fail_unfinished("the server stopped while the job was running")
    for leftover in remove_leftovers(out_dir):  # temp files of a killed run (the lock is ours)
        log.info("removed %s, left by an interrupted run", leftover)
    runner = JobRunner(store, out_dir, open_camera, capture, process, config.thumbnail_px,
                       config.min_free_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await to_thread.run_sync(runner.close)  # waits (bounded) for the running capture/processing
        store.close()

    app = FastAPI(title="burstcap", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Shoot short/long exposure pairs on a tethered camera and fuse them. "
                              "Every /api call needs 'Authorization: Bearer <token>'; the event "
                              "stream and thumbnails also accept '?token=<token>'.")
    REDACT_TOKEN.secrets.add(token)
    logging.getLogger("uvicorn.access").addFilter(REDACT_TOKEN)  # the token never reaches the log
    add_offline_docs(app)  # /docs without a CDN
    app.state.runner = runner
    app.state.store = store
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    api = [Depends(TokenCheck(token))]
    api_or_query = [Depends(TokenCheck(token, allow_query=True))]
    errors = {401: {"model": ErrorView}, 404: {"model": ErrorView},
              422: {"model": ValidationErrorView}}

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in exc.errors()]
        body = ValidationErrorView(detail="invalid request: " + "; ".join(problems),
                                   errors=[{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]}
                                           for e in exc.errors()])
        return JSONResponse(body.model_dump(), 422)

    listings: dict[int, tuple[int, bytes]] = {}  # limit -> (runner version, JSON body)

    def listing_json(limit: int) -> bytes:
        """The body of ``GET /api/jobs?limit=``, rebuilt only after a job changed (pollers and the
        event stream hit this all the time)."""
        version = runner.version  # read first: a change during the rebuild only causes another
        cached = listings.get(limit)
        if cached is not None and cached[0] == version:
            return cached[1]
        body = JobList(jobs=[JobView.of(j) for j in store.recent(limit)]).model_dump_json().encode()
        listings[limit] = (version, body)
        return body

    def find_job(job_id: str) -> Job:
        job = store.get(job_id)
        if job is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
        return job

    def job_file(job: Job, rel: str | None, what: str) -> FileResponse:
        """A file of ``job``, only if it is a regular file inside the output folder (no symlinks)."""
        if rel is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job.id} has no {what} yet")
        path = out_dir / rel
        resolved = path.resolve()
        if path.is_symlink() or not resolved.is_relative_to(out_dir) or not resolved.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"the {what} of job {job.id} is missing")
        return FileResponse(resolved)

    def pair_of(job: Job, pair: int) -> PairFiles:
        if pair >= len(job.pairs):
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"job {job.id} has {len(job.pairs)} captured pair(s); no pair {pair}")
        return job.pairs[pair]

    @app.post("/api/shoot", status_code=status.HTTP_202_ACCEPTED, response_model=JobView,
              dependencies=api, responses={**errors, 409: {"model": ErrorView},
                                           507: {"model": ErrorView}}, tags=["jobs"])
    def shoot(body: ShootBody) -> JobView:
        """Start a capture of ``count`` pairs; processing follows in the background.
        409 while another capture runs; 507 when the output folder is (nearly) full."""
        try:
            job = runner.submit(ShootParams(**body.model_dump()))
        except CaptureBusyError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        except DiskFullError as exc:
            raise HTTPException(status.HTTP_507_INSUFFICIENT_STORAGE, str(exc)) from None
        return JobView.of(job)

    @app.post("/api/jobs/{job_id}/retry", status_code=status.HTTP_202_ACCEPTED, response_model=JobView,
              dependencies=api, responses={**errors, 409: {"model": ErrorView}}, tags=["jobs"])
    def retry(job_id: str = JOB_ID) -> JobView:
        """Process again the captured pairs of a failed job that have no result yet (after a
        crash, a full disk, a processing error). 409 when the job is not failed or has none."""
        find_job(job_id)  # 404 when unknown
        try:
            return JobView.of(runner.retry(job_id))
        except NothingToRetryError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None

    @app.get("/api/jobs", response_model=JobList, dependencies=api, responses=errors, tags=["jobs"])
    def list_jobs(limit: int = Query(config.history, ge=1, le=1000)) -> Response:
        """The newest jobs, newest first."""
        return Response(listing_json(limit), media_type="application/json")

    @app.get("/api/jobs/{job_id}", response_model=JobView, dependencies=api, responses=errors,
             tags=["jobs"])
    def get_job(job_id: str = JOB_ID) -> JobView:
        """State, progress, timings and error of one job."""
        return JobView.of(find_job(job_id))

    @app.get("/api/jobs/{job_id}/result", dependencies=api, responses=errors,
             response_class=FileResponse, tags=["files"])
    def get_result(job_id: str = JOB_ID, pair: int = PAIR) -> FileResponse:
        """The full-size fused image of one pair (bearer header only: a link opened in a new tab
        would put a ``?token=`` into the browser history; the page fetches it with the header)."""
        job = find_job(job_id)
        return job_file(job, pair_of(job, pair).result, f"result of pair {pair}")

    @app.get("/api/jobs/{job_id}/thumbnail/{kind}", dependencies=api_or_query, responses=errors,
             response_class=FileResponse, tags=["files"])
    def get_thumbnail(kind: Literal["short", "long", "result"], job_id: str = JOB_ID,
                      pair: int = PAIR) -> FileResponse:
        """A JPEG preview of the short or long input, or of the result."""
        job = find_job(job_id)
        return job_file(job, pair_of(job, pair).thumbnails.get(kind), f"{kind} thumbnail")

    @app.get("/api/camera", response_model=CameraView, dependencies=api, responses=errors,
             tags=["camera"])
    def get_camera() -> CameraView:
        """Model, battery and current settings (the last reading while a capture runs)."""
        return CameraView.of(runner.camera_status())

    @app.get("/api/events", dependencies=api_or_query, responses=errors, tags=["jobs"],
             response_class=StreamingResponse)
    async def events(request: Request) -> StreamingResponse:
        """Server-sent events: an ``event: jobs`` with the same body as ``GET /api/jobs`` at each
        change, a comment line every 15 s otherwise."""

        async def stream() -> AsyncIterator[str]:
            seen, last_sent = -1, time.monotonic()
            while not await request.is_disconnected():
                if runner.version != seen:
                    seen = runner.version
                    body = await to_thread.run_sync(listing_json, config.history)
                    yield f"event: jobs\ndata: {body.decode()}\n\n"
                    last_sent = time.monotonic()
                elif time.monotonic() - last_sent > KEEPALIVE_S:
                    yield ": keep-alive\n\n"
                    last_sent = time.monotonic()
                await asyncio.sleep(config.event_interval_s)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app

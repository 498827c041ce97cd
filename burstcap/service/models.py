"""Request and response bodies of the HTTP API (pydantic: bad input gets a clear 422)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from burstcap.service.runner import CameraStatus
from burstcap.service.store import Job, JobState

#: Most pairs one shoot request may ask for.
MAX_COUNT = 10


class ShootBody(BaseModel):
    """JSON body of ``POST /api/shoot`` (the camera-side request is :class:`burstcap.shoot.ShootRequest`)."""

    model_config = ConfigDict(extra="forbid")

    ratio: float = Field(8.0, gt=1.0, le=1024.0, allow_inf_nan=False,
                         description="exposure ratio: 8, \"8\" and \"1/8\" (or 0.125) mean the same, the "
                                     "short frame 8 times shorter than the long one, at that much higher "
                                     "ISO (one convention in every interface)")

    @field_validator("ratio", mode="before")
    @classmethod
    def _one_convention(cls, value: Any) -> Any:
        """A string like "1/8" or "8", or a number below 1, becomes the long/short ratio (8)."""
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            from burstcap.errors import BurstcapError
            from burstcap.fuse import parse_ratio

            try:
                return parse_ratio(value)
            except BurstcapError:  # the message would echo the value: it may be a secret pasted wrongly
                raise ValueError("not a ratio like 8 or 1/8") from None
        if isinstance(value, (int, float)) and 0 < value < 1:
            return 1.0 / value
        return value
    count: int = Field(1, ge=1, le=MAX_COUNT, description="how many short/long pairs to take")
    long_exposure_s: float | None = Field(None, gt=0.0, le=3600.0, allow_inf_nan=False,
                                          description="long exposure in seconds (default: the "
                                                      "camera's current shutter speed)")
    iso_long: int | None = Field(None, ge=25, le=409600,
                                 description="ISO of the long frame (default: the camera's current ISO)")


class PairView(BaseModel):
    """One captured pair; URLs accept the token as ``?token=`` (for ``<img src>``)."""

    index: int
    result_url: str | None = Field(description="full-size fused image, once processed")
    thumbnail_urls: dict[str, str] = Field(description="'short' | 'long' | 'result' -> JPEG preview")
    report: dict[str, Any] | None = Field(None, description="the shot's report once fused (ratio, "
                                          "alignment, ghost guard, model, device, timings, warnings; "
                                          "README 'The report per shot')")


class JobView(BaseModel):
    """A job as the API shows it. Times are Unix seconds; ``progress`` is in [0, 1]."""

    id: str
    state: JobState
    progress: float
    stage: str
    ratio: float
    count: int
    created: float
    finished: float | None
    timings: dict[str, float] = Field(description="capture_s, queue_s, process_s, total_s")
    error: str | None
    pairs: list[PairView]

    @classmethod
    def of(cls, job: Job) -> "JobView":
        base = f"/api/jobs/{job.id}"
        pairs = [PairView(index=i,
                          result_url=f"{base}/result?pair={i}" if p.result else None,
                          thumbnail_urls={k: f"{base}/thumbnail/{k}?pair={i}" for k in p.thumbnails},
                          report=p.report)
                 for i, p in enumerate(job.pairs)]
        return cls(id=job.id, state=job.state, progress=job.progress, stage=job.stage,
                   ratio=job.ratio, count=job.count, created=job.created, finished=job.finished,
                   timings=job.timings, error=job.error, pairs=pairs)


class JobList(BaseModel):
    """Newest first."""

    jobs: list[JobView]


class CameraView(BaseModel):
    """The camera as last read. ``busy``: a capture is running and this is the previous reading."""

    connected: bool
    model: str | None
    port: str | None
    backend: str | None
    battery: str | None
    settings: dict[str, str] = Field(description="every camera setting, by name, as the camera reports it")
    busy: bool
    error: str | None
    checked: float | None

    @classmethod
    def of(cls, status: CameraStatus) -> "CameraView":
        info = status.info
        return cls(connected=info is not None, model=info and info.model, port=info and info.port,
                   backend=info and info.backend, battery=info and info.battery,
                   settings=status.settings, busy=status.busy, error=status.error,
                   checked=status.checked)


class ErrorView(BaseModel):
    """Every error response: one sentence saying what is wrong."""

    detail: str


class ValidationErrorView(BaseModel):
    """A 422: ``detail`` says every problem in one line; ``errors`` lists them (location, message)."""

    detail: str
    errors: list[dict[str, str | list[str]]]

"""Shoot one short/long exposure pair through a :class:`CameraBackend` into a session folder.

The short exposure is ``long x ratio`` and its ISO ``long ISO / ratio``, both picked from the camera's
own choice lists (nearest value in stops). Every value set is read back; the effective ratio is what
the camera actually took. Busy errors are retried with back-off. Both captures come first (so the gap
between them is as short as the camera allows), downloads after. A session folder exists only when it
is complete: it is built under a hidden temporary name and renamed at the end.

Session folder ``<out_root>/<YYYYmmdd-HHMMSS>[-k]/``: ``short_<NAME>``, ``long_<NAME>`` (every file of
each capture, e.g. RAW and JPEG) and ``session.json`` (see :data:`SIDECAR_NAME`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from isp.atomic import disk_full_error, set_new_modes
from isp.formats import is_raw

from burstcap.camera.backend import (CameraBackend, CameraBusyError, CameraFile, CameraInfo,
                                     UnsupportedOperationError, Widget)
from burstcap.camera.settings import is_raw_format, nearest_choice, parse_iso, parse_shutter
from burstcap.errors import BurstcapError, CameraError

log = logging.getLogger(__name__)

#: Name of the sidecar JSON in every session folder.
SIDECAR_NAME = "session.json"
SIDECAR_VERSION = 1

SHUTTER_WIDGETS = ("shutterspeed", "shutterspeed2", "exposuretime")
ISO_WIDGETS = ("iso", "isospeed")
TARGET_WIDGETS = ("capturetarget",)
FORMAT_WIDGETS = ("imageformat", "imagequality")


@dataclass(frozen=True)
class ShootEvent:
    """One step of a shoot (and of :class:`burstcap.pipeline.Pipeline`'s shoot and fuse): ``stage``
    ('plan', 'capture-short', ...), ``fraction`` done in [0, 1], a message for people."""

    stage: str
    fraction: float
    message: str = ""


ShootEventFn = Callable[[ShootEvent], None]
"""The ``progress`` callback of :func:`shoot_pair` and the Pipeline: gets every :class:`ShootEvent`."""


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off for busy cameras: ``attempts`` tries, delays growing by ``factor`` up to a cap."""

    attempts: int = 8
    first_delay_s: float = 0.05
    factor: float = 2.0
    max_delay_s: float = 1.0


@dataclass(frozen=True)
class ShootRequest:
    """What to shoot.

    ratio: short / long exposure time, in (0, 1) (``1/8`` shoots the short frame 3 stops faster).
    long_exposure_s: long exposure in seconds; None keeps the camera's current shutter speed.
    iso_long: ISO of the long frame; None keeps the camera's current ISO (cameras without ISO: ignored).
    tolerance_stops: refuse when the reachable ratio is further than this from ``ratio`` (in stops).
    """

    ratio: float = 1 / 8
    long_exposure_s: float | None = None
    iso_long: int | None = None
    tolerance_stops: float = 0.5
    capture_timeout_s: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if not 0 < self.ratio < 1:
            raise BurstcapError(f"ratio must be between 0 and 1 (short / long), got {self.ratio}")
        if self.long_exposure_s is not None and self.long_exposure_s <= 0:
            raise BurstcapError(f"long exposure must be positive, got {self.long_exposure_s} s")
        if self.iso_long is not None and self.iso_long <= 0:
            raise BurstcapError(f"ISO must be positive, got {self.iso_long}")


@dataclass(frozen=True)
class ExposurePlan:
    """Camera strings to set for each frame (ISO strings None when the camera has no ISO widget)."""

    shutter_widget: str
    short_shutter: str
    long_shutter: str
    iso_widget: str | None
    short_iso: str | None
    long_iso: str | None
    ratio: float  # short / long exposure time of the chosen strings


@dataclass(frozen=True)
class CaptureRecord:
    """One capture: settings read back, timing (UTC ISO-8601 and seconds), files on the camera."""

    shutter: str
    exposure_s: float
    iso: str | None
    started: str
    duration_s: float
    files: tuple[CameraFile, ...]
    t_start: float  # time.perf_counter() when the capture call began
    t_end: float  # time.perf_counter() when it returned


@dataclass(frozen=True)
class ShotSession:
    """A complete session folder: main files (RAW when shot), every file, the sidecar."""

    folder: Path
    short: Path
    long: Path
    files: tuple[Path, ...]
    sidecar: Path
    camera: CameraInfo
    effective_ratio: float  # short / long exposure time as read back
    requested_ratio: float
    gap_s: float  # from the end of the short capture to the start of the long one


def _first_widget(widgets: dict[str, Widget], names: tuple[str, ...]) -> Widget | None:
    return next((widgets[n] for n in names if n in widgets and not widgets[n].readonly), None)


def plan_exposures(widgets: dict[str, Widget], request: ShootRequest, model: str = "camera") -> ExposurePlan:
    """Pick shutter (and ISO) strings for both frames from the camera's choices; refuse clearly."""
    shutter = _first_widget(widgets, SHUTTER_WIDGETS)
    if shutter is None:
        raise UnsupportedOperationError(
            f"{model} has no writable shutter-speed setting (looked for {', '.join(SHUTTER_WIDGETS)}); "
            "set the camera to manual (M) exposure")
    long_target = request.long_exposure_s or parse_shutter(shutter.value)
    if long_target is None:
        raise BurstcapError(f"{model}: current shutter speed {shutter.value!r} is not a time; pass --long")
    long_str, long_s = nearest_choice(shutter.choices or (shutter.value,), long_target, parse_shutter)
    short_str, short_s = nearest_choice(shutter.choices or (shutter.value,), long_s * request.ratio,
                                        parse_shutter)
    ratio = short_s / long_s
    off = abs(math.log2(ratio / request.ratio))
    if short_s >= long_s or off > request.tolerance_stops:
        raise BurstcapError(
            f"{model} cannot reach ratio {_fraction(request.ratio)} at long {long_str}: the nearest short "
            f"shutter is {short_str} (ratio {_fraction(ratio)}, {off:.2f} stops off, tolerance "
            f"{request.tolerance_stops} stops); choose a longer --long or a smaller reduction")
    iso = _first_widget(widgets, ISO_WIDGETS)
    if iso is None:
        if request.iso_long is not None:
            log.warning("%s has no ISO setting: --iso-long %s is ignored", model, request.iso_long)
        return ExposurePlan(shutter.name, short_str, long_str, None, None, None, ratio)
    long_iso_target = request.iso_long or parse_iso(iso.value)
    if long_iso_target is None:
        raise BurstcapError(f"{model}: current ISO {iso.value!r} is automatic; pass --iso-long")
    long_iso, long_iso_v = nearest_choice(iso.choices or (iso.value,), long_iso_target, parse_iso)
    short_iso, short_iso_v = nearest_choice(iso.choices or (iso.value,), long_iso_v / ratio, parse_iso)
    if abs(math.log2(short_iso_v * ratio / long_iso_v)) > request.tolerance_stops:
        log.warning("%s: the nearest ISO choice is %s (wanted %.0f): the frames' brightness will "
                    "differ; the fusion compensates from the read-back settings", model, short_iso,
                    long_iso_v / ratio)
    return ExposurePlan(shutter.name, short_str, long_str, iso.name, short_iso, long_iso, ratio)


T = TypeVar("T")


def retry_busy(call: Callable[[], T], policy: RetryPolicy, what: str,
               sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``call``; on ``CameraBusyError`` wait and retry with exponential back-off."""
    delay = policy.first_delay_s
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except CameraBusyError as exc:
            if attempt == policy.attempts:
                raise CameraBusyError(f"camera still busy after {attempt} tries to {what}: {exc}") from exc
            log.info("camera busy (%s), retry %d in %.2f s", what, attempt, delay)
            sleep(delay)
            delay = min(delay * policy.factor, policy.max_delay_s)
    raise AssertionError("unreachable")  # pragma: no cover


def _fraction(r: float) -> str:
    return f"1/{1 / r:.3g}" if r < 1 else f"{r:.3g}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _set(backend: CameraBackend, name: str, value: str, policy: RetryPolicy) -> str:
    return retry_busy(lambda: backend.set_widget(name, value), policy, f"set {name}={value}")


def prepare_camera(backend: CameraBackend, widgets: dict[str, Widget], policy: RetryPolicy) -> dict[str, str]:
    """Capture to the memory card, RAW when the camera offers it; returns {widget: value read back}."""
    done: dict[str, str] = {}
    target = _first_widget(widgets, TARGET_WIDGETS)
    card = next((c for c in target.choices if "card" in c.lower()), None) if target else None
    if target and card:
        done[target.name] = _set(backend, target.name, card, policy)
    fmt = _first_widget(widgets, FORMAT_WIDGETS)
    if fmt and not is_raw_format(fmt.value):
        raw = [c for c in fmt.choices if is_raw_format(c)]
        if raw:  # prefer RAW alone, else RAW + JPEG
            done[fmt.name] = _set(backend, fmt.name, min(raw, key=len), policy)
    return done


def _check_ratio(model: str, request: ShootRequest, short_shutter: str, long_shutter: str) -> float:
    """short/long time of the two shutter strings; raises when it is out of tolerance."""
    short_s, long_s = parse_shutter(short_shutter), parse_shutter(long_shutter)
    if short_s is None or long_s is None:
        raise CameraError(f"{model} reports shutter speeds {short_shutter!r} / {long_shutter!r}, not times")
    effective = short_s / long_s
    off = abs(math.log2(effective / request.ratio))
    if off > request.tolerance_stops:
        raise BurstcapError(
            f"{model} snapped to {short_shutter} / {long_shutter}: ratio {_fraction(effective)} is "
            f"{off:.2f} stops from the requested {_fraction(request.ratio)}")
    return effective


def _capture(backend: CameraBackend, plan: ExposurePlan, which: str, request: ShootRequest,
             check: Callable[[str], object] = lambda shutter: None) -> CaptureRecord:
    """Set the frame's shutter (and ISO), read them back, ``check`` the shutter read back, capture."""
    shutter_value = plan.short_shutter if which == "short" else plan.long_shutter
    iso_value = plan.short_iso if which == "short" else plan.long_iso
    shutter_back = _set(backend, plan.shutter_widget, shutter_value, request.retry)
    iso_back = _set(backend, plan.iso_widget, iso_value, request.retry) if plan.iso_widget and iso_value else None
    exposure = parse_shutter(shutter_back)
    if exposure is None:
        raise CameraError(f"camera read back shutter {shutter_back!r} after setting {shutter_value!r}")
    check(shutter_back)
    started, t0 = _now(), time.perf_counter()
    files = retry_busy(lambda: backend.capture(request.capture_timeout_s), request.retry,
                       f"capture the {which} frame")
    t1 = time.perf_counter()
    if not files:
        raise CameraError(f"the {which} capture produced no file")
    return CaptureRecord(shutter_back, exposure, iso_back, started.isoformat(), t1 - t0, tuple(files),
                         t0, t1)


def main_file(paths: list[Path]) -> Path:
    """The RAW file among a capture's files, else the first one."""
    return next((p for p in paths if is_raw(p)), paths[0])


def _unique_folder(out_root: Path, stamp: str) -> Path:
    folder, k = out_root / stamp, 1
    while folder.exists():
        k += 1
        folder = out_root / f"{stamp}-{k}"
    return folder


def shoot_pair(backend: CameraBackend, request: ShootRequest, out_root: Path,
               progress: ShootEventFn | None = None) -> ShotSession:
    """Shoot short then long on an *open* backend, download both into a new session folder.

    Raises ``BurstcapError`` (``CameraError`` and subclasses) with a message naming what failed; on
    any failure no session folder is left behind.
    """
    report = progress or (lambda event: None)
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    info = backend.info()
    report(ShootEvent("plan", 0.0, f"reading the configuration of {info.model}"))
    widgets = backend.widgets()
    plan = plan_exposures(widgets, request, info.model)
    prepared = prepare_camera(backend, widgets, request.retry)
    report(ShootEvent("capture-short", 0.1, f"short {plan.short_shutter}"
                      + (f" ISO {plan.short_iso}" if plan.short_iso else "")))
    short = _capture(backend, plan, "short", request,
                     check=lambda back: _check_ratio(info.model, request, back, plan.long_shutter))
    report(ShootEvent("capture-long", 0.3, f"long {plan.long_shutter}"
                      + (f" ISO {plan.long_iso}" if plan.long_iso else "")))
    long = _capture(backend, plan, "long", request,
                    check=lambda back: _check_ratio(info.model, request, short.shutter, back))
    gap = long.t_start - short.t_end
    effective = short.exposure_s / long.exposure_s
    stamp = _now().strftime("%Y%m%d-%H%M%S")
    final = _unique_folder(out_root, stamp)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=out_root))
    try:
        downloaded: dict[str, list[Path]] = {"short": [], "long": []}
        all_files = [("short", f) for f in short.files] + [("long", f) for f in long.files]
        for i, (which, cam_file) in enumerate(all_files):
            report(ShootEvent("download", 0.5 + 0.45 * i / len(all_files), f"{which}: {cam_file.name}"))
            dest = tmp / f"{which}_{cam_file.name}"
            retry_busy(lambda: backend.download(cam_file, dest), request.retry, f"download {cam_file.name}")
            downloaded[which].append(dest)
        sidecar = _sidecar(info, request, plan, prepared, short, long, gap, effective,
                           {k: [p.name for p in v] for k, v in downloaded.items()})
        (tmp / SIDECAR_NAME).write_text(json.dumps(sidecar, indent=2))
        set_new_modes(tmp)  # mkdtemp made it 0700
        final = _unique_folder(out_root, stamp)
        os.replace(tmp, final)
    except BaseException as exc:
        full = disk_full_error(exc, out_root)  # before the partial folder frees its space
        shutil.rmtree(tmp, ignore_errors=True)
        if full is not None and full is not exc:
            raise full from exc
        raise
    report(ShootEvent("done", 1.0, f"session {final}"))
    return ShotSession(
        folder=final, short=final / main_file(downloaded["short"]).name,
        long=final / main_file(downloaded["long"]).name,
        files=tuple(final / p.name for v in downloaded.values() for p in v),
        sidecar=final / SIDECAR_NAME, camera=info, effective_ratio=effective,
        requested_ratio=request.ratio, gap_s=gap)


def _sidecar(info: CameraInfo, request: ShootRequest, plan: ExposurePlan, prepared: dict[str, str],
             short: CaptureRecord, long: CaptureRecord, gap: float, effective: float,
             files: dict[str, list[str]]) -> dict:
    def frame(rec: CaptureRecord, names: list[str], shutter: str, iso: str | None) -> dict:
        return {"requested": {"shutter": shutter, "iso": iso},
                "read_back": {"shutter": rec.shutter, "exposure_s": rec.exposure_s, "iso": rec.iso},
                "started": rec.started, "capture_s": rec.duration_s,
                "camera_files": [f"{f.folder}/{f.name}" for f in rec.files],
                "files": names, "main": main_file([Path(n) for n in names]).name}
    return {
        "burstcap_session": SIDECAR_VERSION,
        "camera": {"model": info.model, "port": info.port, "backend": info.backend,
                   "battery": info.battery},
        "request": {"ratio": request.ratio, "long_exposure_s": request.long_exposure_s,
                    "iso_long": request.iso_long, "tolerance_stops": request.tolerance_stops},
        "prepared": prepared,
        "short": frame(short, files["short"], plan.short_shutter, plan.short_iso),
        "long": frame(long, files["long"], plan.long_shutter, plan.long_iso),
        "gap_s": gap,
        "effective_ratio": effective,
        "exposure_ratio": 1 / effective,
        "created": _now().isoformat(),
    }


def read_sidecar(folder: Path) -> dict:
    """The sidecar of a session folder; raises ``BurstcapError`` naming the file when unreadable."""
    path = Path(folder) / SIDECAR_NAME
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BurstcapError(f"{path}: cannot read the session sidecar: {exc}") from exc
    if not isinstance(data, dict) or data.get("burstcap_session") != SIDECAR_VERSION:
        raise BurstcapError(f"{path}: not a burstcap session sidecar (version {SIDECAR_VERSION})")
    return data


__all__ = [
    "CaptureRecord", "ExposurePlan", "RetryPolicy", "SIDECAR_NAME", "ShootEvent", "ShootEventFn",
    "ShootRequest", "ShotSession", "plan_exposures", "read_sidecar", "retry_busy", "shoot_pair",
]

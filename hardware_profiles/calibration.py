"""Fit a noise profile from a folder of calibration RAWs by the photon-transfer method.

Folder layout (what ``burstcap calibrate`` writes when tethered)::

    DIR/iso0400/dark_00.dng ...          dark frames: lens capped ("dark" in the file name, or in
    DIR/iso0400/flat_0.0100s_00.dng ...  a sub-folder named dark*); every other RAW is a flat frame
    DIR/iso1600/...                      of a uniform target; exposure time and ISO come from EXIF

Each folder holding RAWs (with its ``dark*``/``flat*`` sub-folders) is one *set* and must hold one
ISO and one camera. Per set: >= 2 dark frames, and pairs of flats at >= 3 exposure times that are
not clipped. Bad input raises :class:`CalibrationError` saying what to reshoot.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from isp.atomic import atomic_path
from isp.formats import RAW_EXTENSIONS

from hardware_profiles.errors import CalibrationError
from hardware_profiles.photon_transfer import (
    MAX_CLIPPED_FRACTION,
    PairStats,
    PtcFit,
    channel_planes,
    fit_ptc,
    pair_stats,
)
from hardware_profiles.profile import IsoMeasurement, NoiseProfile, Provenance, fit_law

if TYPE_CHECKING:
    from isp.raw import RawImage

log = logging.getLogger(__name__)

MIN_DARKS = 2
MIN_LEVELS = 3
#: Dark frames whose mean is above this fraction of white were not shot with the lens capped.
MAX_DARK_MEAN = 0.05


@dataclass(frozen=True)
class FrameInfo:
    """What the calibration needs to know about one RAW before reading its pixels."""

    path: Path
    is_dark: bool
    iso: float
    exposure_s: float | None
    camera: str
    make: str | None
    model: str | None
    cfa: str
    shape: tuple[int, int]
    black: float
    white: float


@dataclass
class CalibrationSet:
    """The frames of one ISO: dark frames and flat frames grouped by exposure time (s)."""

    folder: Path
    iso: float
    darks: list[FrameInfo] = field(default_factory=list)
    flats: dict[float, list[FrameInfo]] = field(default_factory=dict)


@dataclass(frozen=True)
class CalibrationResult:
    """The fitted profile and the per-ISO photon-transfer fits (for plots and reports)."""

    profile: NoiseProfile
    fits: dict[float, PtcFit]


def _read(path: Path) -> "RawImage":
    """Read one calibration RAW with isp; any isp error becomes a CalibrationError naming it."""
    from isp.errors import IspError
    from isp.raw import read_raw

    try:
        raw = read_raw(path)
    except IspError as exc:
        if "no image data" in str(exc):
            raise CalibrationError(
                f"{path}: every pixel has the same value (fully saturated or blank); if it is a flat, "
                "reshoot it with a shorter exposure or a dimmer target") from None
        raise CalibrationError(f"{exc}; remove or reshoot this frame") from None
    if raw.cfa_pattern is None:
        raise CalibrationError(f"{path}: a LinearRaw (demosaiced) file cannot be calibrated; "
                               "shoot in the camera's native RAW format")
    return raw


def _set_folder(path: Path) -> Path:
    parent = path.parent
    return parent.parent if parent.name.lower().startswith(("dark", "flat")) else parent


def _is_dark(path: Path) -> bool:
    return "dark" in path.stem.lower() or path.parent.name.lower().startswith("dark")


def find_raws(root: Path) -> list[Path]:
    """Every RAW file under ``root`` (recursive), sorted."""
    if not root.is_dir():
        raise CalibrationError(f"{root}: not a folder of calibration RAWs")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in RAW_EXTENSIONS
                   and not p.name.startswith("."))
    if not files:
        raise CalibrationError(f"{root}: no RAW files found; shoot dark frames (lens capped) and "
                               "flat frames of a uniform target, see 'burstcap calibrate --help'")
    return files


def frame_info(path: Path) -> FrameInfo:
    """Read ``path`` and keep what grouping and validation need (pixels are dropped)."""
    raw = _read(path)
    meta = raw.metadata
    if meta.iso is None:
        raise CalibrationError(f"{path}: no ISO in the file's metadata; shoot with a fixed ISO "
                               "(not Auto) on a camera that records it")
    camera = " ".join(p for p in (meta.make, meta.model) if p) or "unknown camera"
    return FrameInfo(path=path, is_dark=_is_dark(path), iso=float(meta.iso),
                     exposure_s=meta.exposure_time_s, camera=camera, make=meta.make, model=meta.model,
                     cfa=raw.cfa_pattern, shape=raw.mosaic.shape,
                     black=float(np.mean(raw.black_level)), white=float(raw.white_level))


def group_frames(infos: list[FrameInfo]) -> list[CalibrationSet]:
    """Check the frames agree (one camera, one ISO per folder) and group them into sets by ISO."""
    first = infos[0]
    for info in infos[1:]:
        if info.camera != first.camera:
            raise CalibrationError(
                f"frames come from different cameras: {first.camera!r} ({first.path}) and "
                f"{info.camera!r} ({info.path}); calibrate one camera at a time (remove or reshoot "
                f"the other camera's frames)")
        if info.cfa != first.cfa or info.shape != first.shape:
            raise CalibrationError(
                f"{info.path}: {info.shape[1]}x{info.shape[0]} {info.cfa} differs from "
                f"{first.path} ({first.shape[1]}x{first.shape[0]} {first.cfa}); shoot every frame "
                f"in the same RAW mode and size")
    sets: dict[Path, CalibrationSet] = {}
    for info in infos:
        folder = _set_folder(info.path)
        cal = sets.setdefault(folder, CalibrationSet(folder=folder, iso=info.iso))
        if info.iso != cal.iso:
            other = (cal.darks or [f for fl in cal.flats.values() for f in fl])[0]
            raise CalibrationError(
                f"{folder}: one set mixes ISO {cal.iso:g} ({other.path.name}) and ISO {info.iso:g} "
                f"({info.path.name}); put each ISO's darks and flats in its own folder, or reshoot "
                f"the set at one ISO")
        if info.is_dark:
            cal.darks.append(info)
        else:
            if info.exposure_s is None:
                raise CalibrationError(f"{info.path}: no exposure time in the metadata; reshoot "
                                       "this flat with the camera in manual exposure")
            cal.flats.setdefault(round(info.exposure_s, 9), []).append(info)
    by_iso: dict[float, CalibrationSet] = {}
    for cal in sets.values():
        if cal.iso in by_iso:
            raise CalibrationError(f"ISO {cal.iso:g} appears in two folders ({by_iso[cal.iso].folder} "
                                   f"and {cal.folder}); keep one set per ISO")
        by_iso[cal.iso] = cal
    return [by_iso[iso] for iso in sorted(by_iso)]


def _clip_level(mosaic: np.ndarray) -> float:
    """1.0 (white), or lower when many pixels pile up at a lower maximum (early clipping)."""
    top = float(mosaic.max())
    if top < 1.0 and np.count_nonzero(mosaic >= top) > max(16, 1e-3 * mosaic.size):
        return top
    return 1.0 - 1e-6


def _pairs(frames: list[FrameInfo]) -> Iterable[tuple[FrameInfo, FrameInfo]]:
    ordered = sorted(frames, key=lambda f: f.path.name)
    return zip(ordered[0::2], ordered[1::2])


def _format_exposure(seconds: float) -> str:
    return f"1/{round(1 / seconds):d} s" if seconds < 0.5 else f"{seconds:g} s"


def fit_set(cal: CalibrationSet, tick: Callable[[], None] = lambda: None) -> PtcFit:
    """Photon-transfer fit of one ISO set (reads the pixels; ``tick`` is called once per frame)."""
    where = f"ISO {cal.iso:g} ({cal.folder})"
    if len(cal.darks) < MIN_DARKS:
        raise CalibrationError(f"{where}: {len(cal.darks)} dark frame(s); shoot at least "
                               f"{MIN_DARKS} with the lens capped at ISO {cal.iso:g}")
    dark_stats: list[PairStats] = []
    dark_sum: np.ndarray | None = None
    for f1, f2 in _pairs(cal.darks):
        m1, m2 = _read(f1.path).mosaic, _read(f2.path).mosaic
        tick(), tick()
        dark_stats.append(pair_stats(m1, m2))
        dark_sum = m1.astype(np.float64) + m2 if dark_sum is None else dark_sum + m1 + m2
    n_dark = 2 * len(dark_stats)
    dark_mean = np.mean([s.mean for s in dark_stats], axis=0)
    if np.max(dark_mean) > MAX_DARK_MEAN:
        raise CalibrationError(f"{where}: the dark frames are not dark (mean {np.max(dark_mean):.1%} of "
                               f"white); reshoot them with the lens capped and the viewfinder covered")
    assert dark_sum is not None
    temporal = np.mean([s.pixel_var + s.row_var for s in dark_stats], axis=0)
    fpn_var = np.array([p.var() for p in channel_planes(dark_sum / n_dark)]) - temporal / n_dark

    usable: list[PairStats] = []
    levels = 0
    clipped: list[float] = []
    dim: list[float] = []
    single: list[float] = []
    for exposure, frames in sorted(cal.flats.items()):
        if len(frames) < 2:
            single.append(exposure)
            continue
        level: list[PairStats] = []
        for f1, f2 in _pairs(frames):
            m1, m2 = _read(f1.path).mosaic, _read(f2.path).mosaic
            tick(), tick()
            level.append(pair_stats(m1, m2, min(_clip_level(m1), _clip_level(m2))))
        if max(float(np.max(s.clipped)) for s in level) > MAX_CLIPPED_FRACTION:
            clipped.append(exposure)
            continue
        signal = np.mean([s.mean for s in level], axis=0) - dark_mean
        if np.min(signal) <= 3 * math.sqrt(float(np.max(dark_stats[0].pixel_var))):
            dim.append(exposure)
            continue
        usable.extend(level)
        levels += 1
    if levels < MIN_LEVELS:
        problems = []
        if clipped:
            problems.append("flats at " + ", ".join(map(_format_exposure, clipped)) + " are saturated "
                            "(clipped): reshoot them with shorter exposures or a dimmer target")
        if dim:
            problems.append("flats at " + ", ".join(map(_format_exposure, dim)) + " are too dark to "
                            "measure: reshoot them with longer exposures or more light")
        if single:
            problems.append("only one flat at " + ", ".join(map(_format_exposure, single)) +
                            ": shoot two frames per exposure time")
        detail = "; ".join(problems) or "shoot pairs of flat frames at more exposure times"
        raise CalibrationError(f"{where}: {levels} usable flat exposure level(s), need {MIN_LEVELS}; "
                               f"{detail}")
    return fit_ptc(dark_stats, usable, fpn_var)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "camera"


def calibrate_folder(root: str | os.PathLike[str], name: str | None = None,
                     progress: bool = False) -> CalibrationResult:
    """Fit a profile from the calibration RAWs under ``root`` (see the module docstring)."""
    root = Path(root)
    files = find_raws(root)
    infos = [frame_info(p) for p in files]
    sets = group_frames(infos)
    total = sum(len(c.darks) // 2 * 2 + sum(len(f) // 2 * 2 for f in c.flats.values()) for c in sets)
    from tqdm import tqdm

    fits: dict[float, PtcFit] = {}
    frames = {c.iso: len(c.darks) + sum(len(f) for f in c.flats.values()) for c in sets}
    with tqdm(total=total, unit="frame", desc="calibrating", disable=not progress) as bar:
        for cal in sets:
            fits[cal.iso] = fit_set(cal, tick=lambda: bar.update(1))
    first = infos[0]
    measured = tuple(
        IsoMeasurement(
            iso=iso, a=tuple(float(v) for v in fit.a), b=tuple(float(v) for v in fit.b),
            row_sigma=float(math.sqrt(float(np.mean(fit.row_var)))),
            fpn_sigma=float(math.sqrt(float(np.mean(fit.fpn_var)))),
            frames=frames[iso],
            fit_residual=round(fit.residual, 5))
        for iso, fit in sorted(fits.items()))
    for m in measured:
        if min(m.a) <= 0 or min(m.b) <= 0:
            raise CalibrationError(f"ISO {m.iso:g}: the fit gave a non-positive gain or read noise "
                                   f"(a={list(m.a)}, b={list(m.b)}); reshoot flats over a wider "
                                   f"range of exposures")
    residual = float(np.mean([f.residual for f in fits.values()]))
    profile = NoiseProfile(
        name=name or _slug(first.camera), make=first.make or "Unknown", model=first.model or "Unknown",
        cfa=first.cfa, black_level=first.black, white_level=first.white,
        bit_depth=max(1, math.ceil(math.log2(first.white + 1))),
        iso_range=(measured[0].iso, measured[-1].iso), law=fit_law(measured), measured=measured,
        provenance=Provenance(
            source=f"burstcap calibrate: photon transfer (frame-pair differences) from {root.name}",
            date=_dt.date.today().isoformat(), frames=len(infos), fit_residual=round(residual, 5),
            conversion="measured in normalised raw units; b = dark temporal variance, a = slope of "
                       "(variance - b) vs dark-subtracted signal over unclipped flat pairs"),
        extra={"dark_mean": {f"{iso:g}": [float(v) for v in fit.dark_mean]
                             for iso, fit in sorted(fits.items())}},
    )
    return CalibrationResult(profile=profile, fits=fits)


def plot_fit(result: CalibrationResult, path: str | os.PathLike[str]) -> Path:
    """Mean vs temporal variance per ISO and CFA channel (dots: flat pairs, x: dark frames) with the
    fitted lines, as a PNG written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    isos = sorted(result.fits)
    cols = min(3, len(isos))
    rows = math.ceil(len(isos) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.6 * rows), squeeze=False)
    colours = {"R": "tab:red", "G": "tab:green", "B": "tab:blue"}
    cfa = result.profile.cfa
    for ax, iso in zip(axes.ravel(), isos):
        fit = result.fits[iso]
        signal = np.array([lv[0] for lv in fit.levels])
        var = np.array([lv[1] for lv in fit.levels])
        xs = np.linspace(0.0, float(signal.max()) * 1.05, 50)
        for c in range(4):
            style = "o" if c in (0, 3) or cfa[c] != "G" or c == cfa.index("G") else "s"
            ax.plot(signal[:, c], var[:, c], style, ms=4, color=colours[cfa[c]], alpha=0.7,
                    label=f"{cfa[c]}{c} a={fit.a[c]:.3g} b={fit.b[c]:.3g}")
            ax.plot([0.0], [fit.b[c]], "x", ms=6, color=colours[cfa[c]])  # dark frames
            ax.plot(xs, fit.a[c] * xs + fit.b[c], "-", lw=1, color=colours[cfa[c]])
        ax.set_title(f"ISO {iso:g} (residual {fit.residual:.1%})")
        ax.set_xlabel("signal (normalised, dark subtracted)")
        ax.set_ylabel("temporal variance")
        ax.legend(fontsize=6)
    for ax in axes.ravel()[len(isos):]:
        ax.axis("off")
    fig.suptitle(f"{result.profile.make} {result.profile.model}: photon transfer, var = a x + b")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path

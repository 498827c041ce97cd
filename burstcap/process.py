"""Offline processing of folders of short/long pairs (``burstcap process``).

1. **Pairing** (:func:`find_pairs`): a folder with a ``session.json`` sidecar (written by
   ``burstcap shoot``) is one pair, as the sidecar says. In other folders the rules a user states
   come first (:mod:`burstcap.pairing_rules`): sub-folders ``short/`` + ``long/`` (files of the same
   name), file names with ``short`` / ``long`` (``beach_short.png`` + ``beach_long.png``), and with
   ``PairingOptions.sequence`` consecutive files two by two. The remaining files are paired by EXIF
   (unless ``sequence``): files of one camera sorted by capture time; two consecutive captures at
   most ``window_s`` apart whose exposure (time x ISO / N^2) differs by at least ``min_ratio`` make
   a pair, the darker one the short frame. A JPEG beside a RAW of the same name is the RAW's
   companion and is not used. Every file not used gets a :class:`Skip` with the reason.
2. **Fusing** (:func:`process_pairs`): each pair goes through the one fuse path
   (:func:`burstcap.fuse.fuse_frames`) and is written atomically to
   ``OUT/<relative folder>/<short stem>_fused<ext>``. Existing outputs are complete by construction,
   so they are skipped: an interrupted batch resumes where it stopped. A failing pair is recorded
   with its reason and the batch goes on. ``shard=(i, n)`` keeps every n-th pair (from i) of the
   sorted list, so n processes or hosts split a batch with no coordination.
3. **Contact sheet**: one JPEG per folder (``contact_sheet.jpg``): short | long | fused thumbnails,
   one row per fused pair (strips cached in ``.thumbs/``, so resumed runs and other shards' pairs
   still show).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from isp.atomic import atomic_path, atomic_write_text, disk_full_error, remove_leftovers
from isp.color import srgb_encode
from isp.errors import IspError
from isp.formats import IMAGE_EXTENSIONS, OUTPUT_EXTENSIONS, RAW_EXTENSIONS, is_raw
from isp.io import read_linear
from isp.metadata import CaptureMetadata, read_metadata
from isp.raw import read_raw_metadata

from burstcap import pairing_rules as rules
from burstcap.camera.settings import parse_iso
from burstcap.errors import BurstcapError
from burstcap.fuse import FuseOptions, fuse_frames, fusion_model
from burstcap.report import read_report
from burstcap.shoot import SIDECAR_NAME, read_sidecar

log = logging.getLogger(__name__)

CONTACT_SHEET = "contact_sheet.jpg"
THUMBS_DIR = ".thumbs"
DEFAULT_OUT_NAME = "burstcap-fused"
#: Temp files older than this in the output folder are leftovers of a killed run (seconds).
LEFTOVER_AGE_S = 3600.0


# ------------------------------------------------------------------------------------------ pairing
@dataclass(frozen=True)
class PairingOptions:
    """How files are paired when there is no sidecar."""

    window_s: float = 10.0  # at most this many seconds between the two captures
    min_ratio: float = 2.0  # long/short exposure at least this
    recursive: bool = False
    sequence: bool = False  # pair consecutive files (name order) instead of by EXIF


@dataclass(frozen=True)
class Pair:
    """A short/long pair found in ``folder``; ``ratio`` long/short brightness (None: from the images)."""

    folder: Path
    short: Path
    long: Path
    ratio: float | None
    reason: str


@dataclass(frozen=True)
class Skip:
    """A file (or folder) not used, and why."""

    path: Path
    reason: str


@dataclass
class Pairing:
    """Everything :func:`find_pairs` found."""

    pairs: list[Pair] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


@dataclass(frozen=True)
class _Shot:
    path: Path
    make: str | None
    model: str | None
    exposure: float | None  # time x ISO / N^2 (relative)
    timestamp: datetime | None


def _read_metadata(path: Path) -> CaptureMetadata:
    """CaptureMetadata of a file without developing it: its tags, completed for a RAW file by what
    LibRaw reads (:func:`isp.raw.read_raw_metadata`) when the tags lack the capture time or exposure."""
    meta = read_metadata(path)
    if is_raw(path) and (meta.timestamp is None or meta.exposure_time_s is None):
        try:
            meta = meta.merged(read_raw_metadata(path))
        except IspError:  # LibRaw cannot open it: pair on the tags alone (reading it will say why)
            pass
    return meta


def _exposure(meta: Any) -> float | None:
    if not meta.exposure_time_s:
        return None
    value = meta.exposure_time_s * (meta.iso or 100.0)
    return value / (meta.f_number ** 2) if meta.f_number else value


def _session_pair(folder: Path, files: list[Path]) -> tuple[list[Pair], list[Skip]]:
    try:
        side = read_sidecar(folder)
        short, long = folder / side["short"]["main"], folder / side["long"]["main"]
    except (BurstcapError, KeyError, TypeError) as exc:
        return [], [Skip(folder / SIDECAR_NAME, f"unusable sidecar: {exc}")]
    missing = [p.name for p in (short, long) if not p.is_file()]
    if missing:
        return [], [Skip(folder / SIDECAR_NAME, f"sidecar names missing file(s) {missing}")]
    skips = [Skip(p, "this session's fused output" if p.stem == "fused"
                  else f"companion file of the session's {short.name}/{long.name}")
             for p in files if p not in (short, long)]
    return [Pair(folder, short, long, sidecar_ratio(side), f"sidecar {SIDECAR_NAME}")], skips


def sidecar_ratio(side: dict) -> float | None:
    """long/short brightness from a session sidecar: exposure time ratio, times ISO ratio if known."""
    try:
        t_short = float(side["short"]["read_back"]["exposure_s"])
        t_long = float(side["long"]["read_back"]["exposure_s"])
    except (KeyError, TypeError, ValueError):
        return None
    ratio = t_long / t_short
    iso_s = parse_iso(str(side["short"]["read_back"].get("iso") or ""))
    iso_l = parse_iso(str(side["long"]["read_back"].get("iso") or ""))
    return ratio * iso_l / iso_s if iso_s and iso_l else ratio


def _exif_pairs(folder: Path, files: list[Path], options: PairingOptions) -> tuple[list[Pair], list[Skip]]:
    skips: list[Skip] = []
    raw_stems = {p.stem.lower(): p for p in files if p.suffix.lower() in RAW_EXTENSIONS}
    shots: list[_Shot] = []
    for path in files:
        raw = raw_stems.get(path.stem.lower())
        if raw is not None and raw != path:
            skips.append(Skip(path, f"companion of RAW {raw.name} (the RAW is used)"))
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            skips.append(Skip(path, f"cannot read the file: {exc.strerror or exc}"))
            continue
        if path.stat().st_size == 0:
            skips.append(Skip(path, "empty file"))
            continue
        meta = _read_metadata(path)
        if meta.timestamp is None:
            skips.append(Skip(path, "no capture time in its metadata (EXIF DateTimeOriginal)"))
            continue
        if _exposure(meta) is None:
            skips.append(Skip(path, "no exposure time in its metadata"))
            continue
        shots.append(_Shot(path, meta.make, meta.model, _exposure(meta), meta.timestamp))
    shots.sort(key=lambda s: (s.timestamp, s.path.name))
    pairs: list[Pair] = []
    i = 0
    while i < len(shots):
        a = shots[i]
        b = shots[i + 1] if i + 1 < len(shots) else None
        why = _why_not(a, b, options)
        if why is None:
            assert b is not None and a.exposure and b.exposure
            short, long = (a, b) if a.exposure < b.exposure else (b, a)
            ratio = long.exposure / short.exposure
            dt = abs((b.timestamp - a.timestamp).total_seconds())
            pairs.append(Pair(folder, short.path, long.path, None,
                              f"EXIF: {a.model or 'same camera'}, {dt:.0f} s apart, exposure ratio {ratio:.3g}"))
            i += 2
        else:
            skips.append(Skip(a.path, why))
            i += 1
    return pairs, skips


def _rule_pairs(root: Path, folder: Path, files: list[Path],
                options: PairingOptions) -> tuple[list[Pair], list[Skip]]:
    """Pairs of a folder without a sidecar: the stated rules (:mod:`burstcap.pairing_rules`), then
    EXIF (or, with ``options.sequence``, consecutive files) for the files they leave."""
    if folder != root and rules.is_rule_folder(folder):
        return [], []  # a short/ or long/ folder: its parent pairs its files
    found, skipped = rules.folder_pairs(folder, IMAGE_EXTENSIONS)
    kept, companions = rules.drop_companions(files, RAW_EXTENSIONS)
    named, rest = rules.name_pairs(kept)
    found += named
    skipped += companions
    if options.sequence:
        more, more_skipped = rules.sequence_pairs(rest)
        found += more
        skipped += more_skipped
        exif: tuple[list[Pair], list[Skip]] = ([], [])
    else:
        exif = _exif_pairs(folder, rest, options)
    pairs = [Pair(folder, short, long, None, reason) for short, long, reason in found]
    return pairs + exif[0], [Skip(path, why) for path, why in skipped] + exif[1]


def _why_not(a: _Shot, b: _Shot | None, options: PairingOptions) -> str | None:
    """None when ``a`` and ``b`` make a pair, else why ``a`` has no partner."""
    if b is None:
        return "no later capture to pair with"
    if (a.make, a.model) != (b.make, b.model):
        return f"next capture {b.path.name} is from another camera ({b.model or '?'})"
    dt = (b.timestamp - a.timestamp).total_seconds()  # type: ignore[operator]
    if dt > options.window_s:
        return f"next capture {b.path.name} is {dt:.0f} s later (window {options.window_s:g} s)"
    ratio = max(a.exposure, b.exposure) / min(a.exposure, b.exposure)  # type: ignore[type-var, operator]
    if ratio < options.min_ratio:
        return f"exposure ratio {ratio:.3g} with {b.path.name} is below {options.min_ratio:g}"
    return None


def _folders(root: Path, recursive: bool, exclude: Path | None, skipped: list[Skip]) -> list[Path]:
    """``root`` and, when ``recursive``, its sub-folders (not hidden, not ``exclude``). Links to
    folders are not followed (they may lead out of the tree, or round in a loop); a folder that
    cannot be listed is added to ``skipped`` with the reason."""
    if not recursive:
        return [root]
    ex = exclude.resolve() if exclude is not None else None

    def unreadable(exc: OSError) -> None:
        skipped.append(Skip(Path(exc.filename), f"cannot read the folder: {exc.strerror or exc}"))

    found = []
    for parent, dirs, _ in os.walk(root, onerror=unreadable):  # does not follow links
        here = Path(parent)
        found.append(here)
        for name in list(dirs):
            path = here / name
            if path.is_symlink():
                skipped.append(Skip(path, "link to a folder: not followed"))
            if name.startswith(".") or path.is_symlink() or (ex is not None and path.resolve() == ex):
                dirs.remove(name)
    return [root] + sorted(found[1:])


def _folder_files(root: Path, folder: Path, skipped: list[Skip]) -> list[Path]:
    """The regular files of ``folder`` (not hidden) and links to files inside the tree of
    ``root``; links leading out of it are added to ``skipped``."""
    files = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_symlink() and not path.resolve().is_relative_to(root.resolve()):
            skipped.append(Skip(path, f"link leading out of {root}: not followed"))
        elif path.is_file():
            files.append(path)
    return files


def find_pairs(root: Path, options: PairingOptions | None = None, exclude: Path | None = None) -> Pairing:
    """Pairs in ``root`` (and its sub-folders when ``options.recursive``), and every skipped file.

    ``exclude``: a folder never searched (the output folder). Raises ``BurstcapError`` when ``root``
    is not a folder.
    """
    options = options or PairingOptions()
    root = Path(root)
    if not root.is_dir():
        raise BurstcapError(f"{root}: not a folder")
    result = Pairing()
    for folder in _folders(root, options.recursive, exclude, result.skipped):
        try:
            entries = _folder_files(root, folder, result.skipped)
        except OSError as exc:
            if folder == root:
                raise BurstcapError(f"{root}: cannot read the folder: {exc.strerror or exc}") from None
            result.skipped.append(Skip(folder, f"cannot read the folder: {exc.strerror or exc}"))
            continue
        files = [p for p in entries if p.suffix.lower() in IMAGE_EXTENSIONS]
        result.skipped += [Skip(p, "not an image file") for p in entries
                           if p not in files and p.name != SIDECAR_NAME]
        if (folder / SIDECAR_NAME).is_file():
            pairs, skips = _session_pair(folder, files)
        else:
            pairs, skips = _rule_pairs(root, folder, files, options)
        result.pairs += pairs
        result.skipped += skips
    result.pairs.sort(key=lambda p: (str(p.folder), p.short.name))
    return result


# ------------------------------------------------------------------------------------------- fusing
@dataclass(frozen=True)
class ProcessOptions:
    """Where and how pairs are fused."""

    fuse: FuseOptions = field(default_factory=FuseOptions)
    output_ext: str = ".tif"
    shard: tuple[int, int] = (0, 1)  # (index, count): keep pairs whose position % count == index
    contact_sheet: bool = True
    thumb_height: int = 160

    def __post_init__(self) -> None:
        i, n = self.shard
        if n < 1 or not 0 <= i < n:
            raise BurstcapError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")
        if self.output_ext.lower() not in OUTPUT_EXTENSIONS:
            raise BurstcapError(f"output format {self.output_ext!r}: use .tif, .png, .jpg or .dng")


@dataclass(frozen=True)
class PairOutcome:
    """What happened to one pair: status 'fused', 'done' (output already there) or 'failed'."""

    pair: Pair
    out_path: Path
    status: str
    error: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    report: dict[str, Any] | None = None  # the output's report (burstcap.report), when there is one


@dataclass
class ProcessReport:
    """The outcomes of a batch, and the files pairing skipped."""

    outcomes: list[PairOutcome] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def failures(self) -> list[PairOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def summary(self) -> dict[str, Any]:
        """The batch as JSON-ready data: counts, every pair with its status and report (the JSON
        beside its output), every skipped file with the reason."""
        return {
            "burstcap_process": 1,
            "fused": self.count("fused"), "done": self.count("done"), "failed": len(self.failures),
            "pairs": [{"short": str(o.pair.short), "long": str(o.pair.long), "pairing": o.pair.reason,
                       "status": o.status, "output": str(o.out_path), "error": o.error, "report": o.report}
                      for o in self.outcomes],
            "skipped": [{"path": str(s.path), "reason": s.reason} for s in self.skipped],
        }


def write_summary(report: ProcessReport, out_dir: Path, shard: tuple[int, int] = (0, 1)) -> Path:
    """Write ``report.summary()`` to ``out_dir/process-summary.json`` (``process-summary-IofN.json``
    for shard I of N), atomically; returns the path."""
    import json

    i, n = shard
    name = "process-summary.json" if n == 1 else f"process-summary-{i}of{n}.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(out_dir / name, json.dumps(report.summary(), indent=2) + "\n")


def output_path(pair: Pair, root: Path, out_dir: Path, ext: str = ".tif") -> Path:
    """``out_dir/<pair folder relative to root>/<short stem>_fused<ext>``."""
    return out_dir / pair.folder.relative_to(root) / f"{pair.short.stem}_fused{ext}"


def shard(pairs: list[Pair], index: int, count: int) -> list[Pair]:
    """Every ``count``-th pair starting at ``index`` (pairs must be in a stable order)."""
    return pairs[index::count]


def _thumb(linear: np.ndarray, gain: float, height: int) -> np.ndarray:
    """Linear (H, W, 3) -> 8-bit sRGB BGR thumbnail of the given height."""
    h, w = linear.shape[:2]
    size = (max(1, round(w * height / h)), height)
    small = cv2.resize(np.ascontiguousarray(linear, dtype=np.float32), size, interpolation=cv2.INTER_AREA)
    encoded = srgb_encode(np.clip(small * np.float32(gain), 0.0, 1.0))
    return cv2.cvtColor((encoded * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)


def _write_jpeg(path: Path, bgr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), bgr, [cv2.IMWRITE_JPEG_QUALITY, 88]):
            raise BurstcapError(f"{path}: cannot write JPEG")


def thumb_path(out_path: Path) -> Path:
    return out_path.parent / THUMBS_DIR / f"{out_path.stem}.jpg"


def read_pair(pair: Pair) -> tuple[Any, Any]:
    """(short, long) of ``pair``, each read by :func:`isp.io.read_linear`."""
    return read_linear(pair.short), read_linear(pair.long)


class ReadAhead:
    """Reads the next pair's frames on a background thread while the current pair is fused (decoding
    and developing release the GIL), so a batch waits for its first read only. ``get(pair)`` returns
    :func:`read_pair` of ``pair`` (raising its errors) and starts reading the pair after it in
    ``pairs``; at most one pair is held ahead. A context manager: leaving it drops a pending read."""

    def __init__(self, pairs: list[Pair]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._after = dict(zip(pairs, pairs[1:]))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
        self._ahead: tuple[Pair, Any] | None = None

    def get(self, pair: Pair) -> tuple[Any, Any]:
        if self._ahead is not None and self._ahead[0] == pair:
            current = self._ahead[1]
        else:
            current = self._pool.submit(read_pair, pair)
        following = self._after.get(pair)
        self._ahead = (following, self._pool.submit(read_pair, following)) if following else None
        return current.result()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._ahead = None


def fuse_one(pair: Pair, out_path: Path, model: Any, options: ProcessOptions,
             frames: tuple[Any, Any] | None = None) -> dict[str, float]:
    """Read, fuse and write one pair through :func:`burstcap.fuse.fuse_frames` (the one fuse path,
    with the pair's sidecar ratio), then its contact-sheet strip; returns seconds per stage.
    ``frames``: (short, long) already read (:func:`read_pair`, e.g. by :class:`ReadAhead`). Raises on
    bad input."""
    start = time.perf_counter()
    short, long = frames if frames is not None else read_pair(pair)
    read = time.perf_counter() - start
    result, fused = fuse_frames(short, long, out_path, options.fuse, model, progress=False,
                                sidecar_ratio=pair.ratio, steps={"read": read}, start=start)
    times = {"read": read, "fuse": result.seconds - read}
    times.update({f"fuse:{step}": secs for step, secs in fused.seconds.items()})
    if options.contact_sheet:
        t = time.perf_counter()
        h = options.thumb_height
        strip = np.hstack([_thumb(short.rgb, fused.gain * result.ratio, h), _thumb(long.rgb, fused.gain, h),
                           _thumb(fused.rgb, fused.gain, h)])
        _write_jpeg(thumb_path(out_path), strip)
        times["thumbs"] = time.perf_counter() - t
    return times


def contact_sheet(out_folder: Path) -> Path | None:
    """Stack every cached strip of ``out_folder`` (short | long | fused per fused pair, in name order,
    whichever run or shard made it) into ``contact_sheet.jpg``; None when there is none yet."""
    rows = []
    for strip_path in sorted((out_folder / THUMBS_DIR).glob("*.jpg")):
        strip = cv2.imread(str(strip_path))
        if strip is None:
            continue
        label = np.full((22, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(label, strip_path.stem.removesuffix("_fused") + "   short | long | fused", (4, 16),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.vstack([label, strip]))
    if not rows:
        return None
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    path = out_folder / CONTACT_SHEET
    _write_jpeg(path, np.vstack(rows))
    return path


PairCallback = Callable[[PairOutcome], None]


def process_pairs(pairs: list[Pair], root: Path, out_dir: Path, options: ProcessOptions | None = None,
                  model: Any = None, on_pair: PairCallback | None = None,
                  progress_bar: bool = True) -> ProcessReport:
    """Fuse every pair of this shard whose output is missing; never stops on a bad pair, only
    when the output disk is full (:class:`isp.DiskFullError`: every later write would fail too).

    ``model``: a loaded model, or None to load ``options.fuse.model`` when there is work.
    ``on_pair``: called after each pair with its :class:`PairOutcome`. Temp files an interrupted run
    left in ``out_dir`` (older than :data:`LEFTOVER_AGE_S`: other shards may be writing) are removed.
    """
    from tqdm import tqdm

    options = options or ProcessOptions()
    root, out_dir = Path(root), Path(out_dir)
    if out_dir.is_dir():
        for leftover in remove_leftovers(out_dir, min_age_s=LEFTOVER_AGE_S):
            log.info("removed %s, left by an interrupted run", leftover)
    mine = shard(pairs, *options.shard)
    report = ProcessReport()
    folders: set[Path] = set()
    todo = [pair for pair in mine if not output_path(pair, root, out_dir, options.output_ext).is_file()]
    with ReadAhead(todo) as ahead, tqdm(total=len(mine), unit="pair", desc="process",
                                        disable=not progress_bar) as bar:
        for pair in mine:
            out = output_path(pair, root, out_dir, options.output_ext)
            folders.add(out.parent)
            if out.is_file():
                outcome = PairOutcome(pair, out, "done")
            else:
                if model is None:  # loaded only when there is work; failing here stops the batch
                    model = fusion_model(options.fuse)
                try:
                    seconds = fuse_one(pair, out, model, options, ahead.get(pair))
                    outcome = PairOutcome(pair, out, "fused", seconds=seconds)
                except Exception as exc:  # noqa: BLE001 - one bad pair never stops the batch
                    full = disk_full_error(exc, out.parent if out.parent.is_dir() else out_dir)
                    if full is not None:
                        raise full from exc
                    outcome = PairOutcome(pair, out, "failed", error=str(exc) or type(exc).__name__)
            if outcome.status != "failed":
                outcome = dataclasses.replace(outcome, report=read_report(out))
            report.outcomes.append(outcome)
            if on_pair is not None:
                on_pair(outcome)
            bar.update(1)
    if options.contact_sheet:
        changed = {o.out_path.parent for o in report.outcomes if o.status == "fused"}
        for folder in sorted(folders):
            if folder in changed or not (folder / CONTACT_SHEET).exists():
                contact_sheet(folder)
    return report


def process_folder(root: Path, out_dir: Path | None = None, pairing: PairingOptions | None = None,
                   options: ProcessOptions | None = None, model: Any = None,
                   on_pair: PairCallback | None = None, progress_bar: bool = True) -> ProcessReport:
    """Pair ``root`` and fuse the pairs into ``out_dir`` (default ``root/burstcap-fused``)."""
    root = Path(root)
    out_dir = Path(out_dir) if out_dir is not None else root / DEFAULT_OUT_NAME
    found = find_pairs(root, pairing, exclude=out_dir)
    report = process_pairs(found.pairs, root, out_dir, options, model, on_pair, progress_bar)
    report.skipped = found.skipped
    return report


__all__ = [
    "Pair", "PairOutcome", "Pairing", "PairingOptions", "ProcessOptions", "ProcessReport", "ReadAhead",
    "Skip", "contact_sheet", "find_pairs", "fuse_one", "output_path", "process_folder", "process_pairs",
    "read_pair", "shard", "sidecar_ratio", "write_summary",
]

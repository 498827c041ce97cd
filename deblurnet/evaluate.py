"""Scoring fusion methods on a triplet folder (``score_folder``, the ``deblurnet evaluate`` command):
PSNR / SSIM per image and mean, seconds per pair. (Validation during training is
:func:`deblurnet.validation.evaluate`.)

Metrics: scikit-image `peak_signal_noise_ratio` and `structural_similarity` (7x7 uniform window,
`channel_axis=2`) on sRGB values 0..255 over the full image, the method's output clipped to [0, 1]
and not rounded to 8 bits. Seconds: wall time of the method on one pair (no file I/O).
The short frames of a triplet folder are ratio-scaled by definition, so no exposure ratio is estimated.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from isp.atomic import atomic_write_text
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from tqdm import tqdm

from deblurnet.baselines import BASELINES, Method
from deblurnet.data import KEYS, NOISE_DIR, list_triplets, read_noise_map, read_triplet
from deblurnet.errors import DeblurnetError


NamedMethod = Callable[[str], np.ndarray]
"""A method that reads its own inputs: image name -> (H, W, 3) float32 sRGB [0, 1] result (e.g. the
whole ``burstcap fuse`` command on a set's RAW files, which the triplet's PNGs do not hold)."""


@dataclass
class Score:
    """One method on one image: PSNR (dB), SSIM, seconds for the pair."""

    psnr: float
    ssim: float
    seconds: float


@dataclass
class MethodResult:
    """Scores of one method, per image name."""

    method: str
    scores: dict[str, Score] = field(default_factory=dict)
    fingerprint: str = ""   # identifies the method's version/weights; resumed scores must match it

    def mean(self, key: str) -> float:
        """Mean of 'psnr', 'ssim' or 'seconds' over the images."""
        return float(np.mean([getattr(s, key) for s in self.scores.values()])) if self.scores else float("nan")


BEST_INPUTS = ("long", "short-denoised")
"""The baselines whose better PSNR, per image, is "the best input" (:meth:`Report.worse_than_inputs`)."""


@dataclass
class Report:
    """Results of every method on one triplet folder."""

    dataset: str
    results: dict[str, MethodResult] = field(default_factory=dict)
    contents: str = ""   # :func:`folder_contents` of the folder scored ("" in reports made before it)

    def worse_than_inputs(self, method: str) -> float:
        """Share of the images on which ``method``'s PSNR is below the better of the two inputs a user
        could have kept instead: the long frame, or the short frame denoised (the ``long`` and
        ``short-denoised`` baselines). NaN when those were not scored."""
        refs = [self.results.get(name) for name in BEST_INPUTS]
        result = self.results.get(method)
        if result is None or not result.scores or any(r is None for r in refs):
            return float("nan")
        worse = [s.psnr < max(r.scores[img].psnr for r in refs)  # type: ignore[union-attr]
                 for img, s in result.scores.items() if all(img in r.scores for r in refs)]  # type: ignore
        return float(np.mean(worse)) if worse else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: dataset, image count, per method the means, the share of images worse than the
        best input (:meth:`worse_than_inputs`) and per-image scores."""
        images = max((len(r.scores) for r in self.results.values()), default=0)
        return {"dataset": self.dataset, "contents": self.contents, "images": images, "methods": {
            name: {"psnr": r.mean("psnr"), "ssim": r.mean("ssim"), "seconds_per_pair": r.mean("seconds"),
                   "worse_than_best_input": self.worse_than_inputs(name),
                   "fingerprint": r.fingerprint, "per_image": {img: asdict(s) for img, s in r.scores.items()}}
            for name, r in self.results.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Report":
        """Inverse of `to_dict` (to resume an interrupted evaluation)."""
        report = cls(dataset=str(data["dataset"]), contents=str(data.get("contents", "")))
        for name, entry in data.get("methods", {}).items():
            scores = {img: Score(**s) for img, s in entry["per_image"].items()}
            report.results[name] = MethodResult(name, scores, str(entry.get("fingerprint", "")))
        return report

    def table(self) -> str:
        """An aligned text table: method, PSNR, SSIM, s/pair (means)."""
        header = ("method", "PSNR", "SSIM", "s/pair", "worse")
        rows = [(name, f"{r.mean('psnr'):.2f}", f"{r.mean('ssim'):.4f}", f"{r.mean('seconds'):.3f}",
                 f"{self.worse_than_inputs(name):.0%}") for name, r in self.results.items()]
        width = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
        lines = ["  ".join([row[0].ljust(width[0])] + [row[i].rjust(width[i]) for i in range(1, 5)])
                 for row in [header, *rows]]
        lines.insert(1, "  ".join("-" * w for w in width))
        return "\n".join(lines)


def psnr_ssim(output: np.ndarray, sharp: np.ndarray) -> tuple[float, float]:
    """PSNR (dB) and SSIM of (H, W, 3) float [0, 1] `output` against `sharp`, on 0..255 values."""
    if output.shape != sharp.shape:
        raise DeblurnetError(f"method output has shape {output.shape}, expected {sharp.shape}")
    out = np.clip(np.asarray(output, np.float64), 0.0, 1.0) * 255.0
    ref = np.asarray(sharp, np.float64) * 255.0
    same = np.array_equal(ref, out)  # PSNR is infinite (JSON: Infinity), without a warning
    psnr = float("inf") if same else float(peak_signal_noise_ratio(ref, out, data_range=255.0))
    ssim = float(structural_similarity(ref, out, channel_axis=2, data_range=255.0))
    return psnr, ssim


def network_method(model: Any, tile: int | None = None, ensemble: int = 1) -> Method:
    """A `Method` running a fusion network through `deblurnet.inference.fuse` (tile: None = default;
    ensemble: self-ensemble size, see `deblurnet.inference.fuse`)."""
    from deblurnet import inference

    kwargs: dict[str, Any] = {"ensemble": ensemble}
    if tile is not None:
        kwargs["tile"] = tile

    def run(short: np.ndarray, long: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return inference.fuse(model, short, long, noise, progress=False, **kwargs)

    return run


BASELINE_VERSION = "baselines-2"
"""Fingerprint of the baseline implementations: bump it when they change."""


def file_fingerprint(path: Path) -> str:
    """An id of a weights file for :func:`score_folder`'s ``fingerprints``: its path, size and date."""
    stat = Path(path).stat()
    return f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def folder_contents(root: Path) -> str:
    """An id of what a triplet folder holds: SHA-256 over its meta.json and the names and sizes of its
    images. A folder rebuilt with other content gets another id, so :func:`score_folder` does not
    reuse scores made on the old one."""
    digest = hashlib.sha256()
    root = Path(root)
    meta = root / "meta.json"
    if meta.is_file():
        digest.update(meta.read_bytes())
    for key in (*KEYS, NOISE_DIR):
        folder = root / key
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                digest.update(f"{key}/{path.name}:{path.stat().st_size};".encode())
    return digest.hexdigest()[:16]


def score_folder(root: Path, networks: dict[str, Method] | None = None, previous: Report | None = None,
                 on_update: Callable[[Report], None] | None = None, progress: bool = True,
                 fingerprints: dict[str, str] | None = None, named: dict[str, NamedMethod] | None = None
                 ) -> Report:
    """Score `networks` (name -> Method), `named` (name -> NamedMethod) and all `BASELINES` on the
    triplet folder `root`.

    previous: an earlier report; its per-image scores are reused (resume) for methods whose fingerprint
    (`fingerprints[name]`, e.g. the weights file and its date; baselines: BASELINE_VERSION) is the same
    and when it was made on the same folder holding the same files (:func:`folder_contents`); the rows of methods it holds that are not scored now are
    kept as they are, in their order (so one file collects, e.g., an ensemble run beside the plain one);
    on_update: called with the report after every image.
    """
    root = Path(root)
    names = list_triplets(root)
    methods: dict[str, Method | NamedMethod] = {**(networks or {}), **(named or {}), **BASELINES}
    report = Report(dataset=str(root.resolve()), contents=folder_contents(root))
    prints = {**{name: BASELINE_VERSION for name in BASELINES}, **(fingerprints or {})}
    same_folder = (previous is not None and previous.dataset == report.dataset
                   and previous.contents in ("", report.contents))  # "": a report from before the id
    earlier = previous.results if same_folder and previous is not None else {}
    for name in [*earlier, *(m for m in methods if m not in earlier)]:  # the earlier order, new ones after
        if name not in methods:  # not scored now: kept as it is (and saved by every on_update)
            report.results[name] = earlier[name]
            continue
        old = earlier.get(name)
        reuse = old is not None and bool(prints.get(name)) and old.fingerprint == prints.get(name)
        report.results[name] = MethodResult(name, dict(old.scores) if reuse else {}, prints.get(name, ""))
    for image in tqdm(names, desc="evaluate", unit="pair", disable=not progress):
        todo = [m for m in methods if image not in report.results[m].scores]
        if not todo:
            continue
        short, long, sharp = read_triplet(root, image)
        noise = read_noise_map(root, image, short)
        for method in todo:
            start = time.perf_counter()
            output = methods[method](image) if method in (named or {}) else methods[method](short, long, noise)
            seconds = time.perf_counter() - start
            report.results[method].scores[image] = Score(*psnr_ssim(output, sharp), seconds=seconds)
        if on_update is not None:
            on_update(report)
    for result in report.results.values():  # folder order, whatever was resumed
        result.scores = {img: result.scores[img] for img in names if img in result.scores}
    return report


def save_report(report: Report, path: Path) -> None:
    """Write the report's JSON atomically (:func:`isp.atomic.atomic_write_text`)."""
    atomic_write_text(path, json.dumps(report.to_dict(), indent=1))


def load_report(path: Path) -> Report:
    """Read a report JSON written by `save_report`; DeblurnetError naming the file when unreadable."""
    try:
        return Report.from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DeblurnetError(f"{path}: not an evaluation report ({exc})") from exc


def score_into(root: Path, networks: dict[str, Method], json_path: Path | None,
               fingerprints: dict[str, str] | None = None, progress: bool = True,
               named: dict[str, NamedMethod] | None = None) -> Report:
    """:func:`score_folder` with a report file: resumes from ``json_path`` when it exists (its other
    rows are kept), saves it after every image and at the end. ``json_path`` None: no file."""
    previous = load_report(json_path) if json_path is not None and Path(json_path).is_file() else None
    on_update = (lambda report: save_report(report, json_path)) if json_path is not None else None
    report = score_folder(root, networks, previous=previous, on_update=on_update, progress=progress,
                          fingerprints=fingerprints, named=named)
    if json_path is not None:
        save_report(report, json_path)
    return report

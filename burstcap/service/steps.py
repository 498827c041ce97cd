"""The service's real capture and processing steps: :func:`burstcap.shoot.shoot_pair` and the fusion
pipeline (:func:`burstcap.fuse.fuse_pair`), adapted to :mod:`burstcap.service.runner`'s types."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from torch import nn

from burstcap.camera.backend import CameraBackend
from burstcap.fuse import FuseOptions, fuse_pair, fusion_model
from burstcap.service.runner import CapturedPair, ProcessFn, ProgressFn, ShootParams
from burstcap.process import sidecar_ratio
from burstcap.shoot import SIDECAR_NAME, ShootEvent, ShootRequest, read_sidecar, shoot_pair


def shoot_pairs(camera: CameraBackend, params: ShootParams, job_dir: Path,
                progress: ProgressFn) -> Iterator[CapturedPair]:
    """Shoot ``params.count`` pairs on the open ``camera``, one session folder each in ``job_dir``,
    yielding each pair once it is downloaded (a failure later keeps the earlier ones).

    ``params.ratio`` is long/short (> 1); :class:`ShootRequest` wants short/long, hence ``1 / ratio``.
    """
    request = ShootRequest(ratio=1.0 / params.ratio, long_exposure_s=params.long_exposure_s,
                           iso_long=params.iso_long)
    for i in range(params.count):
        def report(event: ShootEvent, i: int = i) -> None:
            progress((i + event.fraction) / params.count,
                     f"pair {i + 1}/{params.count}: {event.message or event.stage}")

        session = shoot_pair(camera, request, job_dir, progress=report)
        yield CapturedPair(short=session.short, long=session.long)


def fuse_step(options: FuseOptions = FuseOptions(), out_format: str = "jpg",
              model: nn.Module | None = None) -> ProcessFn:
    """A processing step running :func:`burstcap.fuse.fuse_pair` with ``options``, writing
    ``fused_NN.<out_format>``. ``model``: an already built network (default: the shared
    :func:`burstcap.fuse.fusion_model` of ``options``). The step's ``ratio`` argument (what the user
    asked for) is deliberately not used: the session sidecar holds what the camera actually shot
    (settings snap to the camera's choices), and without a sidecar the files' metadata decide."""
    loaded: list[nn.Module] = [model] if model is not None else []

    def process(pair: CapturedPair, ratio: float, out_path: Path, progress: ProgressFn) -> Path:
        if not loaded:
            progress(0.0, f"loading {options.model}")
            loaded.append(fusion_model(options))
        progress(0.1, f"fusing with {options.model}")
        folder = Path(pair.short).parent  # the shot's session folder: its sidecar has the read-back ratio
        side = read_sidecar(folder) if (folder / SIDECAR_NAME).is_file() else None
        result = fuse_pair(pair.short, pair.long, out_path.with_suffix("." + out_format.lstrip(".")),
                           options, model=loaded[0], progress=False,
                           sidecar_ratio=sidecar_ratio(side) if side is not None else None)
        progress(1.0, "fused")
        return result.out_path

    return process

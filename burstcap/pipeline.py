"""The documented Python API: shoot a pair, develop it and fuse it, with progress callbacks.

Example (another program driving burstcap without the CLI)::

    from burstcap.pipeline import Pipeline, PipelineConfig
    from burstcap.shoot import ShootRequest

    pipe = Pipeline(PipelineConfig(out_root=Path("shots"), backend="gphoto2"),
                    progress=lambda event: print(event.stage, f"{event.fraction:.0%}", event.message))
    for result in pipe.run(ShootRequest(ratio=1/8, long_exposure_s=1/15), count=3):
        print(result.session.folder, result.fused)

Camera backends are looked up by name in the ``burstcap.backends`` entry-point group (or passed in as
an object), fusion models in ``deblurnet.models`` (see :mod:`burstcap.camera.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from burstcap.camera.backend import CameraBackend
from burstcap.camera.registry import DEFAULT_BACKEND, create_backend
from burstcap.process import Pair, ProcessOptions, fuse_one, sidecar_ratio
from burstcap.shoot import ShootEvent, ShootEventFn, ShootRequest, ShotSession, read_sidecar, shoot_pair

FUSED_STEM = "fused"


@dataclass(frozen=True)
class PipelineConfig:
    """Where sessions go, which camera backend, which model (``process.fuse``: the FuseOptions)."""

    out_root: Path = Path("burstcap-sessions")
    backend: str = DEFAULT_BACKEND
    camera: str | None = None
    port: str | None = None
    fuse: bool = True
    #: model, device, output format (no contact-sheet strips inside session folders by default)
    process: ProcessOptions = field(default_factory=lambda: ProcessOptions(contact_sheet=False))


@dataclass(frozen=True)
class PipelineResult:
    """One shot pair and, unless fusion was off, the fused image's path."""

    session: ShotSession
    fused: Path | None


class Pipeline:
    """Shoot (through a camera backend), develop and fuse; reports each :class:`ShootEvent` to the
    ``progress`` callback (stages 'shoot:<shoot_pair's stage>' and 'fuse').

    ``backend``: an unopened backend object to use instead of looking up ``config.backend``.
    """

    def __init__(self, config: PipelineConfig | None = None, progress: ShootEventFn | None = None,
                 backend: CameraBackend | None = None) -> None:
        self.config = config or PipelineConfig()
        self.progress: ShootEventFn = progress or (lambda event: None)
        self._backend = backend
        self._model: Any = None

    def make_backend(self) -> CameraBackend:
        """The backend object: the one given, else a new one from the entry-point registry."""
        if self._backend is not None:
            return self._backend
        return create_backend(self.config.backend, camera=self.config.camera, port=self.config.port)

    def shoot(self, request: ShootRequest, count: int = 1) -> list[ShotSession]:
        """Open the camera, shoot ``count`` pairs into ``config.out_root``, always release it."""
        sessions: list[ShotSession] = []
        with self.make_backend() as camera:
            for i in range(count):
                sessions.append(shoot_pair(camera, request, self.config.out_root,
                                           progress=self._scaled(i, count, 0.0, 1.0, "shoot")))
        return sessions

    def load_model(self) -> Any:
        """The fusion model of ``config.process.fuse`` (loaded once, then reused)."""
        if self._model is None:
            from burstcap.fuse import fusion_model

            self._model = fusion_model(self.config.process.fuse)
        return self._model

    def fuse(self, session: ShotSession) -> Path:
        """Develop and fuse one session's pair into ``<session>/fused<ext>``; returns the path.

        The exposure ratio comes from the settings the camera read back (the sidecar).
        """
        out = session.folder / f"{FUSED_STEM}{self.config.process.output_ext}"
        self.progress(ShootEvent("fuse", 0.0, f"fusing {session.folder.name}"))
        pair = Pair(session.folder, session.short, session.long,
                    sidecar_ratio(read_sidecar(session.folder)), "session")
        fuse_one(pair, out, self.load_model(), self.config.process)
        self.progress(ShootEvent("fuse", 1.0, str(out)))
        return out

    def run(self, request: ShootRequest, count: int = 1) -> list[PipelineResult]:
        """Shoot ``count`` pairs, then fuse each one (unless ``config.fuse`` is False)."""
        sessions = self.shoot(request, count)
        return [PipelineResult(s, self.fuse(s) if self.config.fuse else None) for s in sessions]

    def _scaled(self, index: int, count: int, start: float, end: float, prefix: str) -> ShootEventFn:
        span = (end - start) / count

        def report(event: ShootEvent) -> None:
            self.progress(ShootEvent(f"{prefix}:{event.stage}", start + span * (index + event.fraction),
                                     f"pair {index + 1}/{count}: {event.message}"))
        return report

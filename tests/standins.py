"""Pairs whose answer is known, stand-in networks, and a camera whose two exposures differ.

Used by tests/test_pixels.py (and importable by subprocesses started with ``tests/`` on PYTHONPATH):

- :func:`known_scene` / :func:`known_pair`: the short frame sees the scene at 1/``ratio`` of the long
  frame's brightness, with noise; the long frame sees it ``shift`` = (dy, dx) px further on and blurred
  along x (a centred box: no shift of its own). So the long frame aligned onto the short one is
  :attr:`KnownPair.aligned_long`, and the short frame times the ratio is :attr:`KnownPair.bright_short`.
- stand-in networks with the networks' signature ``model(short, long, noise)``:
  ``standin-short`` returns its short input (the output must have the long frame's brightness),
  ``standin-long`` returns its long input (the output must line up with the short frame: alignment
  really warps), ``standin-ramp`` adds a left-to-right ramp to its short input (not symmetric under
  flips, so a self-ensemble visibly averages it out), ``standin-mix`` mixes both inputs and the
  noise map (tests/test_same_pixels.py: one pair through every door gives the same pixels).
- :class:`ExposingVirtualCamera`: libgphoto2's virtual camera (the real gphoto2 backend and PTP code
  path) whose served file is, for each download, the frame of that capture: capture 1 (short) the
  short frame, capture 2 (long) the long one, each at its exposure time's brightness. The virtual
  camera itself duplicates one JPEG for every capture and reads it at download time; this class
  only rewrites that file (same byte size) before each download, as the light would have differed.
- :func:`plugin_site`: a folder with a ``.dist-info`` whose entry points register the above as
  ``deblurnet.models`` / ``burstcap.backends`` (what ``pip install`` of a plugin would write).
"""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------------- stand-in networks


class _StandIn(nn.Module):
    multiple = 1

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # a parameter: callers read its device and dtype


class ShortNet(_StandIn):
    """Returns its short input (network domain): the pipeline's output is the ratio-scaled short frame."""

    def forward(self, short: torch.Tensor, long: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        assert noise.shape[1] == 1 and noise.shape[-2:] == short.shape[-2:]
        return short + self.anchor


class LongNet(_StandIn):
    """Returns its long input: the pipeline's output is the long frame as aligned onto the short one."""

    def forward(self, short: torch.Tensor, long: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return long + self.anchor


RAMP = 0.2


class RampNet(_StandIn):
    """Short input plus a ramp from -RAMP/2 (left) to +RAMP/2 (right) of its own input: flipped or
    turned copies (a self-ensemble) get the ramp the other way round, so their mean has none."""

    def forward(self, short: torch.Tensor, long: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        w = short.shape[-1]
        ramp = torch.linspace(-RAMP / 2, RAMP / 2, w, dtype=short.dtype, device=short.device)
        return short + ramp + self.anchor


#: weights of :class:`MixNet`: short, long, noise map (network domain)
MIX = (0.6, 0.4, 4.0)
RECORD_ENV = "STANDIN_RECORD"
"""Folder where :class:`MixNet` saves what it was given (``NNN.npz``: short, long, noise), when set."""


class MixNet(_StandIn):
    """0.6 short + 0.4 long + 4 noise map: its output depends on both inputs and on the noise map, so
    a different ratio, alignment, colour match or noise map before the network changes the pixels.
    With ``$STANDIN_RECORD`` set it saves its inputs there, in call order."""

    def forward(self, short: torch.Tensor, long: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        folder = os.environ.get(RECORD_ENV)
        if folder:
            path = Path(folder)
            path.mkdir(parents=True, exist_ok=True)
            np.savez(path / f"{len(list(path.glob('*.npz'))):03d}.npz",
                     **{k: v.detach().cpu().numpy() for k, v in
                        (("short", short), ("long", long), ("noise", noise))})
        w_short, w_long, w_noise = MIX
        return w_short * short + w_long * long + w_noise * noise + self.anchor


def short_net(preset: str = "compact") -> nn.Module:
    return ShortNet()


def long_net(preset: str = "compact") -> nn.Module:
    return LongNet()


def ramp_net(preset: str = "compact") -> nn.Module:
    return RampNet()


def mix_net(preset: str = "compact") -> nn.Module:
    return MixNet()


# ------------------------------------------------------------------------------------- known pairs


def known_scene(height: int, width: int, margin: int = 16) -> np.ndarray:
    """Scene-linear (height + 2 margin, width + 2 margin, 3) float32: scikit-image's astronaut (rich
    texture everywhere), resized, values in about [0.005, 0.75]."""
    from skimage import data

    from isp.color import srgb_decode

    srgb = cv2.resize(data.astronaut(), (width + 2 * margin, height + 2 * margin),
                      interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return (np.asarray(srgb_decode(srgb), np.float32) * 0.75 + 0.005).astype(np.float32)


@dataclass(frozen=True)
class KnownPair:
    """short, long: scene-linear (H, W, 3) at their own exposures; ratio long/short; shift (dy, dx):
    the long frame's pixel (y, x) shows the short frame's scene point (y + dy, x + dx)."""

    short: np.ndarray
    long: np.ndarray
    ratio: float
    shift: tuple[int, int]
    aligned_long: np.ndarray  # the long frame warped onto the short one (the blurred scene there)
    bright_short: np.ndarray  # the short frame's scene at the long frame's brightness, noise-free


def known_pair(height: int = 128, width: int = 192, ratio: float = 8.0, shift: tuple[int, int] = (3, -5),
               noise: float = 0.0015, blur: int = 5, seed: int = 0) -> KnownPair:
    m = 16
    scene = known_scene(height, width, m)
    blurred = cv2.blur(scene, (blur, 1)) if blur > 1 else scene
    dy, dx = shift
    window = (slice(m, m + height), slice(m, m + width))
    moved = (slice(m + dy, m + dy + height), slice(m + dx, m + dx + width))
    rng = np.random.default_rng(seed)
    short = scene[window] / np.float32(ratio) + rng.normal(0, noise, (height, width, 3)).astype(np.float32)
    return KnownPair(short=np.clip(short, 0, None).astype(np.float32), long=blurred[moved].copy(),
                     ratio=ratio, shift=shift, aligned_long=blurred[window].copy(),
                     bright_short=scene[window].copy())


WHEN = datetime(2026, 3, 4, 5, 6, 7)


def write_dng_pair(folder: Path, pair: KnownPair, long_exposure_s: float = 1 / 15,
                   names: tuple[str, str] = ("short.dng", "long.dng")) -> tuple[Path, Path]:
    """The pair as two Bayer DNGs (isp.unprocess: they develop back to ``pair.short`` / ``pair.long``)
    whose EXIF exposure times differ by ``pair.ratio`` at one ISO."""
    from isp.color import srgb_encode
    from isp.metadata import CaptureMetadata
    from isp.unprocess import UnprocessParams, unprocess, write_unprocessed_dng

    params = UnprocessParams()
    paths = []
    for name, frame, exposure in ((names[0], pair.short, long_exposure_s / pair.ratio),
                                  (names[1], pair.long, long_exposure_s)):
        meta = CaptureMetadata("Acme", "Burst 1", exposure, 400.0, 4.0, WHEN)
        srgb = np.asarray(srgb_encode(np.clip(frame, 0, 1)), np.float32)
        paths.append(write_unprocessed_dng(folder / name, unprocess(srgb, params), params, meta))
    return paths[0], paths[1]


def write_png_pair(folder: Path, pair: KnownPair, long_exposure_s: float = 1 / 15) -> tuple[Path, Path]:
    """The pair as two 16-bit sRGB PNGs with EXIF exposure times differing by ``pair.ratio``."""
    from burstcap.fuse import write_output
    from isp.metadata import CaptureMetadata

    paths = folder / "short.png", folder / "long.png"
    for path, frame, exposure in ((paths[0], pair.short, long_exposure_s / pair.ratio),
                                  (paths[1], pair.long, long_exposure_s)):
        write_output(path, frame, CaptureMetadata("Acme", "Burst 1", exposure, 400.0, 4.0, WHEN), 16)
    return paths


# ------------------------------------------------------------------------------------ measurements


def shift_between(image: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(dy, dx) such that ``image`` (y, x) shows what ``reference`` shows at (y + dy, x + dx)
    (phase correlation of the green channels, Hann window; sub-pixel)."""
    a = np.ascontiguousarray(reference[..., 1], np.float64)
    b = np.ascontiguousarray(image[..., 1], np.float64)
    window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_64F)
    (sx, sy), _ = cv2.phaseCorrelate(b, a, window)
    return float(sy), float(sx)


def interior(image: np.ndarray, border: int = 12) -> np.ndarray:
    return image[border:-border, border:-border]


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    return float(10 * np.log10(peak ** 2 / np.mean((np.asarray(a, np.float64) - b) ** 2)))


# ---------------------------------------------------------------------------- an exposing camera


FRAMES_ENV = "STANDIN_FRAMES"
"""Folder holding ``scene.npz`` (the known pair's short and long scenes) for ExposingVirtualCamera."""
SERVED_NAME = "IMG_0001.JPG"
SERVED_SIZE = 400_000  # every served JPEG is padded to this size (the virtual camera keeps file sizes)


def _served_file() -> Path:
    return Path(os.environ["VCAMERADIR"]) / "DCIM" / "100TEST" / SERVED_NAME


def jpeg_bytes(linear: np.ndarray, size: int = SERVED_SIZE) -> bytes:
    """Scene-linear (H, W, 3) -> sRGB JPEG (quality 98), padded after its end marker to ``size``."""
    from isp.color import srgb_encode

    srgb = np.asarray(srgb_encode(np.clip(linear, 0, 1)), np.float32)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor((srgb * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 98])
    data = buf.tobytes()
    assert ok and len(data) <= size, len(data)
    return data + b"\0" * (size - len(data))


def prepare_virtual_camera(root: Path, pair: KnownPair) -> dict[str, str]:
    """A virtual-camera folder under ``root`` for :class:`ExposingVirtualCamera`; returns the
    environment variables selecting it (VCAMERADIR, STANDIN_FRAMES)."""
    folder = root / "vcamera" / "DCIM" / "100TEST"
    folder.mkdir(parents=True)
    (folder / SERVED_NAME).write_bytes(jpeg_bytes(pair.long))
    np.savez(root / "scene.npz", short=pair.short * np.float32(pair.ratio), long=pair.long)
    return {"VCAMERADIR": str(root / "vcamera"), FRAMES_ENV: str(root)}


try:
    from burstcap.camera.gphoto import GPhoto2Backend
except ImportError:  # pragma: no cover - gphoto2 missing: the tests using it skip
    GPhoto2Backend = object  # type: ignore[assignment,misc]


class ExposingVirtualCamera(GPhoto2Backend):  # type: ignore[misc,valid-type]
    """libgphoto2's virtual camera whose captures show the known pair: capture 2k+1 the short scene,
    2k+2 the long one, each scaled by its exposure time over the longer one of the pair."""

    name = "vcam-exposing"

    def __init__(self, camera: str | None = None, port: str | None = None) -> None:
        super().__init__(camera, port)
        frames = np.load(Path(os.environ[FRAMES_ENV]) / "scene.npz")
        self.scenes = (frames["short"], frames["long"])
        self.captured: list[tuple[str, str, int, float]] = []  # folder, name, frame, exposure

    def capture(self, timeout_s: float = 30.0):  # type: ignore[override]
        from burstcap.camera.settings import parse_shutter

        exposure = parse_shutter(self.widgets()["shutterspeed"].value) or 0.0
        files = super().capture(timeout_s)
        for f in files:
            self.captured.append((f.folder, f.name, len(self.captured) % 2, exposure))
        return files

    def download(self, file, dest):  # type: ignore[override]
        index = next(i for i, c in enumerate(self.captured) if (c[0], c[1]) == (file.folder, file.name))
        first = index - index % 2
        exposures = [c[3] for c in self.captured[first:first + 2]]
        _, _, frame, exposure = self.captured[index]
        scene = self.scenes[frame] * np.float32(exposure / max(exposures))
        _served_file().write_bytes(jpeg_bytes(scene))
        return super().download(file, dest)


# ---------------------------------------------------------------------------------------- plugins


def plugin_site(root: Path) -> Path:
    """A site folder registering the stand-ins (import path: this ``tests/`` folder)."""
    site = root / "standin-site"
    info = site / "burstcap_standins-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: burstcap-standins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [deblurnet.models]
        standin-short = standins:short_net
        standin-long = standins:long_net
        standin-ramp = standins:ramp_net
        standin-mix = standins:mix_net

        [burstcap.backends]
        vcam-exposing = standins:ExposingVirtualCamera
    """))
    return site


def plugin_env(site: Path, **extra: str) -> dict[str, str]:
    """os.environ with the plugin site and this folder on PYTHONPATH, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("IOLIBS", "CAMLIBS")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(HERE), os.environ.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def read_report(out: Path) -> dict:
    return json.loads(Path(f"{out}.json").read_text())

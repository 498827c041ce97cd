"""A held-out RAW set: Bayer DNG pairs made from a real camera's raw scene, for the whole RAW fuse path.

Every other test set hands the fuse path 8-bit sRGB frames. A tethered camera hands it RAW files: the
ISP develops them, the exposure ratio comes from their EXIF exposure times and ISOs, and the short
frame's noise map from the camera's noise profile at its ISO. This set measures that path on a scene
no network trained on, and what the noise profile does for it.

The scene is one real Bayer DNG (``raw/valid/Blackmagic.dng`` of ``../shared/data``: an outdoor lake
scene, 4128x2176 RGGB, a cinema camera in daylight). Its black-subtracted mosaic, scaled so that its
99th percentile lies at :data:`SCENE_LEVEL`, is taken as clean: its own noise is low and stays in the
truth. ``count`` crops of ``crop`` px, spread over the frame, give one pair each, taken as
``burstcap shoot`` takes a pair with a camera whose noise profile ships (:data:`CAMERA`, a Canon EOS 700D):

* ``long``: 1/15 s at ISO 100 (the profile's base ISO); the scene blurred by a camera-shake kernel
  (:func:`deblurnet.heldout.shake_kernel`, 6 to 24 px) and shifted by 1 to 4 px, in linear light, each
  CFA plane on its own (at half resolution, with the kernel and shift halved); noise drawn by
  :func:`hardware_profiles.sample_noisy` from the profile at ISO 100;
* ``short``: time ratio T (8, 16 or 32) and under-exposure U (1, 2 or 4, :data:`SCHEDULE`): 1/(15 T) s
  at ISO 100 T / U, the sharp scene at raw level 1/U, noise from the profile at that ISO (row noise
  where the profile has it);
* ``sharp``: the sharp scene at the long frame's exposure, without noise: the truth, developed by the
  same ISP as the two frames.

Each is a 14-bit DNG (black 512, white 16383) with the scene camera's white balance and :data:`CAMERA`'s
make and model, its exposure time and ISO, in ``raw/`` (``<name>-short.dng``, ``-long.dng``,
``-sharp.dng``), so ``burstcap fuse`` finds the profile and the ratio as for the camera's own files.
Beside them, :data:`LOUDER_PROFILE`: the camera's profile with four times its noise variance.

The folder is also a triplet folder (:mod:`deblurnet.data`): the three DNGs read by
:func:`isp.io.read_linear`, then put into the network domain exactly as the fuse path does
(:func:`burstcap.fuse.network_inputs`: the ratio from the metadata, the normalisation gain, the colour
match, the noise map from the profile). ``deblurnet evaluate`` scores the networks and baselines on it
like on every other set, and ``python -m burstcap.evaluation`` adds the whole command's rows, run on
the DNGs themselves (:mod:`burstcap.evaluation`).

    python -m burstcap.raw_testset ../shared/data/raw/valid/Blackmagic.dng data-cache/test-raw
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from burstcap.errors import BurstcapError
from burstcap.fuse import network_inputs, short_noise, to_network
from deblurnet.data import write_triplet
from deblurnet.heldout import shake_kernel
from deblurnet.synth.common import Triplet
from hardware_profiles import load_profile, sample_noisy
from isp.atomic import atomic_write_text
from isp.color import xyz_to_cam_from_cam_to_srgb
from isp.dng import write_dng
from isp.errors import IspError
from isp.exposure import exposure_ratio
from isp.io import read_linear
from isp.metadata import CaptureMetadata
from isp.raw import read_raw

CAMERA = "canon-eos-700d"
"""The hardware_profiles profile whose noise, make and model the pairs carry. The scene's own noise
(about 0.002 of white, robust estimate) stays in the truth, so the added noise must be well above it:
the Canon EOS 700D adds 0.0065 to 0.013 at ISO 800 to 3200 (at 0.15 of white), 9 to 15 dB more; a
low-noise sensor such as the Sony A7S II adds 0.0027 at ISO 800, no more than the scene holds, and
the truth's noise would then decide the scores."""
LOUDER_PROFILE = f"raw/{CAMERA}-x4.json"
"""Path, in the set, of :data:`CAMERA`'s profile with four times its noise variance (a wrong
calibration, for the row that shows what the profile does)."""
SCENE_LEVEL = 0.35
"""The scene mosaic's 99th percentile, normalised raw units (room for the white balance's gains)."""
SCHEDULE = ((8, 1), (16, 1), (32, 1), (8, 2), (16, 2), (32, 2), (16, 4), (32, 4))
"""(time ratio T, under-exposure U) of the pairs, in turn."""
LONG_EXPOSURE_S = 1 / 15
BASE_ISO = 100.0
BLACK, WHITE = 512, 16383
EXTENT_PX = (6.0, 24.0)
SHIFT_PX = (1.0, 4.0)
ROWS = (0.4, 0.65)
"""Heights of the crop rows' centres, as fractions of the frame: the middle of the frame, where the
detail is (the horizon and the water; trees, cars and people); the sky above and the lawn below are flat."""
MARGIN = 32
"""Scene pixels kept around each crop for the blur and the shift, px (even)."""
WHEN = datetime(2026, 11, 30, 12, 0, 0)


BAYER_PHASE = {"RGGB": (0, 0), "GRBG": (0, 1), "GBRG": (1, 0), "BGGR": (1, 1)}
"""(rows, columns) to drop so that a Bayer mosaic starts with its red site."""


def scene_mosaic(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mosaic (H, W) float32 normalised and scaled to :data:`SCENE_LEVEL`, white balance (3,),
    camera-to-sRGB matrix (3, 3)) of a Bayer RAW file, cut to start at a red site (RGGB);
    BurstcapError naming the file for anything else."""
    raw = read_raw(path)
    if raw.is_linear_raw or raw.cfa_pattern not in BAYER_PHASE:
        raise BurstcapError(f"{path}: need a Bayer RAW (RGGB, GRBG, GBRG or BGGR), got "
                            f"{'LinearRaw (demosaiced) data' if raw.is_linear_raw else raw.cfa_pattern}")
    dy, dx = BAYER_PHASE[raw.cfa_pattern]
    mosaic = np.maximum(np.asarray(raw.mosaic, np.float32), 0.0)[dy:, dx:]
    mosaic = mosaic[:mosaic.shape[0] // 2 * 2, :mosaic.shape[1] // 2 * 2]  # RGGB from its first pixel
    level = float(np.percentile(mosaic[::4, ::4], 99.0))
    if level <= 0:
        raise BurstcapError(f"{path}: the mosaic is black")
    return (mosaic * np.float32(SCENE_LEVEL / level), np.asarray(raw.white_balance, np.float32),
            np.asarray(raw.cam_to_srgb, np.float64))


def crop_origins(height: int, width: int, count: int, crop: int) -> list[tuple[int, int]]:
    """(y, x) of ``count`` crops in the rows of :data:`ROWS`, spread over the width; even (the Bayer
    phase is kept) and inside the margin."""
    if height < crop + 2 * MARGIN or width < crop + 2 * MARGIN:
        raise BurstcapError(f"the scene ({width}x{height}) is smaller than one crop of {crop} px and its margin")
    rows = ROWS[:1] if count == 1 else ROWS
    cols = -(-count // len(rows))
    ys = [min(max(f * height - crop / 2, MARGIN), height - crop - MARGIN) for f in rows]
    xs = np.linspace(MARGIN, width - crop - MARGIN, cols)
    return [(int(y) // 2 * 2, int(x) // 2 * 2) for y in ys for x in xs][:count]


def planes(mosaic: np.ndarray) -> np.ndarray:
    """RGGB mosaic (H, W) -> (H/2, W/2, 4) planes R, G1, G2, B."""
    return np.stack([mosaic[0::2, 0::2], mosaic[0::2, 1::2], mosaic[1::2, 0::2], mosaic[1::2, 1::2]], axis=2)


def mosaic_of(p: np.ndarray) -> np.ndarray:
    """Inverse of :func:`planes`."""
    h, w = p.shape[:2]
    out = np.empty((2 * h, 2 * w), np.float32)
    out[0::2, 0::2], out[0::2, 1::2], out[1::2, 0::2], out[1::2, 1::2] = (p[..., i] for i in range(4))
    return out


def shaken_mosaic(mosaic: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, object]]:
    """The mosaic blurred by a camera-shake kernel and shifted, each CFA plane on its own."""
    extent = float(rng.uniform(*EXTENT_PX))
    kernel = shake_kernel(extent / 2, rng)
    angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(*SHIFT_PX)
    dx, dy = dist * np.cos(angle), dist * np.sin(angle)
    p = planes(mosaic)
    blurred = np.stack([cv2.filter2D(p[..., i], -1, kernel, borderType=cv2.BORDER_REFLECT_101)
                        for i in range(4)], axis=2)
    m = np.array([[1, 0, dx / 2], [0, 1, dy / 2]], np.float64)
    moved = cv2.warpAffine(blurred, m, (p.shape[1], p.shape[0]), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT_101)
    return mosaic_of(moved), {"extent_px": extent, "shift_px": [float(dx), float(dy)]}


def write_frame(path: Path, mosaic: np.ndarray, wb: np.ndarray, cam_to_srgb: np.ndarray, exposure_s: float,
                iso: float) -> Path:
    """A normalised mosaic as a 14-bit DNG of :data:`CAMERA` (make, model, exposure, ISO) with the scene
    camera's white balance ``wb`` (3,) and colour (``cam_to_srgb`` (3, 3))."""
    profile = load_profile(CAMERA)
    adu = np.clip(np.rint(BLACK + mosaic * (WHITE - BLACK)), 0, WHITE).astype(np.uint16)
    meta = CaptureMetadata(profile.make, profile.model, exposure_s, iso, 4.0, WHEN)
    return write_dng(path, adu, "RGGB", black_level=BLACK, white_level=WHITE, as_shot_neutral=1.0 / wb,
                     xyz_to_cam=xyz_to_cam_from_cam_to_srgb(cam_to_srgb), metadata=meta)


def noisy(mosaic: np.ndarray, iso: float, rng: np.random.Generator) -> np.ndarray:
    """The mosaic with :data:`CAMERA`'s noise at ``iso``, clipped at white."""
    profile = load_profile(CAMERA)
    a, b = profile.params(iso)
    return np.minimum(sample_noisy(mosaic, a, b, rng, cfa=profile.cfa, row_sigma=profile.row_sigma(iso)), 1.0)


def raw_paths(root: Path, name: str) -> tuple[Path, Path, Path]:
    """(short, long, sharp) DNGs of triplet ``name`` in ``root/raw``."""
    stem = Path(name).stem
    return tuple(Path(root) / "raw" / f"{stem}-{key}.dng" for key in ("short", "long", "sharp"))  # type: ignore[return-value]


def set_gains(root: Path) -> dict[str, float]:
    """Each pair's normalisation gain (triplet name -> gain), from the set's meta.json: its truth is the
    sharp DNG's development times that gain, sRGB-encoded."""
    path = Path(root) / "meta.json"
    try:
        return {str(p["name"]): float(p["gain"]) for p in json.loads(path.read_text())["pairs"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BurstcapError(f"{path}: not a RAW set's meta.json ({exc})") from None


def is_raw_set(root: Path) -> bool:
    """Whether ``root`` was made by :func:`build` (it holds ``raw/``)."""
    return (Path(root) / "raw").is_dir()


def build(source: Path, out: Path, count: int = 8, crop: int = 512, seed: int = 0) -> list[dict[str, object]]:
    """Make the set from the Bayer RAW ``source`` in ``out`` (see the module docstring); returns one
    record per pair and writes them to ``out/meta.json``."""
    if count < 1 or crop < 64 or crop % 16:
        raise BurstcapError(f"need count >= 1 and a crop of at least 64 px, a multiple of 16; got {count}, {crop}")
    scene, wb, cam_to_srgb = scene_mosaic(Path(source))
    (Path(out) / "raw").mkdir(parents=True, exist_ok=True)
    records = []
    try:
        origins = crop_origins(*scene.shape, count, crop)
    except BurstcapError as exc:
        raise BurstcapError(f"{source}: {exc}") from None
    for i, (y, x) in enumerate(tqdm(origins, desc="raw set", unit="pair", leave=False)):
        rng = np.random.default_rng([seed, i])
        ratio_t, under = SCHEDULE[i % len(SCHEDULE)]
        iso_short = BASE_ISO * ratio_t / under
        window = scene[y - MARGIN:y + crop + MARGIN, x - MARGIN:x + crop + MARGIN]
        long_scene, shake = shaken_mosaic(window, rng)
        inner = (slice(MARGIN, MARGIN + crop), slice(MARGIN, MARGIN + crop))
        name = f"crop-{i:02d}.png"
        short_path, long_path, sharp_path = raw_paths(Path(out), name)
        colour = (wb, cam_to_srgb)
        write_frame(long_path, noisy(long_scene[inner], BASE_ISO, rng), *colour, LONG_EXPOSURE_S, BASE_ISO)
        write_frame(short_path, noisy(window[inner] / under, iso_short, rng), *colour, LONG_EXPOSURE_S / ratio_t,
                    iso_short)
        write_frame(sharp_path, window[inner], *colour, LONG_EXPOSURE_S, BASE_ISO)
        short, long, sharp = (read_linear(p) for p in (short_path, long_path, sharp_path))
        ratio = exposure_ratio(long, short).ratio
        law = short_noise(short, []).law
        inputs = network_inputs(short.rgb, long.rgb, ratio, noise_law=law)
        write_triplet(Path(out), name, Triplet(inputs.short, inputs.long, to_network(sharp.rgb, inputs.gain),
                                               ratio, inputs.noise))
        records.append({"name": name, "origin": [y, x], "time_ratio": ratio_t, "underexposure": under,
                        "iso_short": iso_short, "iso_long": BASE_ISO, "ratio": ratio, "gain": inputs.gain, **shake})
    atomic_write_text(Path(out) / LOUDER_PROFILE, json.dumps(load_profile(CAMERA).scaled(4.0).to_dict(), indent=1))
    atomic_write_text(Path(out) / "meta.json", json.dumps(
        {"set": "raw", "source": str(source), "camera": CAMERA, "seed": seed, "crop": crop, "pairs": records},
        indent=1))
    return records


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m burstcap.raw_testset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a Bayer RAW file (any Bayer phase) to take the scene from")
    parser.add_argument("out", type=Path, help="folder to write the set to")
    parser.add_argument("--count", type=int, default=8, help="pairs (default 8)")
    parser.add_argument("--crop", type=int, default=512, help="crop side, px (default 512)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shake and the noise (default 0)")
    args = parser.parse_args(argv)
    try:
        records = build(args.source, args.out, args.count, args.crop, args.seed)
    except (BurstcapError, IspError) as exc:
        print(f"burstcap.raw_testset: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {len(records)} RAW pair(s) from {args.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

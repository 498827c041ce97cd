"""The pair -> fused image pipeline: read, exposure ratio, normalise, align, network, write.

Steps of :func:`fuse_frames`, the one fuse path of every door (``fuse``, ``process``, ``shoot``, the
``Pipeline`` API, the HTTP service and ``burstcap demo``; :func:`fuse_pair` reads two files, then calls
it), with the model from :func:`fusion_model`, the one model cache:

1. read both files with :func:`isp.io.read_linear` (RAW in any format LibRaw reads, or 8/16-bit sRGB);
2. the exposure ratio long/short: ``FuseOptions.ratio``, else from the capture metadata, else estimated
   a session sidecar's ratio (``shoot``), else estimated from the images
   (:func:`isp.exposure.exposure_ratio`);
3. the short frame is multiplied by the ratio so both frames have the long frame's brightness, and by
   per-channel gains that give it the long frame's colour balance (:func:`deblurnet.colour.match_colour`:
   the long frame has the right colour; the short one may carry a cast);
4. **exposure normalisation** (RAW input): both frames are multiplied by one gain ``g`` chosen so that
   the 99th percentile of the long frame's brightest channel maps to ``FuseOptions.target_level`` (0.9)
   of the sRGB range, but no further than the 99.9th percentile of its unclipped pixels reaching 1
   (:func:`normalisation_gain`); they are clipped to [0, 1] and sRGB-encoded (the network domain).
   After the network the result is sRGB-decoded and divided by ``g``, so the output is scene-linear at
   the long frame's exposure. Dark RAW frames thus use the network's input range, clipping at most the
   brightest 0.1% of the pixels the sensor kept (a cap checked in tests; the RAW set of
   :mod:`burstcap.raw_testset` runs this path on real raw data). 8/16-bit sRGB files are
   display-referred (``LinearImage.display_referred``): the camera rendered them into the range the
   network learned from, so a pair of them keeps its brightness (``g`` = 1); float TIFFs are scene-linear and normalised like RAW frames. Measured with the
   shipped weights on PolyU's 45 real-noise pairs as sRGB files: the earlier rule (always 0.9, 1% may
   clip) lost 12 dB on a dark crop with a bright object and 0.57 dB on average against ``g`` = 1;
   on stills ``g`` = 1 gained 0.12 dB, on LSD2 it lost 0.08 dB, on the camera set nothing;
5. the long frame is aligned onto the short one (:mod:`burstcap.align`); pixels it does not cover
   take the short frame's values;
6. the ghost guard (:mod:`burstcap.ghost`): where the aligned long frame disagrees with the short
   one (moving subjects, misalignment, spread light), the long frame is replaced by the denoised
   short frame, so the network sees no ghost; then the network (:func:`deblurnet.inference.fuse`,
   tiled for large images);
7. colour: per-channel gains give the result the aligned long frame's global colour balance
   (:func:`deblurnet.colour.colour_gains`); the short frame already got it before the network
   (step 3, :func:`deblurnet.colour.match_colour`, as in training), so this only corrects what the
   network itself shifted;
8. the output is written atomically by :func:`isp.io.write_image` (a linear DNG by
   :func:`isp.dng.write_linear_dng`); its format follows the extension; the report of the shot goes
   beside it (:mod:`burstcap.report`).

The network also takes a noise map of the short frame (:mod:`deblurnet.noise_map`): for RAW input from
the camera's noise profile at the short frame's ISO (``hardware_profiles``; a profile made by
``burstcap calibrate`` is found by the camera's make and model), otherwise estimated from the image,
with a warning when the camera has no profile (:func:`short_noise`). The profile used is reported in
:class:`FuseResult`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

import tomlconfig

from burstcap.align import Alignment, AlignOptions, estimate_alignment, warp_image
from burstcap.errors import BurstcapError
from burstcap.ghost import guard, write_confidence
from burstcap.report import shot_report, write_report
from deblurnet.colour import block_gains, colour_blocks, match_colour
from deblurnet.noise_map import estimated_noise_map, law_noise_map, matrix_variance_gain, network_law
from deblurnet.errors import DeblurnetError
from hardware_profiles import ProfileError, load_profile
from hardware_profiles.registry import GENERIC_NAME, profile_for
from deblurnet.inference import (DEFAULT_OVERLAP, DEFAULT_TILE, Progress, auto_tile, check_threads,
                                 describe_device, fuse, load_model)
from isp.chunks import map_rows
from isp.color import srgb_decode, srgb_encode
from isp.dng import write_linear_dng
from isp.formats import OUTPUT_BITS
from isp.exposure import exposure_ratio
from isp.io import LinearImage, read_linear, write_image
from isp.limits import check_output_pixels
from isp.metadata import CaptureMetadata

log = logging.getLogger(__name__)

NoiseLaw = tuple[np.ndarray, np.ndarray]
"""A short frame's noise law (a (3,), b (3,)) per R, G, B: variance a * x + b at linear level x."""



@dataclass(frozen=True)
class FuseOptions:
    """How to fuse a pair (every field can come from the CLI or a TOML ``[fuse]`` table).

    ``ratio``: long/short brightness ratio (None: metadata, else estimated from the images).
    ``tile`` / ``overlap``: tiled inference in pixels (tile 0: whole image at once; None: whole image
    up to :data:`deblurnet.inference.WHOLE_IMAGE_PIXELS`, else tiles of ``DEFAULT_TILE``).
    ``bits``: output bit depth for PNG (8 or 16; JPEG is 8, TIFF 16). ``target_level``: where the long
    frame's 99th percentile lands in the linear [0, 1] range before sRGB encoding, for RAW input (sRGB
    files keep their brightness; :func:`normalisation_gain` caps it). ``threads``: torch
    CPU threads (None: the physical cores). ``ghost_guard``: where the long frame disagrees with the
    short one, give the network the denoised short frame instead (:mod:`burstcap.ghost`).
    ``profile``: noise profile (name or JSON file) for the short frame's noise map (None: the
    camera's own; see :func:`short_noise`).
    """

    model: str = "deblur-rnn"
    weights: Path | None = None
    device: str = "auto"
    ratio: float | None = None
    tile: int | None = None
    overlap: int = DEFAULT_OVERLAP
    align: bool = True
    motion: str = "homography"
    bits: int | None = None
    target_level: float = 0.9
    ensemble: int = 1
    colour_match: bool = True
    threads: int | None = None
    profile: str | None = None
    ghost_guard: bool = True

    def validate(self) -> FuseOptions:
        """Raise BurstcapError on impossible values; returns self."""
        if self.ratio is not None:
            check_ratio(self.ratio)
        tile = DEFAULT_TILE if self.tile is None else self.tile
        if tile < 0 or self.overlap < 0 or (tile and self.overlap >= tile):
            raise BurstcapError(f"need tile >= 0 and 0 <= overlap < tile, got tile {self.tile}, "
                                f"overlap {self.overlap}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise BurstcapError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.motion not in ("homography", "affine", "translation"):
            raise BurstcapError(f"motion must be homography, affine or translation, got {self.motion!r}")
        if self.bits not in (None, 8, 16):
            raise BurstcapError(f"bits must be 8 or 16, got {self.bits}")
        try:
            check_threads(self.threads)
        except DeblurnetError as exc:
            raise BurstcapError(str(exc)) from None
        if self.ensemble not in (1, 2, 4, 8):
            raise BurstcapError(f"ensemble must be 1, 2, 4 or 8, got {self.ensemble}")
        if not 0.05 <= self.target_level <= 1.0:
            raise BurstcapError(f"target_level must be in [0.05, 1], got {self.target_level}")
        return self

    def align_options(self) -> AlignOptions | bool:
        """The ``align`` argument of :func:`fuse_arrays`: AlignOptions with ``motion``, or False."""
        return AlignOptions(motion=self.motion) if self.align else False  # type: ignore[arg-type]

    def array_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`fuse_arrays` these options set (alignment, tiling, exposure
        target, ensemble, colour match, ghost guard): one mapping for every caller."""
        return {"align": self.align_options(), "tile": self.tile, "overlap": self.overlap,
                "target_level": self.target_level, "ensemble": self.ensemble,
                "colour_match": self.colour_match, "ghost_guard": self.ghost_guard}


def parse_ratio(text: str) -> float:
    """``"8"``, ``"1/8"``, ``"0.125"`` -> 8.0: the long/short ratio (values below 1 are inverted)."""
    try:
        num, _, den = text.partition("/")
        value = float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError):
        raise BurstcapError(f"ratio {text!r} is not a number like 8 or 1/8") from None
    if not (math.isfinite(value) and value > 0):
        raise BurstcapError(f"ratio {text!r} must be positive")
    return check_ratio(1.0 / value if value < 1.0 else value)


#: Exposure ratios a camera can produce (30 s against 1/8000 s at equal ISO is 240000; with the ISO
#: range on top, anything beyond 1e5 either way is a typo or broken metadata).
RATIO_RANGE = (1e-5, 1e5)


def check_ratio(ratio: float, source: str = "") -> float:
    """``ratio`` (long/short brightness) if it is in :data:`RATIO_RANGE`, else BurstcapError."""
    low, high = RATIO_RANGE
    if not (math.isfinite(ratio) and low <= ratio <= high):
        origin = f" (from {source})" if source else ""
        raise BurstcapError(f"exposure ratio {ratio:g}{origin} is outside what a camera can produce "
                            f"({low:g} .. {high:g})")
    return ratio


#: Smallest frame side the pipeline fuses (alignment and the network's strides need some pixels).
MIN_SIDE = 16


def check_pair(short: Any, long: Any) -> None:
    """BurstcapError unless two read frames (:class:`isp.io.LinearImage`) have one size, at least
    :data:`MIN_SIDE` pixels on each side."""
    (h, w), (lh, lw) = short.rgb.shape[:2], long.rgb.shape[:2]
    if (h, w) != (lh, lw):
        raise BurstcapError(f"{long.path}: size {lw}x{lh} differs from {short.path} ({w}x{h}); "
                            "SHORT and LONG must come from one camera")
    if min(h, w) < MIN_SIDE:
        raise BurstcapError(f"{short.path}: {w}x{h} pixels is too small to fuse (at least "
                            f"{MIN_SIDE}x{MIN_SIDE})")


def load_options(path: str | Path, base: FuseOptions | None = None) -> FuseOptions:
    """FuseOptions from the ``[fuse]`` table of a TOML file (or its top level when there is none),
    on top of ``base`` (:mod:`tomlconfig`); ``ratio`` may be a string like "1/8". Unknown keys, wrong
    types and impossible values are BurstcapErrors naming the file (and the key)."""
    try:
        document = tomlconfig.read_toml(path)
        table = document.get("fuse", document)
        ratio = table.get("ratio") if isinstance(table, dict) else None
        if isinstance(ratio, (int, float, str)) and not isinstance(ratio, bool):  # "1/8", 0.125 -> 8.0
            table = {**table, "ratio": parse_ratio(str(ratio))}
        options = tomlconfig.from_dict(FuseOptions, table, source=str(path), base=base or FuseOptions(),
                                       noun="fuse option")
        return options.validate()
    except tomlconfig.ConfigError as exc:
        raise BurstcapError(str(exc)) from None
    except BurstcapError as exc:
        raise BurstcapError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class FusedArrays:
    """What :func:`fuse_arrays` returns.

    ``rgb``: (H, W, 3) float32 scene-linear at the long frame's exposure. ``gain``: the exposure
    normalisation applied before the network (and undone after). ``alignment``: the warp used.
    ``seconds``: wall time of each step ("normalise", "align", "guard", "network", "decode").
    ``colour``: the per-channel gains (3,) that matched the long frame's colour balance (ones when
    off). ``confidence``: the ghost guard's (H, W) float32 map in [0, 1] (1: the long frame used, 0:
    replaced by the denoised short frame before the network; None when the guard is off);
    ``short_share``: the share of the picture the guard took from the short frame alone (mean of
    1 - confidence).
    """

    rgb: np.ndarray
    gain: float
    alignment: Alignment
    seconds: dict[str, float] = field(default_factory=dict)
    colour: np.ndarray = field(default_factory=lambda: np.ones(3, np.float32))
    confidence: np.ndarray | None = None
    short_share: float = 0.0


@dataclass(frozen=True)
class FuseResult:
    """The outcome of :func:`fuse_pair`.

    ``ratio``: long/short brightness ratio used; ``ratio_source``: "option", "sidecar", "metadata",
    "image" or "image-global" (:func:`fuse_frames`).
    ``profile``: noise profile name for RAW inputs (None for sRGB files); ``warnings``: human lines.
    ``short_share``: share of the picture the ghost guard took from the short frame (None: guard off).
    ``report``: the report JSON written beside the output (:mod:`burstcap.report`).
    """

    out_path: Path
    width: int
    height: int
    ratio: float
    ratio_source: str
    gain: float
    alignment: Alignment
    model: str
    device: str
    profile: str | None
    seconds: float
    warnings: tuple[str, ...] = field(default_factory=tuple)
    short_share: float | None = None
    report: Path | None = None


CLIPPED_LEVEL = 0.99
"""A long-frame value (brightest channel, scene-linear) at or above this is taken as clipped already."""


def normalisation_gain(long_lin: np.ndarray, target_level: float = 0.9) -> float:
    """Gain mapping the 99th percentile of the long frame's brightest channel to ``target_level``, but
    at most the gain that brings the 99.9th percentile of its unclipped pixels (below
    :data:`CLIPPED_LEVEL`) to 1, so at most 0.1% of the pixels the camera kept get clipped.

    ``long_lin``: (H, W, 3) scene-linear. Raises BurstcapError when the frame is black.
    """
    step = max(1, int(math.sqrt(long_lin.shape[0] * long_lin.shape[1] / 1e6)))  # ~1 MP sample
    sample = long_lin[::step, ::step].max(axis=-1)
    level = float(np.percentile(sample, 99.0))
    if not math.isfinite(level) or level <= 1e-6:
        raise BurstcapError("the long frame is black (99th percentile is zero): nothing to fuse")
    unclipped = sample[sample < CLIPPED_LEVEL]
    top = float(np.percentile(unclipped, 99.9)) if unclipped.size else 0.0
    return target_level / level if top <= 1e-6 else min(target_level / level, 1.0 / top)


def to_network(linear: np.ndarray, gain: float) -> np.ndarray:
    """Scene-linear (H, W, 3) -> network domain: times ``gain``, clipped to [0, 1], sRGB-encoded
    (a block of rows at a time, on all cores: :func:`isp.chunks.map_rows`)."""
    def block(rows: np.ndarray) -> np.ndarray:
        scaled = np.multiply(rows, np.float32(gain), dtype=np.float32)
        np.clip(scaled, 0.0, 1.0, out=scaled)
        return srgb_encode(scaled)

    return map_rows(block, np.empty(linear.shape, np.float32), linear)


def from_network(encoded: np.ndarray, gain: float) -> np.ndarray:
    """Network domain (H, W, 3) -> scene-linear: clipped to [0, 1], sRGB-decoded, divided by ``gain``
    (a block of rows at a time, on all cores)."""
    def block(rows: np.ndarray) -> np.ndarray:
        linear = srgb_decode(np.clip(rows, 0.0, 1.0).astype(np.float32, copy=False))
        linear /= np.float32(gain)
        return linear

    return map_rows(block, np.empty(encoded.shape, np.float32), encoded)


@dataclass
class NetworkInputs:
    """A pair in the network domain, before alignment (:func:`network_inputs`).

    ``short``, ``long``: (H, W, 3) float32 sRGB-encoded [0, 1], the short frame ratio-scaled and given
    the long frame's colour balance; ``noise``: (H, W, 1) float32, the short frame's noise map;
    ``gain``: the normalisation gain both frames were multiplied by (:func:`normalisation_gain`).
    """

    short: np.ndarray
    long: np.ndarray
    noise: np.ndarray
    gain: float


def network_inputs(short_lin: np.ndarray, long_lin: np.ndarray, ratio: float, *, target_level: float = 0.9,
                   noise_law: NoiseLaw | None = None, display_referred: bool = False) -> NetworkInputs:
    """Steps 3 and 4 of the module docstring and the noise map: what the network is given, before the
    long frame is aligned. Arguments as for :func:`fuse_arrays`."""
    gain = 1.0 if display_referred else normalisation_gain(long_lin, target_level)
    short_n = to_network(short_lin, gain * ratio)
    long_n = to_network(long_lin, gain)
    short_n, short_colour = match_colour(short_n, long_n)
    if noise_law is None:
        noise = estimated_noise_map(short_n)
    else:
        noise = law_noise_map(short_n, *network_law(noise_law[0], noise_law[1], gain * ratio * short_colour))
    return NetworkInputs(short_n, long_n, noise, gain)


def fuse_arrays(short_lin: np.ndarray, long_lin: np.ndarray, ratio: float, model: nn.Module, *,
                align: bool | AlignOptions = True, tile: int | None = None,
                overlap: int = DEFAULT_OVERLAP, target_level: float = 0.9,
                progress: Progress | bool | None = None, ensemble: int = 1, ghost_guard: bool = True,
                colour_match: bool = True, noise_law: NoiseLaw | None = None,
                display_referred: bool = False) -> FusedArrays:
    """Fuse a developed pair; see the module docstring for the steps.

    ``short_lin``, ``long_lin``: (H, W, 3) float32 scene-linear, each at its own exposure (the short
    one is *not* yet scaled). ``ratio``: long/short brightness ratio (> 0). ``model``: from
    :func:`deblurnet.inference.load_model`. ``align``: True, False, or AlignOptions. ``tile``: tile
    side in px, 0 for the whole image at once, None for :func:`deblurnet.inference.auto_tile`. ``ensemble``:
    self-ensemble size of the network (1, 2, 4 or 8; see :func:`deblurnet.inference.fuse`).
    ``colour_match``: give the result the long frame's colour balance (:func:`deblurnet.colour.colour_gains`).
    ``ghost_guard``: where the aligned long frame disagrees with the short one, give the network the
    denoised short frame instead (:func:`burstcap.ghost.guard`).
    ``noise_law``: the short frame's noise (a (3,), b (3,)) in its own scene-linear units (variance
    a * x + b; from the camera's noise profile at its ISO, :func:`short_noise`); None: the noise map is
    estimated from the image (:mod:`deblurnet.noise_map`). ``display_referred``: the frames come from
    8/16-bit sRGB files and keep their brightness (gain 1); False: RAW or float TIFF, normalised
    (:func:`normalisation_gain`).
    """
    if short_lin.shape != long_lin.shape or short_lin.ndim != 3 or short_lin.shape[2] != 3:
        raise BurstcapError(f"short and long frames must be (H, W, 3) of one size, got "
                            f"{short_lin.shape} and {long_lin.shape}")
    if not (math.isfinite(ratio) and ratio > 0):
        raise BurstcapError(f"exposure ratio must be positive, got {ratio}")
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step], clock = now - clock, now

    inputs = network_inputs(short_lin, long_lin, ratio, target_level=target_level, noise_law=noise_law,
                            display_referred=display_referred)
    short_n, long_n, noise, gain = inputs.short, inputs.long, inputs.noise, inputs.gain
    del inputs
    lap("normalise")
    if align is False:
        alignment = Alignment.identity()
    else:
        options = align if isinstance(align, AlignOptions) else AlignOptions()
        alignment = estimate_alignment(short_n, long_n, options)
        long_n = warp_image(long_n, alignment, fill=short_n)
    lap("align")
    guarded = guard(short_n, long_n) if ghost_guard else None
    if guarded is not None:
        long_n = guarded.long
    lap("guard")
    net_tile = auto_tile(*short_n.shape[:2]) if tile is None else (tile or None)
    sharp = fuse(model, short_n, long_n, noise, tile=net_tile, overlap=overlap, progress=progress,
                 ensemble=ensemble)
    del short_n
    lap("network")
    reference = colour_blocks(long_n) if colour_match else None  # before the fused frame is decoded
    del long_n
    rgb = from_network(sharp, 1.0)  # decoded once, for the colour gains and the output
    del sharp
    colour = (block_gains(colour_blocks(rgb, linear=True), reference) if reference is not None
              else np.ones(3, np.float32))
    map_rows(lambda rows: rows / np.float32(gain) * colour, rgb, rgb)
    lap("decode")
    return FusedArrays(rgb, gain, alignment, seconds, colour, guarded.confidence if guarded else None,
                       guarded.short_share if guarded else 0.0)


def output_bits(out_path: Path, bits: int | None) -> int:
    """The bit depth to write ``out_path`` with; BurstcapError for unknown extensions or depths."""
    suffix = out_path.suffix.lower()
    if suffix not in OUTPUT_BITS:
        raise BurstcapError(f"{out_path}: unsupported output format {suffix or '(no extension)'!r}; "
                            f"use one of {', '.join(sorted(OUTPUT_BITS))}")
    allowed = OUTPUT_BITS[suffix]
    if bits is None:
        return allowed[0]
    if bits not in allowed:
        raise BurstcapError(f"{out_path}: {suffix} holds {' or '.join(map(str, allowed))}-bit images, "
                            f"not {bits}-bit")
    return bits


def write_output(out_path: Path, rgb_linear: np.ndarray, metadata: CaptureMetadata | None,
                 bits: int, camera: LinearImage | None = None) -> None:
    """Write scene-linear (H, W, 3) as sRGB atomically, with ``metadata`` as EXIF
    (:func:`isp.io.write_image`: TIFF tags, or an EXIF block in PNG/JPEG).

    ``.dng``: a 16-bit linear DNG (:func:`isp.dng.write_linear_dng`) in the camera RGB of ``camera``
    (an :class:`isp.io.LinearImage` read from a RAW file: its white balance and colour matrix; sRGB
    primaries and neutral balance for other inputs or None), which raw developers open like the
    camera's own RAW.

    An empty result, or one holding NaN/inf, is refused (IspError) and nothing is written.
    """
    check_output_pixels(out_path, rgb_linear)
    if out_path.suffix.lower() == ".dng":
        write_linear_dng(out_path, rgb_linear, camera.cam_to_srgb if camera else None,
                         camera.white_balance if camera else None, metadata)
        return
    write_image(out_path, rgb_linear, metadata=metadata, bits=bits)


@dataclass(frozen=True)
class ShortNoise:
    """Where the short frame's noise map comes from (:mod:`deblurnet.noise_map`).

    ``profile``: the noise profile name (None: none used); ``iso``: the short frame's ISO;
    ``law``: (a (3,), b (3,)) per R, G, B in normalised raw units at that ISO, or None when the map is
    estimated from the image (sRGB input, a camera without a measured profile, a RAW without ISO).
    """

    profile: str | None
    iso: float | None = None
    law: NoiseLaw | None = None

    @property
    def source(self) -> str:
        """"profile" or "estimated", for reports."""
        return "profile" if self.law is not None else "estimated"


def short_noise(image: Any, warnings: list[str], profile: str | Path | None = None) -> ShortNoise:
    """The noise law of a read short frame (:class:`isp.io.LinearImage`) for its noise map.

    RAW input: ``profile`` (a name or a JSON file, e.g. from ``burstcap calibrate``) when given, else
    the camera's own (``hardware_profiles.profile_for``), at the frame's ISO. The generic profile is a
    guess, not a measurement, so a camera without a profile gets a map estimated from the image
    instead, with a warning; so does a RAW without ISO. sRGB input: estimated (its noise went through
    the camera's processing; a raw law does not describe it) unless ``profile`` is given.

    The law is the profile's raw law times the variance gain of the file's colour matrix per channel
    (:func:`deblurnet.noise_map.matrix_variance_gain`: 2.4 to 4.8 for the cameras in ../shared/data), which
    amplifies the noise on its way to linear sRGB: the synthesis renders raw pairs without a colour
    matrix, so its maps and the developed frames agree without it. Like the synthesis, the law leaves
    the white balance's gain out (docs/training.md).
    """
    meta = image.metadata
    if profile is None and not image.is_raw:
        return ShortNoise(None)
    registry_log = logging.getLogger("hardware_profiles.registry")
    was_disabled, registry_log.disabled = registry_log.disabled, True  # we report it ourselves
    try:
        found = load_profile(profile) if profile is not None else profile_for(meta.make, meta.model)
    except ProfileError as exc:
        if profile is not None:
            raise BurstcapError(f"noise profile {profile}: {exc}") from None
        warnings.append(f"no noise profile available ({exc}): noise level estimated from the image")
        return ShortNoise(None)
    finally:
        registry_log.disabled = was_disabled
    if found.name == GENERIC_NAME:
        camera = f"{meta.make or ''} {meta.model or ''}".strip() or "?"
        if meta.make and meta.model and meta.model.lower().startswith(meta.make.lower()):
            camera = meta.model
        warnings.append(f"no noise profile for camera {camera}: noise level estimated from the image "
                        f"(run 'burstcap calibrate' to measure this camera)")
        return ShortNoise(GENERIC_NAME)
    iso = getattr(meta, "iso", None)
    if not iso or not math.isfinite(float(iso)) or float(iso) <= 0:
        warnings.append(f"{image.path}: no ISO in the metadata: noise level estimated from the image, "
                        f"not from the {found.name} profile")
        return ShortNoise(found.name)
    a, b = found.channel_params(float(iso))
    gain = matrix_variance_gain(image.cam_to_srgb)
    return ShortNoise(found.name, float(iso), (np.asarray(a, np.float32) * gain, np.asarray(b, np.float32) * gain))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def fuse_pair(short_path: str | Path, long_path: str | Path, out_path: str | Path,
              options: FuseOptions | None = None, model: nn.Module | None = None,
              progress: Progress | bool | None = None,
              confidence: str | Path | None = None, sidecar_ratio: float | None = None) -> FuseResult:
    """Fuse the files ``short_path`` and ``long_path`` into ``out_path`` (written atomically): check
    the paths, read both files, then :func:`fuse_frames`, the one path every door shares.

    ``model``: an already loaded model (default: load ``options.model``; reusing one saves the load
    time in batch work). Inputs are never modified. Raises BurstcapError / IspError / DeblurnetError
    with a message naming the file on bad input. ``confidence``, ``sidecar_ratio``: see
    :func:`fuse_frames`.
    """
    start = time.perf_counter()
    opts = (options or FuseOptions()).validate()
    short_path, long_path, out_path = Path(short_path), Path(long_path), Path(out_path)
    output_bits(out_path, opts.bits)
    for src in (short_path, long_path):
        if _same_file(src, out_path):
            raise BurstcapError(f"{out_path}: the output would overwrite an input")
    if not out_path.parent.is_dir():
        raise BurstcapError(f"{out_path.parent}: output folder does not exist")
    if confidence is not None and not opts.ghost_guard:
        raise BurstcapError(f"{confidence}: a confidence map needs the ghost guard (drop --no-ghost-guard)")
    with ThreadPoolExecutor(max_workers=1) as reader:  # decoding releases the GIL: both files at once
        long_read = reader.submit(read_linear, long_path)
        short = read_linear(short_path)  # its error, if any, is raised first, as when read in turn
        long = long_read.result()
    steps = {"read": time.perf_counter() - start}
    return fuse_frames(short, long, out_path, opts, model, progress=progress, confidence=confidence,
                       sidecar_ratio=sidecar_ratio, steps=steps, start=start)[0]


_MODEL_LOCK = threading.Lock()


def fusion_model(options: FuseOptions) -> nn.Module:
    """The network ``options`` names (model, weights, device, threads), loaded once per process and
    then shared: the one place burstcap caches models (fuse, process, shoot, Pipeline, the service).
    A weights file replaced on disk while the process runs is not reloaded."""
    weights = None if options.weights is None else str(Path(options.weights).resolve())
    with _MODEL_LOCK:
        return _loaded_model(options.model, weights, options.device, options.threads)


@functools.lru_cache(maxsize=4)
def _loaded_model(name: str, weights: str | None, device: str, threads: int | None) -> nn.Module:
    return load_model(name, None if weights is None else Path(weights), device, threads=threads)


def fuse_frames(short: Any, long: Any, out_path: Path, options: FuseOptions, model: nn.Module | None = None,
                *, progress: Progress | bool | None = None, confidence: str | Path | None = None,
                sidecar_ratio: float | None = None, steps: dict[str, float] | None = None,
                start: float | None = None) -> tuple[FuseResult, FusedArrays]:
    """Two read frames (:class:`isp.io.LinearImage`) -> ``out_path`` with its report beside it: the
    one fuse path of ``fuse``, ``process``, ``shoot``, the ``Pipeline`` API and the service.

    The exposure ratio: ``options.ratio``, else ``sidecar_ratio`` (long/short from a shot's session
    sidecar: the camera's read-back settings), else the files' metadata, else the images. The short
    frame's noise law comes from :func:`short_noise`; the network, alignment, ghost guard and colour
    match from ``options`` (:func:`fuse_arrays`). ``model`` None: the shared :func:`fusion_model` of
    ``options``. ``confidence``: also write the ghost guard's confidence map there. ``steps``/``start``:
    timings already taken (e.g. reading) and when the work began, for the report. Returns the result
    and the arrays (for thumbnails).
    """
    start = time.perf_counter() if start is None else start
    steps = dict(steps or {})
    out_path = Path(out_path)
    clock = time.perf_counter()
    check_pair(short, long)
    warnings: list[str] = []
    if options.ratio is not None:
        ratio, source = float(options.ratio), "option"
    elif sidecar_ratio is not None:
        ratio, source = float(sidecar_ratio), "sidecar"
    else:
        estimate = exposure_ratio(long, short)
        ratio, source = float(estimate.ratio), str(estimate.source)
        if source == "image-global":
            warnings.append(f"exposure ratio estimated from the mean brightness only ({ratio:.3g}): too "
                            f"few well-exposed regions for the block estimate; give --ratio if it is off")
    check_ratio(ratio, f"the {source}")
    if ratio < 1.0:
        warnings.append(f"the short frame is brighter than the long one (ratio {ratio:.3g}): are SHORT "
                        f"and LONG swapped?")
    noise = short_noise(short, warnings, options.profile)
    steps["ratio"] = time.perf_counter() - clock

    if model is None:
        clock = time.perf_counter()
        model = fusion_model(options)
        steps["model"] = time.perf_counter() - clock
    device = describe_device(next(model.parameters()).device)
    try:
        fused = fuse_arrays(short.rgb, long.rgb, ratio, model, **options.array_options(), progress=progress,
                            noise_law=noise.law, display_referred=short.display_referred and long.display_referred)
    except BurstcapError as exc:
        raise BurstcapError(f"{short.path} + {long.path}: {exc}") from None
    if fused.alignment.warning:
        warnings.append(fused.alignment.warning)

    # develop() already applied the orientation, so the output is upright: orientation 1.
    metadata = short.metadata
    if metadata is not None:
        metadata = dataclasses.replace(metadata, orientation=1)
    clock = time.perf_counter()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_output(out_path, fused.rgb, metadata, output_bits(out_path, options.bits), camera=short)
    steps["write"] = time.perf_counter() - clock
    h, w = fused.rgb.shape[:2]
    result = FuseResult(out_path, w, h, ratio, source, fused.gain, fused.alignment, options.model, device,
                        noise.profile, time.perf_counter() - start, tuple(warnings),
                        fused.short_share if options.ghost_guard else None)
    if confidence is not None and fused.confidence is not None:
        write_confidence(confidence, fused.confidence)
    report = shot_report(out_path=out_path, short=short.path, long=long.path, size=(w, h), ratio=ratio,
                         ratio_source=source, alignment=result.alignment, gain=result.gain,
                         short_share=result.short_share, profile=result.profile, model=result.model,
                         device=device, seconds={"total": result.seconds, **steps, **fused.seconds},
                         warnings=result.warnings)
    return dataclasses.replace(result, report=write_report(out_path, report)), fused

"""Inference: load a fusion model (shipped weights by default) and fuse a pair of any size.

``load_model`` finds the model by name: the built-in ones (``deblur-rnn``, ``deblur-merger``) with the
weights shipped in ``deblurnet/weights/<name>.safetensors``, or a third-party model registered in the
``deblurnet.models`` entry-point group. No network access, ever.

``fuse`` runs the network on (H, W, 3) numpy images of any size. Large images are split into tiles
whose origins are multiples of the network's stride (``model.multiple``), so that each tile sees the
same padding grid as the whole image: with BatchNorm in eval mode the network is then exactly
translation-equivariant, and a tile differs from the whole-image result only near its own borders.
Neighbouring tiles overlap by ``overlap`` pixels; in each overlap the outer quarter next to a tile's
edge is discarded and the middle half is cross-faded with complementary raised-cosine weights.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from importlib import metadata as importlib_metadata
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from deblurnet.errors import DeblurnetError

log = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"] | str
Progress = Callable[[int, int], None]
"""Progress callback: called as ``progress(tiles_done, tiles_total)``."""

ENTRY_POINT_GROUP = "deblurnet.models"
DEFAULT_TILE = 512
DEFAULT_OVERLAP = 64
WHOLE_IMAGE_PIXELS = 1_000_000
"""Images up to this many pixels run whole by default (:func:`auto_tile`): 1280x720 needs about 0.7 GB
of activations on the CPU, and tiles would cost 1.3x its time (overlaps, padded edge tiles)."""
CUDA_BATCH = 8
"""Tiles per network call on a GPU by default (:func:`fuse`); 1 on the CPU, where batching gains nothing."""


# ------------------------------------------------------------------------------------------ devices


def physical_cores() -> int:
    """Number of physical CPU cores this process may use (hyper-threads not counted)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 1
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # pragma: no cover - not Linux
        return usable
    cores: set[tuple[str, str]] = set()
    physical = core = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            physical = value.strip()
        elif key == "core id":
            core = value.strip()
            cores.add((physical, core))
    return max(1, min(usable, len(cores) or usable))


def resolve_device(device: Device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without CUDA is a DeblurnetError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeblurnetError(f"unknown device {device!r}; use auto, cpu or cuda") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise DeblurnetError("device 'cuda' requested but no CUDA GPU is available (use --device cpu)")
    if resolved.type not in ("cpu", "cuda"):
        raise DeblurnetError(f"unsupported device {device!r}; use auto, cpu or cuda")
    return resolved


def describe_device(device: torch.device) -> str:
    """A short human description, e.g. 'cuda (NVIDIA H100, fp16)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)}, fp16)"
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'s' if threads != 1 else ''})"


# ---------------------------------------------------------------------------------------- loading


def shipped_weights(name: str) -> Path:
    """Path of the weights shipped inside the package for ``name`` (may not exist)."""
    return Path(str(resources.files("deblurnet") / "weights" / f"{name}.safetensors"))


def _entry_point_factory(name: str) -> Callable[..., nn.Module] | None:
    for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                return ep.load()
            except Exception as exc:  # a broken plugin must not crash with a traceback
                raise DeblurnetError(f"model {name!r} from entry point {ep.value!r} failed to load: "
                                     f"{exc}") from exc
    return None


def available_models() -> list[str]:
    """Built-in model names plus those registered in the ``deblurnet.models`` entry-point group."""
    from deblurnet.models import list_models

    names = set(list_models())
    names.update(ep.name for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def _load_state(model: nn.Module, path: Path) -> None:
    """Load a safetensors state dict into a third-party model."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except (SafetensorError, RuntimeError, OSError, ValueError) as exc:
        raise DeblurnetError(f"{path}: cannot load weights into model: {exc}") from None


def _build(name: str, weights: Path | None) -> nn.Module:
    from deblurnet.models import list_models

    if name in list_models():
        path = weights or shipped_weights(name)
        if not path.is_file():
            where = "" if weights else " (the shipped weights are not installed)"
            raise DeblurnetError(f"{path}: weights for model {name!r} not found{where}; "
                                 f"pass a weights file (.safetensors) explicitly")
        from deblurnet.checkpoint import load_weights

        try:
            model = load_weights(path)
        except DeblurnetError:
            raise
        except Exception as exc:  # corrupt file: safetensors / JSON / shape errors
            raise DeblurnetError(f"{path}: cannot load weights: {exc}") from None
        config_name = getattr(model, "config", {}).get("name", name)
        if config_name != name:
            raise DeblurnetError(f"{path}: these weights are for model {config_name!r}, not {name!r}")
        return model
    factory = _entry_point_factory(name)
    if factory is None:
        raise DeblurnetError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    try:
        model = factory()
    except DeblurnetError:
        raise
    except Exception as exc:
        raise DeblurnetError(f"model {name!r} (plugin) failed to build: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise DeblurnetError(f"model {name!r} (plugin) did not return a torch.nn.Module")
    if weights is not None:
        if not weights.is_file():
            raise DeblurnetError(f"{weights}: weights file not found")
        _load_state(model, weights)
    return model


def check_threads(threads: int | None) -> int | None:
    """``threads`` if None or 1..os.cpu_count(), else DeblurnetError (torch crashes on absurd
    counts such as 100000)."""
    cpus = os.cpu_count() or 1
    if threads is not None and not 1 <= threads <= cpus:
        raise DeblurnetError(f"threads must be 1..{cpus} (the CPUs of this machine), got {threads}")
    return threads


def prepare_model(model: nn.Module, device: Device = "auto", threads: int | None = None) -> nn.Module:
    """Put ``model`` in eval mode on ``device``: fp16 + channels-last on CUDA; on CPU, float32 with
    ``threads`` torch threads (default: the physical cores; :func:`check_threads`). Logs which device
    is used."""
    check_threads(threads)
    dev = resolve_device(device)
    model = model.eval().to(dev)
    if dev.type == "cuda":
        model = model.half().to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True  # tiles have one size: the fastest kernels are found once
    else:
        model = model.float()
        torch.set_num_threads(threads or physical_cores())
    log.info("fusion model runs on %s", describe_device(dev))
    return model


def auto_tile(height: int, width: int) -> int | None:
    """The tile side for an image of ``height`` x ``width`` px when none is given: None (the whole
    image at once) up to :data:`WHOLE_IMAGE_PIXELS`, else :data:`DEFAULT_TILE`."""
    return None if height * width <= WHOLE_IMAGE_PIXELS else DEFAULT_TILE


def untrained_model(name: str = "deblur-rnn", preset: str = "compact", device: Device = "auto",
                    threads: int | None = None, seed: int = 0, **overrides: Any) -> nn.Module:
    """A freshly initialised built-in model ready for :func:`fuse` (demos, timing, tests).

    A new model's BatchNorm statistics and spectral-norm singular-vector estimates are placeholders,
    and its eval-mode output explodes; a few train-mode passes on random data (no weight update)
    settle them. The result is deterministic under ``seed``; its output is not a useful fusion.
    ``overrides``: NetConfig fields, e.g. ``residual_gain=0.0`` for a net that returns its short input
    exactly, or 1.0 for one that changes the image a lot.
    """
    from deblurnet.models import create_model

    torch.manual_seed(seed)
    model = create_model(name, preset, **overrides)
    model.train()
    x = torch.rand(2, 3, 64, 64)
    n = torch.full((2, 1, 64, 64), 0.02)
    with torch.no_grad():
        for _ in range(4):
            model(x, x, n)
    return prepare_model(model, device, threads)


def load_model(name: str = "deblur-rnn", weights: str | Path | None = None,
               device: Device = "auto", threads: int | None = None) -> nn.Module:
    """A fusion model ready for :func:`fuse`.

    ``name``: a built-in model or a ``deblurnet.models`` entry point. ``weights``: a ``.safetensors``
    file (with its JSON card beside it for built-in models); default the package's shipped weights.
    ``device``: "auto" (CUDA when present, else CPU), "cpu" or "cuda". Raises DeblurnetError when the
    weights are missing or corrupt, the name is unknown, or CUDA is requested but absent.
    """
    if resolve_device(device).type == "cpu":
        # Threads first: on a busy machine each small tensor op of the load waits for a second thread.
        torch.set_num_threads(check_threads(threads) or physical_cores())
    model = _build(name, Path(weights) if weights is not None else None)
    return prepare_model(model, device, threads)


# ----------------------------------------------------------------------------------------- tiling


def _raised_cosine(n: int) -> np.ndarray:
    """(n,) float32 rising from ~0 to ~1; ``w + w[::-1] == 1``."""
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)


def tile_weights(size: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    """(size,) float32 blending weights of one tile along one axis.

    Interior sides (not ``first`` / not ``last``): weight 0 over the outer ``overlap // 4`` pixels,
    raised-cosine ramp over the next ``overlap // 2``, then 1. Image-border sides stay at 1.
    """
    w = np.ones(size, np.float32)
    skip, ramp = overlap // 4, overlap // 2
    if ramp == 0:
        return w
    rise = _raised_cosine(ramp)
    if not first:
        w[:skip] = 0.0
        w[skip:skip + ramp] = np.minimum(w[skip:skip + ramp], rise)
    if not last:
        w[size - skip:] = 0.0
        w[size - skip - ramp:size - skip] = np.minimum(w[size - skip - ramp:size - skip], rise[::-1])
    return w


def tile_starts(length: int, tile: int, step: int) -> list[int]:
    """Tile origins covering [0, length): 0, step, 2 step, ..., the last one ending at ``length``.

    ``length``, ``tile`` and ``step`` are multiples of the network stride, so all origins are too.
    """
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def _reflect_index(start: int, stop: int, length: int, device: torch.device) -> torch.Tensor:
    """Indices start..stop-1 into an axis of ``length``, reflected past the end like torch 'reflect'."""
    idx = torch.arange(start, stop, device=device)
    idx = torch.where(idx >= length, 2 * (length - 1) - idx, idx)
    return idx.clamp_(0, length - 1)


def _cut(image: torch.Tensor, y: int, x: int, th: int, tw: int) -> torch.Tensor:
    """The (C, th, tw) window at (y, x) of a (C, H, W) image, reflected past the bottom/right edge."""
    h, w = image.shape[-2:]
    if y + th <= h and x + tw <= w:
        return image[:, y:y + th, x:x + tw]
    rows = image[:, y:min(y + th, h)] if y + th <= h else image.index_select(
        1, _reflect_index(y, y + th, h, image.device))
    return rows[..., x:x + tw] if x + tw <= w else rows.index_select(
        2, _reflect_index(x, x + tw, w, image.device))


def _round_up(x: int, multiple: int) -> int:
    return -(-x // multiple) * multiple


def _check_inputs(short: np.ndarray, long: np.ndarray, noise: np.ndarray) -> tuple[int, int]:
    if short.ndim != 3 or short.shape[2] != 3 or short.shape != long.shape:
        raise DeblurnetError(f"expected short and long of one shape (H, W, 3), got {short.shape} and "
                             f"{long.shape}")
    if noise.shape != (*short.shape[:2], 1):
        raise DeblurnetError(f"expected a noise map of shape {(*short.shape[:2], 1)}, got {noise.shape}")
    return short.shape[0], short.shape[1]


def _planar(image: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(H, W, C) numpy -> (C, H, W) tensor on ``device`` (channels-last in memory): a view on the CPU;
    to a GPU one asynchronous copy from pinned memory, so the host goes on queueing work."""
    hwc = torch.from_numpy(np.asarray(image, np.float32))
    if device.type == "cuda":
        hwc = hwc.pin_memory().to(device, non_blocking=True)
    return hwc.permute(2, 0, 1).to(dtype=dtype)


def _to_host(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) float32 on any device -> (H, W, C) contiguous numpy, laid out on the device first."""
    return image.permute(1, 2, 0).contiguous().cpu().numpy()


ENSEMBLE_SIZES = (1, 2, 4, 8)
"""Allowed self-ensemble sizes: the first n transforms of :func:`dihedral`."""


def dihedral(x: torch.Tensor, k: int, inverse: bool = False) -> torch.Tensor:
    """Transform ``k`` (0..7) of the square's symmetry group on (..., H, W): ``k % 2`` = horizontal
    flip, ``k // 2`` = quarter turns (after the flip); ``inverse=True`` undoes it."""
    flip, turns = k % 2, k // 2
    if inverse:
        x = torch.rot90(x, -turns, dims=(-2, -1))
        return x.flip(-1) if flip else x
    x = x.flip(-1) if flip else x
    return torch.rot90(x, turns, dims=(-2, -1))


def _run(model: nn.Module, short: torch.Tensor, long: torch.Tensor, noise: torch.Tensor,
         ensemble: int = 1) -> torch.Tensor:
    """Network on (B, 3, h, w) batches (noise (B, 1, h, w)) -> (B, 3, h, w) float32 on the model's device.

    ``ensemble`` > 1: self-ensemble, the mean of the network over the first ``ensemble`` flips and
    quarter turns of the pair (each undone on the output): residual noise that differs between the
    transformed copies averages out (+1.2 to +1.3 dB on GOPRO2 validation pairs, for 8x the time).
    """
    if ensemble not in ENSEMBLE_SIZES:
        raise DeblurnetError(f"ensemble must be one of {ENSEMBLE_SIZES}, got {ensemble}")
    if ensemble > 1:
        total = _run(model, short, long, noise)
        for k in range(1, ensemble):
            total += dihedral(_run(model, dihedral(short, k), dihedral(long, k), dihedral(noise, k)), k,
                              inverse=True)
        return total / ensemble
    if short.device.type == "cuda":
        short, long, noise = (t.contiguous(memory_format=torch.channels_last) for t in (short, long, noise))
    else:
        short, long, noise = short.contiguous(), long.contiguous(), noise.contiguous()
    out = model(short, long, noise)
    if isinstance(out, tuple):  # DeblurRNN returns (sharp, denoised) unless told otherwise
        out = out[0]
    return out.float()


@torch.inference_mode()
@parametrize.cached()  # spectral-norm weights computed once per image, not once per tile
def fuse(model: nn.Module, short: np.ndarray, long: np.ndarray, noise: np.ndarray,
         tile: int | None = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
         progress: Progress | bool | None = None, batch_size: int | None = None,
         ensemble: int = 1) -> np.ndarray:
    """Fuse one pair with ``model``; returns the sharp image (H, W, 3) float32, network domain.

    ``short``, ``long``: (H, W, 3) float32 network domain (sRGB-encoded [0, 1], short already scaled
    by the exposure ratio), aligned; ``noise``: (H, W, 1) float32, the short frame's noise map
    (:mod:`deblurnet.noise_map`), computed on the whole image, not per tile. ``tile``: tile side in pixels (rounded up to the network stride);
    ``None`` or 0 runs the whole image at once (memory grows with the image). ``overlap``: pixels shared
    by neighbouring tiles (rounded up to the stride). ``progress``: a callback ``(done, total)``,
    ``False`` for silence, ``None`` for a tqdm bar (on a terminal) when there are 4 tiles or more.
    ``batch_size``: tiles per network call (None: :data:`CUDA_BATCH` on a GPU, 1 on the CPU). Tiles are
    cut and blended on the model's device, so on a GPU the whole image is uploaded once (from pinned
    memory, asynchronously) and downloaded once, and no host-device copy waits inside the tile loop.
    ``ensemble``: 1 (default), 2, 4 or 8 network runs per tile over flipped / turned copies, averaged
    (see ``_run``).
    """
    h, w = _check_inputs(short, long, noise)
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    s_all, l_all, n_all = (_planar(x, device, dtype) for x in (short, long, noise))
    multiple = int(getattr(model, "multiple", 1))
    if not tile or (h <= tile and w <= tile):
        out = _run(model, s_all[None], l_all[None], n_all[None], ensemble)[0]
        if callable(progress):
            progress(1, 1)
        return _to_host(out)

    tile = _round_up(max(int(tile), 2 * multiple), multiple)
    overlap = _round_up(max(int(overlap), 0), multiple)
    if overlap >= tile:
        raise DeblurnetError(f"overlap ({overlap}) must be smaller than the tile ({tile})")
    hp, wp = _round_up(h, multiple), _round_up(w, multiple)
    th, tw = min(tile, hp), min(tile, wp)
    boxes = [(y, x) for y in tile_starts(hp, tile, tile - overlap)
             for x in tile_starts(wp, tile, tile - overlap)]

    acc = torch.zeros((3, h, w), dtype=torch.float32, device=device)
    weight = torch.zeros((h, w), dtype=torch.float32, device=device)
    bar = None
    if progress is None and len(boxes) >= 4:
        from tqdm import tqdm

        bar = tqdm(total=len(boxes), desc="fusing", unit="tile", leave=False, disable=None)
    step = max(1, batch_size or (CUDA_BATCH if device.type == "cuda" else 1))
    # One weight vector per kind of tile side, on the device before the loop: no copy waits inside it.
    sides = {(th, y == 0, y + th >= hp) for y, _ in boxes} | {(tw, x == 0, x + tw >= wp) for _, x in boxes}
    blend = {key: torch.from_numpy(tile_weights(key[0], overlap, key[1], key[2])).to(device) for key in sides}
    for first in range(0, len(boxes), step):
        chunk = boxes[first:first + step]
        shorts, longs, noises = [], [], []
        for y, x in chunk:
            shorts.append(_cut(s_all, y, x, th, tw))
            longs.append(_cut(l_all, y, x, th, tw))
            noises.append(_cut(n_all, y, x, th, tw))
        outs = _run(model, torch.stack(shorts), torch.stack(longs), torch.stack(noises), ensemble)
        for (y, x), out in zip(chunk, outs):
            wy = blend[(th, y == 0, y + th >= hp)]
            wx = blend[(tw, x == 0, x + tw >= wp)]
            vh, vw = min(th, h - y), min(tw, w - x)  # the part inside the image
            win = wy[:vh, None] * wx[None, :vw]
            acc[:, y:y + vh, x:x + vw].addcmul_(out[:, :vh, :vw], win)
            weight[y:y + vh, x:x + vw] += win
        if bar is not None:
            bar.update(len(chunk))
        elif callable(progress):
            progress(min(first + len(chunk), len(boxes)), len(boxes))
    if bar is not None:
        bar.close()
    acc /= weight.clamp_(min=1e-6)
    return _to_host(acc)

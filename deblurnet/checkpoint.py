"""Checkpoints (resumable training state) and shipped weights.

A checkpoint is a folder ``<run>/checkpoints/step-0000500/`` holding

* ``generator.safetensors`` - generator weights (float32), ``discriminator.safetensors`` when used,
  ``generator-ema.safetensors`` when the run keeps a weight average (``deblurnet.train_state``);
* ``config.json`` - ``{"model": <model.config>, "train": <TrainConfig dict>, "step": 500}``;
* ``optimizer.pt`` - optimiser (and grad-scaler) state dicts, loaded with ``weights_only=True``.

It is written into a temporary folder beside it and renamed, so an interrupted save never leaves a
half checkpoint. Shipped weights are one ``NAME.safetensors`` (float16 by default) plus ``NAME.json``
beside it: a card with the model config, preset, steps, data and validation figures.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from isp.atomic import atomic_path, atomic_write_text, disk_full_error, set_new_modes
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from deblurnet.errors import DeblurnetError
from deblurnet.models import ADDED_MODULES, model_from_config

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
_STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``step``, the stored config dicts and raw state dicts (on CPU)."""

    path: Path
    step: int
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    generator: dict[str, torch.Tensor]
    discriminator: dict[str, torch.Tensor] | None
    optimizer: dict[str, Any]
    ema: dict[str, torch.Tensor] | None = None  # the generator's weight average, when the run kept one


def _tensors(module: nn.Module, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """State dict as contiguous CPU tensors; floating ones cast to ``dtype`` when given."""
    out = {}
    for key, value in module.state_dict().items():
        value = value.detach().cpu()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        out[key] = value.contiguous().clone()
    return out


def _json_text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(_json_text(data), encoding="utf-8")


def save_checkpoint(run_dir: str | Path, step: int, model: nn.Module, discriminator: nn.Module | None,
                    optimizer: dict[str, Any], train_config: dict[str, Any], keep: int = 2,
                    ema: nn.Module | None = None) -> Path:
    """Write ``run_dir/checkpoints/step-NNNNNNN/`` atomically and keep the ``keep`` newest. Returns it.

    ``optimizer``: plain dict of state dicts (e.g. {"generator": opt.state_dict(), ...}).
    """
    root = Path(run_dir) / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:07d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        save_file(_tensors(model), str(tmp / "generator.safetensors"))
        if discriminator is not None:
            save_file(_tensors(discriminator), str(tmp / "discriminator.safetensors"))
        if ema is not None:
            save_file(_tensors(ema), str(tmp / "generator-ema.safetensors"))
        torch.save(optimizer, tmp / "optimizer.pt")
        _write_json(tmp / "config.json", {"model": model.config, "train": train_config, "step": step})
        set_new_modes(tmp)  # mkdtemp made it 0700, safetensors its files 0600
        aside = None
        if final.exists():  # a same-step checkpoint: moved aside, deleted only once the new one is in
            aside = Path(tempfile.mkdtemp(prefix=".old-", dir=root))
            os.replace(final, aside)
        try:
            os.replace(tmp, final)
        except BaseException:
            if aside is not None:
                os.replace(aside, final)
            raise
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    except Exception as exc:
        full = disk_full_error(exc, root, what=f"checkpoint {final.name}")  # before tmp is removed
        if full is not None and full is not exc:
            raise full from exc
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    for old in sorted(p for p in root.iterdir() if _STEP_DIR.match(p.name))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder itself, or the newest one under a run folder (``checkpoints/step-*``)."""
    path = Path(path)
    if (path / "config.json").is_file() and (path / "generator.safetensors").is_file():
        return path
    root = path / CHECKPOINT_DIR
    steps = sorted(p for p in root.iterdir() if _STEP_DIR.match(p.name)) if root.is_dir() else []
    if not steps:
        raise DeblurnetError(f"{path}: no checkpoint here (expected {CHECKPOINT_DIR}/step-*/ or a "
                             "folder with config.json and generator.safetensors)")
    return steps[-1]


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load a checkpoint folder (or the newest one of a run folder) onto the CPU."""
    folder = find_checkpoint(path)
    try:
        meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        generator = load_file(str(folder / "generator.safetensors"))
        disc_file = folder / "discriminator.safetensors"
        discriminator = load_file(str(disc_file)) if disc_file.is_file() else None
        ema_file = folder / "generator-ema.safetensors"
        ema = load_file(str(ema_file)) if ema_file.is_file() else None
        optimizer = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
        return Checkpoint(folder, int(meta["step"]), meta["model"], meta.get("train", {}), generator,
                          discriminator, optimizer, ema)
    except (OSError, ValueError, KeyError, SafetensorError, RuntimeError) as exc:
        raise DeblurnetError(f"{folder}: unreadable checkpoint ({exc})") from None


def save_weights(model: nn.Module, path: str | Path, card: dict[str, Any] | None = None,
                 dtype: torch.dtype = torch.float16) -> Path:
    """Write shipped weights ``path`` (.safetensors, floating tensors cast to ``dtype``) and the JSON
    card beside it (``path`` with suffix .json): ``card`` plus ``{"model": model.config}``. Atomic."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise DeblurnetError(f"{path}: weights file name must end in .safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    full_card = {**(card or {}), "model": model.config, "dtype": str(dtype).removeprefix("torch.")}
    card_path = path.with_suffix(".json")
    with atomic_path(path, suffix=".tmp") as tmp:
        save_file(_tensors(model, dtype), str(tmp))
    atomic_write_text(card_path, _json_text(full_card))
    return path


def read_card(path: str | Path) -> dict[str, Any]:
    """The JSON card beside a weights file."""
    card_path = Path(path).with_suffix(".json")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeblurnetError(f"{card_path}: cannot read the weights card ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise DeblurnetError(f"{card_path}: invalid JSON ({exc})") from None
    if not isinstance(card, dict) or not isinstance(card.get("model"), dict):
        raise DeblurnetError(f"{card_path}: the card has no 'model' config")
    return card


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model from the JSON card beside ``path``, load the weights (as float32), eval mode."""
    path = Path(path)
    card = read_card(path)
    model = model_from_config(card["model"])
    try:
        state = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise DeblurnetError(f"{path}: unreadable weights ({exc})") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise DeblurnetError(f"{path}: {len(bad)} weight tensor(s) hold NaN or infinity (first: "
                             f"{bad[0]}); the file is damaged or from a diverged training run")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        try:  # weights from before the noise-map input: load them with the map's channel at zero
            widened = widen_into(model, state, path)
        except DeblurnetError:
            raise DeblurnetError(f"{path}: weights do not fit {card['model'].get('name')} ({exc})") from None
        log.warning("%s: weights made before the noise-map input (%d tensors widened): the network "
                    "ignores the noise level, as it did then", path, len(widened))
    return model.to(device).eval()


def load_widened(model: nn.Module, path: str | Path) -> list[str]:
    """Initialise ``model`` from the weights file ``path`` of a network with *fewer input channels*
    (e.g. from before the noise-map input): every tensor is copied; one that grew along an input
    dimension gets the old values in its leading part and zeros after them, so the new inputs start
    with no effect (appended channels, spectral-norm vectors padded with zeros keep their norm). A
    module the file lacks keeps its initialisation if it is one of ``models.ADDED_MODULES`` (its output
    starts at zero, e.g. DeblurRNN's refinement net). Returns the names of the widened and added
    tensors; DeblurnetError when another tensor is missing or one shrank.
    """
    try:
        old = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise DeblurnetError(f"{path}: unreadable weights ({exc})") from None
    return widen_into(model, old, path, add_modules=True)


def widen_into(model: nn.Module, old: dict[str, torch.Tensor], path: str | Path,
               add_modules: bool = False) -> list[str]:
    """:func:`load_widened` on the state dict ``old`` already read from ``path`` (named in errors).
    ``add_modules``: modules of ``models.ADDED_MODULES`` the file lacks keep their initialisation
    (a new run's ``init``); otherwise they are missing tensors (shipped weights must hold them)."""
    state = model.state_dict()
    extra = sorted(set(old) - set(state))
    if extra:
        raise DeblurnetError(f"{path}: {len(extra)} tensor(s) the network does not have (first: {extra[0]}); "
                             "the weights are from a larger network (e.g. with a refinement net: "
                             "model option refine_width)")
    widened = []
    for name, target in state.items():
        if name not in old and add_modules and name.startswith(ADDED_MODULES):
            widened.append(name)
            continue
        if name not in old:
            raise DeblurnetError(f"{path}: no tensor {name} for the initialisation")
        src = old[name].to(target.dtype)
        if src.shape == target.shape:
            target.copy_(src)
            continue
        if src.ndim != target.ndim or any(a > b for a, b in zip(src.shape, target.shape)):
            raise DeblurnetError(f"{path}: {name} has shape {tuple(src.shape)}, cannot widen it to "
                                 f"{tuple(target.shape)}")
        target.zero_()
        target[tuple(slice(0, n) for n in src.shape)].copy_(src)
        widened.append(name)
    model.load_state_dict(state)
    return widened


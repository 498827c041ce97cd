"""The training state (generator, its weight average, discriminator, optimisers, AMP objects, step):
built from a ``TrainConfig``, saved to and restored from checkpoints (:mod:`deblurnet.checkpoint`:
plain state dicts, the format a run resumes and exports from).

Weight averaging (``ema_decay`` > 0, off by default; a decision beyond the paper): a copy of the
generator whose parameters follow the trained ones as an exponential moving average,
``ema += (1 - d) (w - ema)`` after every step with ``d = min(decay, (1 + step) / (10 + step))`` (a
warm-up, so that the starting weights do not linger in a short run's average), while its buffers (BatchNorm statistics,
spectral-norm vectors) are the trained model's. It is what is validated, checkpointed
(``generator-ema.safetensors``) and exported. It is for the paper's constant learning rate and for
intermediate checkpoints, where the weights still move by a large step (Polyak averaging; Izmailov et
al. 2018): measured on the tried third stage (configs/deblur-rnn-averaged.toml, decay 0.999), at the
end of a cosine schedule the average and the last step agree within 0.03 dB (camera, PolyU and GOPRO2
sets), so the cosine runs of the shipped weights gain nothing from it.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from deblurnet import checkpoint as ckpt
from deblurnet.config import TrainConfig, to_dict
from deblurnet.distributed import DistInfo, unwrap
from deblurnet.errors import DeblurnetError
from deblurnet.losses import LossWeights
from deblurnet.models import (DeblurRNN, complete_config, create_discriminator, create_model,
                              model_from_config)


@dataclasses.dataclass
class TrainState:
    """What one training step touches. ``disc`` / ``opt_d`` are None when the adversarial weight is 0."""

    model: nn.Module
    disc: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    weights: LossWeights
    device: torch.device
    amp_dtype: torch.dtype | None = None  # autocast dtype on CUDA, None = float32
    scaler: torch.amp.GradScaler | None = None
    step: int = 0
    per_net_losses: bool = True  # DeblurRNN: each net trained by its own loss only (Table I)
    ema: nn.Module | None = None  # the weight average (module docstring), None when ema_decay is 0
    ema_decay: float = 0.0

    @property
    def shipped(self) -> nn.Module:
        """The generator that is validated and exported: the weight average when kept, else the model."""
        return self.ema if self.ema is not None else unwrap(self.model)


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """One averaging step: ``ema``'s parameters move ``1 - decay`` of the way to ``model``'s; its
    buffers become ``model``'s. ``ema`` is a copy of ``model`` (same parameters, same order)."""
    for averaged, current in zip(ema.parameters(), model.parameters(), strict=True):
        averaged.lerp_(current.detach(), 1.0 - decay)
    for averaged, current in zip(ema.buffers(), model.buffers(), strict=True):
        averaged.copy_(current)


def ema_decay_at(decay: float, step: int) -> float:
    """The decay used after 0-based step ``step``: ``decay``, warmed up as ``(1 + step) / (10 + step)``."""
    return min(decay, (1.0 + step) / (10.0 + step))


def reset_ema(state: TrainState) -> None:
    """Start the weight average at the model's current weights (a new run, after its ``init``)."""
    if state.ema is not None:
        state.ema.load_state_dict(unwrap(state.model).state_dict())


def build_state(cfg: TrainConfig, device: torch.device, info: DistInfo,
                model_config: dict[str, Any] | None = None) -> TrainState:
    """Model (from ``model_config`` when resuming, else from ``cfg``), discriminator, optimisers and AMP
    objects, wrapped in DDP when distributed."""
    model: nn.Module = (model_from_config(model_config) if model_config is not None else
                        create_model(cfg.model, cfg.preset, **cfg.model_options)).to(device)
    if cfg.freeze_base:
        if not isinstance(model, DeblurRNN):
            raise DeblurnetError(f"freeze_base trains only DeblurRNN's refinement net, not a {cfg.model}")
        model.freeze_base()
    disc: nn.Module | None = create_discriminator(model).to(device) if cfg.adv > 0 else None
    if info.world_size > 1:
        ids = [device.index] if device.type == "cuda" else None
        if cfg.sync_bn and device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            disc = nn.SyncBatchNorm.convert_sync_batchnorm(disc) if disc is not None else None
        model = DistributedDataParallel(model, device_ids=ids)
        if disc is not None:
            disc = DistributedDataParallel(disc, device_ids=ids)
    betas = (cfg.beta1, cfg.beta2)
    opt_g = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=betas) if disc is not None else None
    amp_dtype = scaler = None
    if device.type == "cuda" and cfg.amp:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if amp_dtype == torch.float16:
            scaler = torch.amp.GradScaler("cuda")
    ema = None
    if cfg.ema_decay > 0:
        ema = copy.deepcopy(unwrap(model))
        ema.requires_grad_(False)
    return TrainState(model, disc, opt_g, opt_d, cfg.loss_weights(), device, amp_dtype, scaler,
                      per_net_losses=cfg.per_net_losses, ema=ema, ema_decay=cfg.ema_decay)


def save_state(state: TrainState, cfg: TrainConfig, run_dir: Path) -> Path:
    """Checkpoint ``run_dir/checkpoints/step-N/``: weights (DDP unwrapped) and their average when kept,
    optimiser / grad-scaler state dicts and step (``optimizer.pt``), the training config."""
    optim: dict[str, Any] = {"generator": state.opt_g.state_dict(), "step": state.step}
    if state.opt_d is not None:
        optim["discriminator"] = state.opt_d.state_dict()
    if state.scaler is not None:
        optim["scaler"] = state.scaler.state_dict()
    disc = unwrap(state.disc) if state.disc is not None else None
    return ckpt.save_checkpoint(run_dir, state.step, unwrap(state.model), disc, optim, to_dict(cfg),
                                ema=state.ema)


def restore_state(state: TrainState, checkpoint: ckpt.Checkpoint | str | Path) -> None:
    """Load a checkpoint (or the newest one of a run folder) into ``state``: weights, optimisers, step;
    the weight average from the checkpoint's, or, from a checkpoint without one, from its weights."""
    c = checkpoint if isinstance(checkpoint, ckpt.Checkpoint) else ckpt.load_checkpoint(checkpoint)
    model = unwrap(state.model)
    if complete_config(c.model_config) != complete_config(model.config):  # type: ignore[arg-type]
        raise DeblurnetError(f"{c.path}: checkpoint is a {c.model_config.get('name')} "
                             f"({c.model_config.get('preset')}), not the configured model")
    model.load_state_dict(c.generator)
    if state.ema is not None:
        state.ema.load_state_dict(c.ema if c.ema is not None else c.generator)
    state.opt_g.load_state_dict(c.optimizer["generator"])
    if state.disc is not None and c.discriminator is not None:
        unwrap(state.disc).load_state_dict(c.discriminator)
        if state.opt_d is not None and "discriminator" in c.optimizer:
            state.opt_d.load_state_dict(c.optimizer["discriminator"])
    if state.scaler is not None and "scaler" in c.optimizer:
        state.scaler.load_state_dict(c.optimizer["scaler"])
    state.step = c.step



def resume_checkpoint(cfg: TrainConfig) -> ckpt.Checkpoint | None:
    """The checkpoint a run starts from: ``cfg.resume``, else the newest one in ``cfg.out`` (an
    interrupted run continues where it stopped), else None. DeblurnetError when it is another model."""
    resume = cfg.resume
    if resume is None:
        try:
            resume = str(ckpt.find_checkpoint(cfg.out))
        except DeblurnetError:
            return None
    checkpoint = ckpt.load_checkpoint(resume)
    if checkpoint.model_config.get("name") != cfg.model:
        raise DeblurnetError(f"{checkpoint.path}: checkpoint is a {checkpoint.model_config.get('name')}, "
                             f"not a {cfg.model}")
    return checkpoint

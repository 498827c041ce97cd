"""Training loop of DeblurRNN / DeblurMerger (torchvision-reference style: plain functions).

``train(cfg)`` runs the whole thing: device (CUDA + mixed precision when present, CPU otherwise),
optional DistributedDataParallel under ``torchrun`` (gloo on CPU, nccl on CUDA), data, optimisers (Adam
lr 2e-4, beta1 0.5), resumable checkpoints, JSONL log (+ TensorBoard when installed), tqdm progress.

One iteration (paper IV-A, Table I), all from one generator forward pass:

1. DeblurRNN's denoising net: lambda_c1 * L1(denoised, sharp). The deblurring net receives the denoised
   image and ConvLSTM state *detached* (``DeblurRNN.forward(..., detach_denoised=True)``), so each net
   gets only its own loss, as in Table I, at the cost of a single forward/backward
   (``per_net_losses=False`` / ``--joint``: the deblurring loss trains the denoising net too).
2. Discriminator (skipped when the adversarial weight is 0): BCE on real and fake, conditioned on long.
3. Generator: eq. 3. Both nets step together after the backward pass; Adam is per parameter, so this
   equals separate denoise and deblur steps, except that the deblurring net sees the denoising net's
   output from before this iteration's update (one step stale).

Batches are (short, long, sharp) tensors (B, 3, crop, crop), network domain, and the short frame's
noise map (B, 1, crop, crop) (:mod:`deblurnet.noise_map`), which the generators take as third input.

Modules, one job each: :mod:`deblurnet.train_data` (crops and the endless batch stream),
:mod:`deblurnet.train_state` (model, optimisers, checkpoint save / restore),
:mod:`deblurnet.validation` (``evaluate``, BatchNorm re-estimate), :mod:`deblurnet.distributed`
(torchrun), :mod:`deblurnet.run_log`, :mod:`deblurnet.export` (shipped weights); this one holds the
step (``train_step``), the loop over batches (``train_one_epoch``) and the run (``train``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from deblurnet import checkpoint as ckpt
from deblurnet.config import TrainConfig
from deblurnet.distributed import DistInfo, select_device, setup_distributed, unwrap
from deblurnet.errors import DeblurnetError
from deblurnet.export import export_weights
from deblurnet.losses import content_loss, deblur_loss, discriminator_loss
from deblurnet.models import DeblurRNN
from deblurnet.run_log import RunLog
from deblurnet.train_data import Batch, build_dataset, infinite_batches, one_core_worker
from deblurnet.train_state import (TrainState, build_state, ema_decay_at, reset_ema, restore_state,
                                   resume_checkpoint, save_state, update_ema)
from deblurnet.validation import evaluate, recalibrate_batch_norm

__all__ = ["DistInfo", "TrainState", "build_state", "evaluate", "export_weights", "learning_rate",
           "recalibrate_batch_norm", "restore_state", "train", "train_one_epoch", "train_step", "unwrap"]


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Learning rate for optimiser step ``step`` (0-based): constant, or cosine from lr to lr / 100."""
    if not cfg.cosine:
        return cfg.lr
    progress = min(step / max(cfg.steps - 1, 1), 1.0)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def set_learning_rate(state: TrainState, lr: float) -> None:
    """Set ``lr`` on every parameter group of the generator's and the discriminator's optimiser."""
    for opt in (state.opt_g, state.opt_d):
        for group in opt.param_groups if opt is not None else ():
            group["lr"] = lr


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


# ------------------------------------------------------------------------------------------ steps


def generator_forward(model: nn.Module, short: Tensor, long: Tensor, noise: Tensor,
                      per_net_losses: bool = True) -> tuple[Tensor, Tensor | None]:
    """(sharp, denoised or None). ``per_net_losses``: DeblurRNN keeps each net's loss to itself
    (detached hand-over, Table I); otherwise the deblurring loss also trains the denoising net."""
    if isinstance(unwrap(model), DeblurRNN):
        sharp, denoised = model(short, long, noise, return_denoised=True, detach_denoised=per_net_losses)
        return sharp, denoised
    return model(short, long, noise), None


def _backward_step(loss: Tensor, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
                   update_scale: bool = True) -> None:
    """Zero, backward, step; with a float16 grad scaler, ``update_scale`` once per iteration (last step)."""
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        if update_scale:
            scaler.update()
    else:
        loss.backward()
        opt.step()


def train_step(state: TrainState, batch: Batch) -> dict[str, float]:
    """One iteration on a batch of (short, long, sharp, noise): D step (if any), then the generator
    step. Returns the losses as floats."""
    short, long, sharp, noise = (t.to(state.device, non_blocking=True) for t in batch)
    w = state.weights
    amp = torch.autocast("cuda", dtype=state.amp_dtype, enabled=state.amp_dtype is not None) \
        if state.device.type == "cuda" else torch.autocast("cpu", enabled=False)
    logs: dict[str, float] = {}
    with amp:
        pred, denoised = generator_forward(state.model, short, long, noise, state.per_net_losses)
    if state.disc is not None and state.opt_d is not None:
        set_requires_grad(state.disc, True)
        with amp:
            logits = state.disc(torch.cat([sharp, pred.detach()]), torch.cat([long, long]))
            d_loss = discriminator_loss(logits[: len(sharp)], logits[len(sharp):])
        _backward_step(d_loss, state.opt_d, state.scaler, update_scale=False)
        logs["loss_d"] = float(d_loss.detach())
        set_requires_grad(state.disc, False)
    with amp:
        fake_logits = unwrap(state.disc)(pred, long) if state.disc is not None else None
        g_loss, parts = deblur_loss(pred.float(), sharp, w, None if fake_logits is None else fake_logits.float())
        if denoised is not None and denoised.requires_grad:  # not with freeze_base: a constant
            dn = content_loss(denoised.float(), sharp)
            g_loss = g_loss + w.content_denoise * dn
            parts["denoise"] = float(dn.detach())
    _backward_step(g_loss, state.opt_g, state.scaler)
    if state.ema is not None:
        update_ema(state.ema, unwrap(state.model), ema_decay_at(state.ema_decay, state.step))
    state.step += 1
    logs["loss_g"] = float(g_loss.detach())
    logs.update(parts)
    return logs


def train_one_epoch(state: TrainState, batches: Iterable[Batch], max_steps: int | None = None,
                    lr: Callable[[int], float] | None = None,
                    on_step: Callable[[dict[str, float]], None] | None = None,
                    images_per_step: int | None = None) -> list[dict[str, float]]:
    """Run ``train_step`` over ``batches`` until they end or ``state.step`` reaches ``max_steps``
    (total steps, not steps of this call). Returns one record per step: ``step`` (after it), the
    losses, ``lr`` and ``images_per_s``.

    ``batches``: a DataLoader (one pass, an epoch) or an endless stream (:func:`infinite_batches`); no
    batch is drawn once ``max_steps`` is reached, so the stream continues where the next call needs it.
    ``lr(step)``: the learning rate set on every optimiser before 0-based step ``step`` (None: leave
    it). ``on_step(record)``: called after every step (run log, progress bar). ``images_per_step``:
    images of one step over all processes, for ``images_per_s`` (default: this process's batch).
    DeblurnetError when a loss is not finite.
    """
    records = []
    stream = iter(batches)
    while max_steps is None or state.step < max_steps:
        t0 = time.perf_counter()
        if lr is not None:
            set_learning_rate(state, lr(state.step))
        try:
            batch = next(stream)
        except StopIteration:
            break
        losses = train_step(state, batch)
        rate = (images_per_step or len(batch[0])) / max(time.perf_counter() - t0, 1e-9)
        if not all(math.isfinite(v) for v in losses.values()):
            raise DeblurnetError(f"training diverged at step {state.step}: {losses}")
        record = {"step": state.step, **losses, "lr": state.opt_g.param_groups[0]["lr"],
                  "images_per_s": rate}
        if on_step is not None:
            on_step(record)
        records.append(record)
    return records


# ------------------------------------------------------------------------------------------- driver


def next_stop(cfg: TrainConfig, step: int, end: int) -> int:
    """The first step after ``step`` at which training pauses for a checkpoint (every ``ckpt_every``),
    a validation (every ``val_every``, when there is a validation folder) or the end ``end``."""
    every = [cfg.ckpt_every] + ([cfg.val_every] if cfg.val is not None else [])
    return min([end] + [(step // n + 1) * n for n in every])


def train(cfg: TrainConfig) -> Path:
    """Train as configured; returns the run folder. Resumes from ``cfg.resume`` when given, else from
    the newest checkpoint in ``cfg.out`` (same step; the data stream restarts at the start of
    that step's epoch, so up to one epoch of samples is drawn again); a new run starts
    from ``cfg.init`` weights when given.

    Structure (torchvision's reference scripts: a loop calling ``train_one_epoch`` and ``evaluate``):
    the schedule is counted in optimiser steps, not epochs (cosine learning rate per step, checkpoint
    every ``ckpt_every`` steps, validation every ``val_every``, end at ``stop_at`` or ``steps``), and
    the data is one endless stream (:func:`infinite_batches`, epoch after epoch; the BatchNorm
    re-estimate before a checkpoint or validation draws from it too). So ``train`` calls
    ``train_one_epoch`` once per *stretch* of that stream, from one checkpoint / validation point to
    the next (:func:`next_stop`), and checkpoints and validates between stretches: data epochs would
    end between those points, and a run resumed mid-epoch would start with a partial one. The stretch
    is the unit the schedule actually has; the epoch stays what numbers the shuffle and the crops.

    Under torchrun every process runs the same stretches on its shard; rank 0 alone validates, writes
    the run log and the checkpoints.
    """
    cfg.validate()
    kind = "cuda" if cfg.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
    info = setup_distributed(kind)
    device = select_device(cfg.device, info.local_rank)
    if cfg.batch_size % info.world_size:
        raise DeblurnetError(f"batch size {cfg.batch_size} is not divisible by {info.world_size} processes")
    torch.manual_seed(cfg.seed + info.rank)
    run_dir = Path(cfg.out)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        amp = "bf16/fp16 mixed precision" if kind == "cuda" and cfg.amp else "float32"
        print(f"deblurnet train: {cfg.model} ({cfg.preset}) on {device} x{info.world_size}, {amp}, "
              f"run folder {run_dir}", flush=True)

    dataset = build_dataset(cfg)
    # a shuffled order per (seed, epoch), also for one process, so a resumed run draws what it would have
    sampler = DistributedSampler(dataset, info.world_size, info.rank, shuffle=True, seed=cfg.seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size // info.world_size, sampler=sampler,
                        num_workers=cfg.workers, drop_last=True, pin_memory=device.type == "cuda",
                        worker_init_fn=one_core_worker)  # called in worker processes only
    if len(loader) == 0:
        raise DeblurnetError(f"--data {cfg.data}: fewer triplets than one batch of {cfg.batch_size}")
    val_set = None
    if cfg.val is not None and info.is_main:
        from deblurnet import data
        if not Path(cfg.val).is_dir():
            raise DeblurnetError(f"--val {cfg.val}: not a folder")
        val_set = data.TripletFolder(cfg.val)

    checkpoint = resume_checkpoint(cfg)
    if checkpoint is not None:  # a resumed run trains what it trained (freeze_base is part of its design)
        frozen = bool(checkpoint.train_config.get("freeze_base", False))
        if frozen != cfg.freeze_base and info.is_main:
            print(f"note: {checkpoint.path} was trained with freeze_base = {str(frozen).lower()}; "
                  "the resumed run keeps it", flush=True)
        cfg = dataclasses.replace(cfg, freeze_base=frozen)
    # a resumed run rebuilds the network its checkpoint describes (model_options are for new runs)
    state = build_state(cfg, device, info, checkpoint.model_config if checkpoint is not None else None)
    if checkpoint is not None:
        restore_state(state, checkpoint)
        if info.is_main:
            print(f"resumed from {checkpoint.path} at step {state.step}", flush=True)
            if checkpoint.ema is not None and state.ema is None:
                print(f"warning: {checkpoint.path} holds a weight average, but ema_decay is 0 now: it is "
                      "dropped, and later checkpoints and exports carry the last step's weights; give "
                      "--ema-decay to keep it", flush=True)
    elif cfg.init is not None:
        widened = ckpt.load_widened(unwrap(state.model), cfg.init)
        reset_ema(state)
        if info.is_main:
            print(f"initialised from {cfg.init} ({len(widened)} tensors widened or added)", flush=True)
    run_log = RunLog(run_dir, info.is_main)
    batches = infinite_batches(loader, start_epoch=state.step // len(loader))
    end = cfg.stop_at or cfg.steps
    bar = tqdm(total=end, initial=state.step, disable=not info.is_main, unit="step", dynamic_ncols=True)

    def log_step(record: dict[str, float]) -> None:
        run_log.write(record)
        bar.set_postfix(loss=f"{record['loss_g']:.3f}", img_s=f"{record['images_per_s']:.1f}")
        bar.update(1)

    unwrap(state.model).train()
    try:
        while state.step < end:
            train_one_epoch(state, batches, next_stop(cfg, state.step, end),
                            lr=lambda step: learning_rate(cfg, step), on_step=log_step,
                            images_per_step=cfg.batch_size)
            last = state.step == end
            validate = cfg.val is not None and (state.step % cfg.val_every == 0 or last)
            save = state.step % cfg.ckpt_every == 0 or last
            if cfg.bn_recalibrate > 0 and (save or validate):
                # every process draws the same number of batches, so their data streams stay aligned
                recalibrate_batch_norm(state.shipped, itertools.islice(batches, cfg.bn_recalibrate), device)
            if validate and val_set is not None:
                figures = evaluate(state.shipped, val_set, device, cfg.val_limit)
                run_log.write({"step": state.step, **figures, "val_set": Path(cfg.val).name})
                bar.write(f"step {state.step}: validation PSNR {figures['val_psnr']:.2f} dB "
                          f"(long {figures['val_psnr_long']:.2f}, short {figures['val_psnr_short']:.2f})")
            if info.is_main and save:
                save_state(state, cfg, run_dir)
    finally:
        bar.close()
        run_log.close()
        if info.world_size > 1:
            dist.destroy_process_group()
    return run_dir

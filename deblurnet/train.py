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
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from deblurnet import checkpoint as ckpt
from deblurnet.config import TrainConfig, override, to_dict
from deblurnet.errors import DeblurnetError
from deblurnet.losses import LossWeights, content_loss, deblur_loss, discriminator_loss
from deblurnet.models import (DeblurRNN, complete_config, create_discriminator, create_model,
                              model_from_config)

log = logging.getLogger(__name__)

Batch = tuple[Tensor, Tensor, Tensor, Tensor]
"""(short, long, sharp, noise): (B, 3, H, W) x 3 and (B, 1, H, W), or the same without B."""
PARTS = ("short", "long", "sharp", "noise")


# ------------------------------------------------------------------------------------------ helpers


@dataclasses.dataclass(frozen=True)
class DistInfo:
    """Process group facts: ``rank``, ``world_size``, ``local_rank`` (all 0 / 1 / 0 when single)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_kind: str) -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1 (nccl for cuda, gloo for cpu)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def select_device(requested: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> cuda:local_rank when CUDA is present, else cpu."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise DeblurnetError("--device cuda asked for, but CUDA is not available")
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _to_chw(x: Any, what: str, channels: int) -> Tensor:
    """(H, W, C) numpy / (C, H, W) tensor -> (C, H, W) float32 tensor, C = ``channels``."""
    t = torch.as_tensor(x, dtype=torch.float32)
    if t.ndim == 3 and t.shape[-1] == channels and t.shape[0] != channels:
        t = t.permute(2, 0, 1)
    if t.ndim != 3 or t.shape[0] != channels:
        raise DeblurnetError(f"dataset item {what} has shape {tuple(t.shape)}, expected ({channels}, H, W)")
    return t.contiguous()


def as_sample(item: Any) -> Batch:
    """A dataset item (dict / object with short, long, sharp, noise, or a 4-tuple) -> (short, long,
    sharp) (3, H, W) and noise (1, H, W) tensors."""
    if isinstance(item, dict):
        parts = tuple(item[k] for k in PARTS)
    elif hasattr(item, "short"):
        parts = tuple(getattr(item, k) for k in PARTS)
    else:
        parts = tuple(item)[:4]
    return tuple(_to_chw(p, n, 1 if n == "noise" else 3) for p, n in zip(parts, PARTS))  # type: ignore


def crop_augment(triplet: Batch, crop: int, generator: torch.Generator) -> Batch:
    """The same random crop x crop window, flip and 90-degree turn for the four (C, H, W) tensors."""
    h, w = triplet[0].shape[-2:]
    if h < crop or w < crop:
        raise DeblurnetError(f"training image {w}x{h} is smaller than the crop {crop}")
    top = int(torch.randint(0, h - crop + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - crop + 1, (1,), generator=generator))
    flip, turns = torch.randint(0, 2, (1,), generator=generator), torch.randint(0, 4, (1,), generator=generator)
    out = []
    for img in triplet:
        img = img[:, top:top + crop, left:left + crop]
        if flip:
            img = img.flip(-1)
        out.append(torch.rot90(img, int(turns), dims=(-2, -1)).contiguous())
    return out[0], out[1], out[2], out[3]


class CropDataset(Dataset):
    """Wraps a triplet dataset: item i -> augmented (short, long, sharp) crops, random per (seed, epoch,
    i), so a resumed or distributed run draws the same crops."""

    def __init__(self, base: Dataset, crop: int, seed: int = 0) -> None:
        self.base, self.crop, self.seed, self.epoch = base, crop, seed, 0

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Batch:
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) * 10_000_019 + index)
        return crop_augment(as_sample(self.base[index]), self.crop, g)


def build_dataset(cfg: TrainConfig) -> CropDataset:
    """The training dataset of ``cfg.data``: a triplet folder or ``synth``, wrapped in CropDataset."""
    from deblurnet import data  # imported late: synthesis pulls in image decoding and caches

    if cfg.data == "synth":
        base: Dataset = data.SynthDataset(synth_config(cfg), length=cfg.synth_length, seed=cfg.seed)
    else:
        base = data.TripletFolder(cfg.data)
    return CropDataset(base, cfg.crop, cfg.seed)


def synth_config(cfg: TrainConfig) -> Any:
    """``deblurnet.data.SynthConfig`` from the ``synth`` table of the training config, with the crop
    size and ``profile`` (camera noise profile name) applied."""
    from deblurnet.data import SynthConfig

    try:
        synth = SynthConfig.from_dict(dict(cfg.synth))
    except (DeblurnetError, TypeError, ValueError) as exc:
        raise DeblurnetError(f"synthesis options (TOML [synth] table): {exc}") from None
    synth = dataclasses.replace(synth, size=cfg.crop)
    if cfg.profile is not None:
        synth = dataclasses.replace(synth, camera=dataclasses.replace(synth.camera, profile=cfg.profile))
    return synth


def psnr(pred: Tensor, target: Tensor) -> float:
    """PSNR in dB of [0, 1] images (pred clamped), averaged over the batch."""
    mse = (pred.clamp(0, 1) - target).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return float((-10 * torch.log10(mse)).mean())


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Learning rate for optimiser step ``step`` (0-based): constant, or cosine from lr to lr / 100."""
    if not cfg.cosine:
        return cfg.lr
    progress = min(step / max(cfg.steps - 1, 1), 1.0)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return module.module if isinstance(module, DistributedDataParallel) else module


# ------------------------------------------------------------------------------------ state + steps


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
        if denoised is not None:
            dn = content_loss(denoised.float(), sharp)
            g_loss = g_loss + w.content_denoise * dn
            parts["denoise"] = float(dn.detach())
    _backward_step(g_loss, state.opt_g, state.scaler)
    state.step += 1
    logs["loss_g"] = float(g_loss.detach())
    logs.update(parts)
    return logs


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, batches: Iterable[Batch], device: torch.device) -> int:
    """Replace every BatchNorm's running statistics by their exact average over ``batches``.

    The running averages kept during training (momentum 0.1, so ~10 small, mixed batches) are noisy and
    lag the weights; measured on a DeblurRNN checkpoint at step 1750, eval-mode validation PSNR rose from
    26.4 to 31.3 dB after recalibrating on 10 batches of 8. Everything but the norms runs in eval mode
    (no dropout, no spectral-norm power iteration); the weights are untouched. Returns the number of
    batches used (0 when the model has no BatchNorm).
    """
    net = unwrap(model)
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    was_training = net.training
    momenta = [m.momentum for m in norms]
    net.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
        m.train()
    n = 0
    for short, long, _, noise in batches:
        net(short.to(device), long.to(device), noise.to(device))
        n += 1
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    net.train(was_training)
    return n


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, device: torch.device, limit: int | None = None) -> dict[str, float]:
    """Mean PSNR (dB) of the model and of the two inputs on whole validation triplets (eval mode)."""
    net = unwrap(model)
    was_training = net.training
    net.eval()
    sums = {"val_psnr": 0.0, "val_psnr_short": 0.0, "val_psnr_long": 0.0}
    n = min(len(dataset), limit) if limit else len(dataset)  # type: ignore[arg-type]
    for i in range(n):
        short, long, sharp, noise = (t.unsqueeze(0).to(device) for t in as_sample(dataset[i]))
        out = net(short, long, noise)
        pred = out[0] if isinstance(out, tuple) else out
        sums["val_psnr"] += psnr(pred, sharp)
        sums["val_psnr_short"] += psnr(short, sharp)
        sums["val_psnr_long"] += psnr(long, sharp)
    net.train(was_training)
    return {k: v / max(n, 1) for k, v in sums.items()}


def infinite_batches(loader: DataLoader, start_epoch: int = 0) -> Iterator[Batch]:
    """Batches forever, epoch after epoch (sets the epoch on the sampler and the crop dataset)."""
    epoch = start_epoch
    while True:
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)
        if isinstance(loader.dataset, CropDataset):
            loader.dataset.epoch = epoch
            if hasattr(loader.dataset.base, "set_epoch"):
                loader.dataset.base.set_epoch(epoch)  # fresh synthetic samples each epoch
        yield from loader
        epoch += 1


def train_one_epoch(state: TrainState, loader: DataLoader, max_steps: int | None = None) -> list[dict[str, float]]:
    """Run ``train_step`` over one pass of ``loader`` (stopping at ``max_steps`` total). Returns logs."""
    logs = []
    for batch in loader:
        if max_steps is not None and state.step >= max_steps:
            break
        logs.append({"step": state.step + 1, **train_step(state, batch)})
    return logs


# ------------------------------------------------------------------------------------------- driver


class RunLog:
    """Appends JSON lines to ``run_dir/train.jsonl`` (and TensorBoard scalars when installed)."""

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self.path = run_dir / "train.jsonl"
        self.enabled = enabled
        self.tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                pass

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, record["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def build_state(cfg: TrainConfig, device: torch.device, info: DistInfo,
                model_config: dict[str, Any] | None = None) -> TrainState:
    """Model (from ``model_config`` when resuming, else from ``cfg``), discriminator, optimisers and AMP
    objects, wrapped in DDP when distributed."""
    model: nn.Module = (model_from_config(model_config) if model_config is not None else
                        create_model(cfg.model, cfg.preset, **cfg.model_options)).to(device)
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
    opt_g = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=betas) if disc is not None else None
    amp_dtype = scaler = None
    if device.type == "cuda" and cfg.amp:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if amp_dtype == torch.float16:
            scaler = torch.amp.GradScaler("cuda")
    return TrainState(model, disc, opt_g, opt_d, cfg.loss_weights(), device, amp_dtype, scaler,
                      per_net_losses=cfg.per_net_losses)


def save_state(state: TrainState, cfg: TrainConfig, run_dir: Path) -> Path:
    optim: dict[str, Any] = {"generator": state.opt_g.state_dict(), "step": state.step}
    if state.opt_d is not None:
        optim["discriminator"] = state.opt_d.state_dict()
    if state.scaler is not None:
        optim["scaler"] = state.scaler.state_dict()
    disc = unwrap(state.disc) if state.disc is not None else None
    return ckpt.save_checkpoint(run_dir, state.step, unwrap(state.model), disc, optim, to_dict(cfg))


def restore_state(state: TrainState, checkpoint: ckpt.Checkpoint | str | Path) -> None:
    """Load a checkpoint (or the newest one of a run folder) into ``state``: weights, optimisers, step."""
    c = checkpoint if isinstance(checkpoint, ckpt.Checkpoint) else ckpt.load_checkpoint(checkpoint)
    model = unwrap(state.model)
    if complete_config(c.model_config) != complete_config(model.config):  # type: ignore[arg-type]
        raise DeblurnetError(f"{c.path}: checkpoint is a {c.model_config.get('name')} "
                             f"({c.model_config.get('preset')}), not the configured model")
    model.load_state_dict(c.generator)
    state.opt_g.load_state_dict(c.optimizer["generator"])
    if state.disc is not None and c.discriminator is not None:
        unwrap(state.disc).load_state_dict(c.discriminator)
        if state.opt_d is not None and "discriminator" in c.optimizer:
            state.opt_d.load_state_dict(c.optimizer["discriminator"])
    if state.scaler is not None and "scaler" in c.optimizer:
        state.scaler.load_state_dict(c.optimizer["scaler"])
    state.step = c.step


def train(cfg: TrainConfig) -> Path:
    """Train as configured; returns the run folder. Resumes from ``cfg.resume`` when given."""
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
                        num_workers=cfg.workers, drop_last=True, pin_memory=device.type == "cuda")
    if len(loader) == 0:
        raise DeblurnetError(f"--data {cfg.data}: fewer triplets than one batch of {cfg.batch_size}")
    val_set = None
    if cfg.val is not None and info.is_main:
        from deblurnet import data
        if not Path(cfg.val).is_dir():
            raise DeblurnetError(f"--val {cfg.val}: not a folder")
        val_set = data.TripletFolder(cfg.val)

    resume = cfg.resume
    if resume is None:  # an interrupted run continues where it stopped
        try:
            resume = str(ckpt.find_checkpoint(run_dir))
        except DeblurnetError:
            pass
    checkpoint = ckpt.load_checkpoint(resume) if resume is not None else None
    if checkpoint is not None and checkpoint.model_config.get("name") != cfg.model:
        raise DeblurnetError(f"{checkpoint.path}: checkpoint is a {checkpoint.model_config.get('name')}, "
                             f"not a {cfg.model}")
    # a resumed run rebuilds the network its checkpoint describes (model_options are for new runs)
    state = build_state(cfg, device, info, checkpoint.model_config if checkpoint is not None else None)
    if checkpoint is not None:
        restore_state(state, checkpoint)
        if info.is_main:
            print(f"resumed from {checkpoint.path} at step {state.step}", flush=True)
    elif cfg.init is not None:
        widened = ckpt.load_widened(unwrap(state.model), cfg.init)
        if info.is_main:
            print(f"initialised from {cfg.init} ({len(widened)} tensors widened)", flush=True)
    run_log = RunLog(run_dir, info.is_main)
    batches = infinite_batches(loader, start_epoch=state.step // len(loader))
    end = cfg.stop_at or cfg.steps
    bar = tqdm(total=end, initial=state.step, disable=not info.is_main, unit="step", dynamic_ncols=True)
    unwrap(state.model).train()
    try:
        while state.step < end:
            t0 = time.perf_counter()
            lr = learning_rate(cfg, state.step)
            for opt in (state.opt_g, state.opt_d):
                for group in opt.param_groups if opt is not None else ():
                    group["lr"] = lr
            losses = train_step(state, next(batches))
            rate = cfg.batch_size / max(time.perf_counter() - t0, 1e-9)
            if not all(math.isfinite(v) for v in losses.values()):
                raise DeblurnetError(f"training diverged at step {state.step}: {losses}")
            run_log.write({"step": state.step, **losses, "lr": lr, "images_per_s": rate})
            bar.set_postfix(loss=f"{losses['loss_g']:.3f}", img_s=f"{rate:.1f}")
            bar.update(1)
            last = state.step == end
            validate = cfg.val is not None and (state.step % cfg.val_every == 0 or last)
            save = state.step % cfg.ckpt_every == 0 or last
            if cfg.bn_recalibrate > 0 and (save or validate):
                # every process draws the same number of batches, so their data streams stay aligned
                recalibrate_batch_norm(state.model, itertools.islice(batches, cfg.bn_recalibrate), device)
            if validate and val_set is not None:
                figures = evaluate(state.model, val_set, device, cfg.val_limit)
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


def export_weights(run_dir: str | Path, path: str | Path, dtype: torch.dtype = torch.float16,
                   recalibrate: int = 10) -> Path:
    """Shipped weights from a run's newest checkpoint, with a card (steps, data, validation).

    ``recalibrate`` > 0: first re-estimate the BatchNorm statistics over that many training batches
    (data and crop from the checkpoint's training config) and, when the run's validation folder exists,
    validate again so the card's figures describe the exported weights.
    """
    c = ckpt.load_checkpoint(run_dir)
    model = model_from_config(c.model_config)
    model.load_state_dict(c.generator)
    card: dict[str, Any] = {"steps": c.step, "data": c.train_config.get("data"),
                            "preset": c.model_config.get("preset"), "train": c.train_config}
    log_path = Path(run_dir) / "train.jsonl"
    if log_path.is_file():
        vals = [r for r in map(json.loads, log_path.read_text().splitlines()) if "val_psnr" in r]
        if vals:
            card["validation"] = vals[-1]
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    tcfg = override(TrainConfig(), {k: v for k, v in c.train_config.items() if k in known}, str(c.path))
    if tcfg.data == "synth":
        from deblurnet.synth.config import describe_sources

        sources = describe_sources(synth_config(tcfg))
        research_only = any("research" in source["terms"] for source in sources)
        card["training_data"] = sources
        card["terms"] = ("research and non-commercial use: trained on material under research-only "
                         "terms (training_data)" if research_only else "as training_data's terms allow")
    if recalibrate > 0:
        dataset = build_dataset(tcfg)
        sampler = DistributedSampler(dataset, 1, 0, shuffle=True, seed=tcfg.seed + 1)
        loader = DataLoader(dataset, batch_size=tcfg.batch_size, sampler=sampler, drop_last=True)
        n = recalibrate_batch_norm(model, itertools.islice(infinite_batches(loader), recalibrate),
                                   torch.device("cpu"))
        card["bn_recalibrated_batches"] = n
        if n and tcfg.val is not None and Path(tcfg.val).is_dir():
            from deblurnet import data
            figures = evaluate(model, data.TripletFolder(tcfg.val), torch.device("cpu"), tcfg.val_limit)
            card["validation"] = {"step": c.step, **figures, "val_set": Path(tcfg.val).name}
    return ckpt.save_weights(model, path, card, dtype)

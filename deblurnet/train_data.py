"""The training data stream: dataset items as (short, long, sharp, noise) tensors, the same random
crop / flip / turn for the four, and endless epoch-numbered batches (so a resumed or distributed run
draws the crops it would have drawn)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from typing import Any

import cv2
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from deblurnet.config import TrainConfig
from deblurnet.errors import DeblurnetError

Batch = tuple[Tensor, Tensor, Tensor, Tensor]
"""(short, long, sharp, noise): (B, 3, H, W) x 3 and (B, 1, H, W), or the same without B."""
PARTS = ("short", "long", "sharp", "noise")


def _to_chw(x: Any, what: str, channels: int) -> Tensor:
    """(H, W, C) numpy / (C, H, W) tensor -> (C, H, W) float32 tensor, C = ``channels``."""
    t = torch.as_tensor(x, dtype=torch.float32)
    if t.ndim == 3 and t.shape[-1] == channels and t.shape[0] != channels:
        t = t.permute(2, 0, 1)
    if t.ndim != 3 or t.shape[0] != channels:
        raise DeblurnetError(f"dataset item {what} has shape {tuple(t.shape)}, expected ({channels}, H, W)")
    return t.contiguous()


def one_core_worker(worker_id: int) -> None:
    """``worker_init_fn`` of the training DataLoader: each synthesis worker computes on one core (torch
    does this for its own threads; here OpenCV's and :mod:`isp.chunks`' too). With many workers their
    own thread pools would oversubscribe the CPU: 14 workers on the 16-core GPU machine ran at a load
    average of 108. The pixels do not depend on the thread counts."""
    cv2.setNumThreads(1)
    os.environ["BURSTCAP_THREADS"] = "1"


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


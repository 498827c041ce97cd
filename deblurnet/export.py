"""Shipped weights from a training run: the newest checkpoint (its weight average when the run kept
one), BatchNorm re-estimated, validated again, written as safetensors with a JSON card
(:func:`deblurnet.checkpoint.save_weights`)."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler

from deblurnet import checkpoint as ckpt
from deblurnet.config import TrainConfig, override
from deblurnet.models import model_from_config
from deblurnet.train_data import build_dataset, infinite_batches, synth_config
from deblurnet.validation import evaluate, recalibrate_batch_norm


def export_weights(run_dir: str | Path, path: str | Path, dtype: torch.dtype = torch.float16,
                   recalibrate: int = 10) -> Path:
    """Shipped weights from a run's newest checkpoint, with a card (steps, data, validation). The
    checkpoint's weight average is exported when the run kept one (card ``weights``: which it is).

    ``recalibrate`` > 0: first re-estimate the BatchNorm statistics over that many training batches
    (data and crop from the checkpoint's training config; a run with ``freeze_base`` has none to
    re-estimate) and, when the run's validation folder exists,
    validate again so the card's figures describe the exported weights.
    """
    c = ckpt.load_checkpoint(run_dir)
    model = model_from_config(c.model_config)
    model.load_state_dict(c.ema if c.ema is not None else c.generator)
    card: dict[str, Any] = {"steps": c.step, "data": c.train_config.get("data"),
                            "weights": (f"moving average, decay {c.train_config.get('ema_decay')}"
                                        if c.ema is not None else "last step"),
                            "preset": c.model_config.get("preset"), "train": c.train_config}
    log_path = Path(run_dir) / "train.jsonl"
    if log_path.is_file():
        vals = [r for r in map(json.loads, log_path.read_text().splitlines()) if "val_psnr" in r]
        if vals:
            card["validation"] = vals[-1]
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    tcfg = override(TrainConfig(), {k: v for k, v in c.train_config.items() if k in known}, str(c.path))
    if tcfg.freeze_base:  # its two nets trained nothing: their BatchNorm statistics stay as loaded
        model.freeze_base()  # type: ignore[operator]
        recalibrate, card["bn_recalibrated_batches"] = 0, 0
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

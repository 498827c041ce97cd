"""`deblurnet train`: train DeblurRNN / DeblurMerger on a triplet folder or on-the-fly synthesis."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from deblurnet.config import TrainConfig, load_toml, override

#: deblurnet.models.list_models() and sorted(deblurnet.models.PRESETS), repeated so that --help loads
#: no torch (a test checks they agree).
MODEL_NAMES = ("deblur-merger", "deblur-rnn")
PRESET_NAMES = ("compact", "paper")

EPILOG = """\
examples:
  deblurnet train --data synth --steps 3000 --crop 128 --adv 0 --grad 0 --dark-channel 0 \\
      --lr 1e-3 --cosine --val val/ --out runs/rnn --threads 2   # CPU recipe: best PSNR per minute
  deblurnet train --config train.toml --resume runs/rnn          # continue where it stopped
  torchrun --nproc_per_node=2 -m deblurnet.cli train --data triplets/ --steps 20000
  deblurnet train --data synth --steps 3000 --export deblurnet/weights/deblur-rnn.safetensors

Defaults are the paper's (lambda_c = lambda_grad = 50, lambda_dc = 250, adversarial weight 1). On a
small CPU budget the L1-only recipe above is better for PSNR: 200 steps of 8 x 128 px on GOPRO2 pairs
gave 26.4 dB against 22.4 dB with the paper's loss mix (validation, eval mode, before the full-res
refinement layer), 27.4 dB with lr 1e-3, 28.9 dB with the refinement layer (now the default).
Precedence: built-in defaults < --config TOML (keys = long option names with '_') < command line.
On CUDA it trains with mixed precision; otherwise on the CPU (the device is printed at start).
A run folder holds train.jsonl (one line per step, validation lines with val_psnr), checkpoints/
(step-NNNNNNN: generator/discriminator .safetensors, config.json, optimizer.pt) and, when tensorboard
is installed, tensorboard/. Plot the log with `python -m deblurnet.plots RUN/train.jsonl`.
"""

D = TrainConfig()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a fusion network (resumable, DDP under torchrun)",
        description="Train DeblurRNN or DeblurMerger on (short, long, sharp) triplets. Losses and "
                    "optimiser follow the paper: L1 + Sobel-gradient + dark-channel + adversarial, "
                    "Adam lr 2e-4, beta1 0.5.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--config", type=Path, metavar="FILE.toml", help="TOML file filling the training options")
    a("--model", choices=MODEL_NAMES, help=f"network to train (default {D.model})")
    a("--preset", choices=PRESET_NAMES, help=f"width preset: compact = fast on a CPU, paper = "
      f"64-128-256-512 channels (default {D.preset})")
    a("--data", metavar="DIR|synth", help="a triplet folder (short/ long/ sharp/ PNGs) or 'synth' for "
      f"on-the-fly synthesis from sharp frames (default {D.data})")
    a("--synth-length", type=int, help=f"synthetic samples per epoch, fresh each epoch (default "
      f"{D.synth_length}); other synthesis options go in the TOML [synth] table (SynthConfig fields)")
    a("--profile", metavar="NAME", help="camera noise profile (hardware_profiles) for --data synth")
    a("--val", metavar="DIR", help="validation triplet folder: PSNR logged every --val-every steps")
    a("--out", metavar="DIR", help=f"run folder for logs and checkpoints (default {D.out})")
    a("--resume", metavar="DIR", help="continue from a run folder's newest checkpoint (or a checkpoint "
      "folder): weights, optimiser state and step count")
    a("--steps", type=int, help=f"total optimiser steps to reach (default {D.steps})")
    a("--stop-at", type=int, metavar="STEP", help="stop (with a checkpoint) after this step, while the "
      "learning-rate schedule still spans --steps; resume later to go on")
    a("--batch-size", type=int, help=f"global batch size, split over processes (default {D.batch_size})")
    a("--crop", type=int, help=f"square training crop in pixels (default {D.crop})")
    a("--lr", type=float, help=f"Adam learning rate (default {D.lr})")
    a("--beta1", type=float, help=f"Adam beta1 (default {D.beta1})")
    a("--cosine", action="store_const", const=True, help="cosine-decay the learning rate to lr/100 "
      "over --steps (default: constant, as the paper)")
    a("--ema-decay", type=float, metavar="D", help="keep an exponential moving average of the weights, "
      "decay D per step after a warm-up (0.999 averages over ~1000 steps); it is checkpointed beside the "
      "last step's weights, and validated and exported instead of them; give it again when resuming; "
      f"0 = off (default {D.ema_decay})")
    a("--joint", dest="per_net_losses", action="store_const", const=False,
      help="DeblurRNN: let the deblurring loss train the denoising net too (end to end); default: "
           "each net learns from its own loss only, as Table I of the paper")
    a("--adv", type=float, help=f"adversarial loss weight; 0 disables the discriminator and its step, "
      f"saving time on a CPU (default {D.adv})")
    a("--content", type=float, help=f"lambda_c2, L1 weight of the output (default {D.content})")
    a("--content-denoise", type=float, help=f"lambda_c1, L1 weight of DeblurRNN's denoising net "
      f"(default {D.content_denoise})")
    a("--grad", type=float, help=f"lambda_grad, Sobel-gradient L1 weight (default {D.grad})")
    a("--dark-channel", type=float, help=f"lambda_dc, dark-channel loss weight (default {D.dark_channel})")
    a("--val-every", type=int, help=f"validation interval in steps (default {D.val_every})")
    a("--val-limit", type=int, help=f"validate on at most this many triplets (default {D.val_limit})")
    a("--bn-recalibrate", type=int, metavar="N", help=f"before each validation and checkpoint, "
      f"re-estimate BatchNorm statistics exactly over N training batches; 0 = off (default "
      f"{D.bn_recalibrate})")
    a("--ckpt-every", type=int, help=f"checkpoint interval in steps (default {D.ckpt_every})")
    a("--workers", type=int, help=f"data-loading worker processes (default {D.workers})")
    a("--seed", type=int, help=f"random seed for weights, crops and synthesis (default {D.seed})")
    a("--device", choices=["auto", "cpu", "cuda"], help=f"where to train (default {D.device})")
    a("--no-amp", dest="amp", action="store_const", const=False,
      help="train in float32 on CUDA too (default: mixed precision on CUDA)")
    a("--sync-bn", dest="sync_bn", action="store_const", const=True,
      help="under torchrun on CUDA, synchronise BatchNorm statistics across processes (CUDA only)")
    a("--threads", type=int, metavar="N", help="CPU threads for torch (default: torch's choice)")
    a("--export", type=Path, metavar="FILE.safetensors",
      help="after training, write fp16 shipped weights and their JSON card here")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """TrainConfig: defaults, then --config TOML, then the options given on the command line."""
    cfg = load_toml(args.config) if args.config else TrainConfig()
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    return override(cfg, given, "command line").validate()


def run(args: argparse.Namespace) -> int:
    import torch

    from deblurnet.train import export_weights, train

    from deblurnet.inference import check_threads

    if args.threads:
        torch.set_num_threads(check_threads(args.threads))
    cfg = config_from_args(args)
    run_dir = train(cfg)
    if args.export is not None and int(os.environ.get("RANK", "0")) == 0:
        path = export_weights(run_dir, args.export, recalibrate=cfg.bn_recalibrate)
        print(f"exported weights to {path}")
    return 0

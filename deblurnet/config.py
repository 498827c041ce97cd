"""Training configuration: the ``TrainConfig`` dataclass, filled from defaults, then a TOML file, then
command-line options (each later source overrides the earlier).

TOML keys are the field names of ``TrainConfig`` (flat, e.g. ``steps = 2000``, ``model_options =
{ widths = [16, 32, 64, 64] }``); unknown keys or wrong types are errors naming the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomlconfig

from deblurnet.errors import DeblurnetError

if TYPE_CHECKING:  # deblurnet.losses loads torch; this module stays light for `deblurnet train --help`
    from deblurnet.losses import LossWeights


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything ``deblurnet train`` needs. Units: steps are optimiser iterations, crop in pixels."""

    model: str = "deblur-rnn"  # registered model name (deblurnet.models.list_models())
    preset: str = "compact"  # width preset: compact | paper
    model_options: dict[str, Any] = dataclasses.field(default_factory=dict)  # NetConfig overrides
    data: str = "synth"  # a triplet folder (short/ long/ sharp/) or "synth" (on-the-fly synthesis)
    synth: dict[str, Any] = dataclasses.field(default_factory=dict)  # SynthConfig fields (TOML [synth])
    synth_length: int = 2000  # synthetic samples per epoch (fresh ones each epoch)
    profile: str | None = None  # hardware_profiles camera profile for the synthetic noise
    val: str | None = None  # validation triplet folder (PSNR every val_every steps)
    out: str = "runs/deblurnet"  # run folder: checkpoints, train.jsonl, weights
    resume: str | None = None  # run folder or checkpoint folder to resume from
    init: str | None = None  # new run: start from this weights file (input channels it lacks start at 0)
    freeze_base: bool = False  # DeblurRNN: train only its refinement net (model_options.refine_width > 0)
    steps: int = 1000
    stop_at: int | None = None  # stop after this step; the learning-rate schedule still spans `steps`
    batch_size: int = 8  # global batch (split across DDP ranks)
    crop: int = 256  # training crop size, pixels (multiple of 16 for the default widths)
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    cosine: bool = False  # cosine-decay the learning rate from lr to lr / 100 over `steps` (paper: constant)
    ema_decay: float = 0.0  # keep an exponential moving average of the generator's weights (0: none);
    # when on, it is what is validated, checkpointed beside the weights and exported (train_state)
    content_denoise: float = 50.0  # lambda_c1
    content: float = 50.0  # lambda_c2
    grad: float = 50.0  # lambda_grad
    dark_channel: float = 250.0  # lambda_dc
    per_net_losses: bool = True  # DeblurRNN: deblurring loss stays out of the denoising net (Table I)
    adv: float = 1.0  # adversarial weight; 0 disables the discriminator (fast, good on a CPU)
    dark_patch: int = 15
    val_every: int = 500
    val_limit: int = 8  # at most this many validation triplets
    bn_recalibrate: int = 10  # batches to re-estimate BatchNorm statistics before validation/checkpoints
    ckpt_every: int = 500
    workers: int = 0  # DataLoader worker processes
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    sync_bn: bool = False  # SyncBatchNorm across DDP processes (CUDA only: torch has no CPU version)

    def loss_weights(self) -> LossWeights:
        """The lambdas as a LossWeights."""
        from deblurnet.losses import LossWeights

        return LossWeights(self.content_denoise, self.content, self.grad, self.dark_channel,
                           self.adv, self.dark_patch)

    def validate(self) -> TrainConfig:
        """Raise DeblurnetError on impossible values; returns self."""
        if self.steps < 1 or self.batch_size < 1 or self.crop < 8:
            raise DeblurnetError("steps and batch_size must be >= 1 and crop >= 8")
        if self.stop_at is not None and not 1 <= self.stop_at <= self.steps:
            raise DeblurnetError(f"stop_at must be in [1, steps={self.steps}], got {self.stop_at}")
        if self.lr <= 0 or self.val_every < 1 or self.ckpt_every < 1:
            raise DeblurnetError("lr, val_every and ckpt_every must be positive")
        if self.device not in ("auto", "cpu", "cuda"):
            raise DeblurnetError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise DeblurnetError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.seed < 0:
            raise DeblurnetError(f"seed must be >= 0, got {self.seed}")
        return self


def override(cfg: TrainConfig, values: Mapping[str, Any], source: str = "options") -> TrainConfig:
    """A copy of ``cfg`` with ``values`` replacing fields (:func:`tomlconfig.from_dict`); unknown names
    or wrong types raise DeblurnetError mentioning ``source`` and the key."""
    try:
        return tomlconfig.from_dict(TrainConfig, values, source=source, base=cfg, noun="training option")
    except tomlconfig.ConfigError as exc:
        raise DeblurnetError(str(exc)) from None


def load_toml(path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
    """TrainConfig from a TOML file (flat keys = field names) over ``base`` (defaults if None). The
    ``[synth]`` table is checked against ``SynthConfig`` here, so its errors name the file and the
    dotted key (``synth.camera.time_ratio``); it stays a dict in the config."""
    try:
        cfg = tomlconfig.load_toml(path, TrainConfig, base=base or TrainConfig(), noun="training option")
    except tomlconfig.ConfigError as exc:
        raise DeblurnetError(str(exc)) from None
    if cfg.synth:
        from deblurnet.synth.config import SynthConfig  # numpy, OpenCV: only when a file is loaded

        SynthConfig.from_dict(cfg.synth, source=str(path), prefix="synth.")
    return cfg


def to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain JSON-able dict of the config."""
    return dataclasses.asdict(cfg)

"""Loss weights change what training moves (issue 13): each weight reaches the net it trains.

DeblurRNN with per-net losses (Table I of the paper): lambda_c1 (``content_denoise``) alone trains the
denoising net, the deblurring terms (``content``, ``grad``, ``dark_channel``) the deblurring net. With
a weight at 0 its net's parameters do not move at all and its loss stays where it was; with the weight
set they move and the loss falls by a margin on a fixed batch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblurnet.config import TrainConfig
from deblurnet.distributed import DistInfo
from deblurnet.train import train_step
from deblurnet.train_state import build_state
from test_train import SMALL, fixed_batch

STEPS = 15


def run(**weights: float) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Train STEPS steps on one fixed batch; returns the largest parameter change per net and the logs."""
    torch.manual_seed(0)
    cfg = TrainConfig(model="deblur-rnn", adv=0.0, model_options=SMALL, lr=1e-3, **weights)
    state = build_state(cfg, torch.device("cpu"), DistInfo())
    nets = {"denoise": state.model.denoise_net, "deblur": state.model.deblur_net}
    before = {n: {k: v.detach().clone() for k, v in net.named_parameters()} for n, net in nets.items()}
    batch = fixed_batch()
    logs = [train_step(state, batch) for _ in range(STEPS)]
    moved = {n: max(float((v.detach() - before[n][k]).abs().max()) for k, v in net.named_parameters())
             for n, net in nets.items()}
    return moved, logs


def fall(logs: list[dict[str, float]], key: str) -> float:
    """Last three steps' mean of loss ``key`` over the first step's."""
    return float(np.mean([r[key] for r in logs[-3:]]) / logs[0][key])


@pytest.mark.parametrize("weight", [0.0, 50.0])
def test_denoising_weight_alone_trains_the_denoising_net(weight: float) -> None:
    moved, logs = run(content_denoise=weight)
    if weight:
        assert moved["denoise"] > 1e-3
        assert fall(logs, "denoise") < 0.9, [r["denoise"] for r in logs]
    else:
        assert moved["denoise"] == 0.0
        assert fall(logs, "denoise") == pytest.approx(1.0, abs=0.05)
    assert moved["deblur"] > 1e-3  # the deblurring terms train the other net either way


def test_deblurring_weights_train_the_deblurring_net() -> None:
    none, _ = run(content=0.0, grad=0.0, dark_channel=0.0)
    assert none["deblur"] == 0.0 and none["denoise"] > 1e-3
    content, logs = run(grad=0.0, dark_channel=0.0)
    assert content["deblur"] > 1e-3
    assert fall(logs, "content") < 0.8, [r["content"] for r in logs]

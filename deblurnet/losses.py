"""Losses of DeblurRNN / DeblurMerger (paper section III-B, Table I).

Images are (B, 3, H, W) network-domain tensors; discriminator outputs are logits (B,). Every function
returns a scalar tensor (mean over the batch).

Decisions where the paper is loose:

* Sobel gradients use the 3x3 Sobel kernels ([-1, 0, 1] x [1, 2, 1]) divided by 8, so a response is
  the intensity change per pixel (kornia's ``normalized=True``), on each channel, with replicate padding
  (same size out). Unnormalised kernels made L_grad ~6x larger than L_c at the start of training,
  against the paper's rule that the weighted terms start at similar scales, and pulled the optimiser
  away from the L1 fit that PSNR measures.
* The dark-channel loss (eq. 2) compares dark channels with the mean squared difference (the "L2" of
  the paper, averaged per pixel so it does not grow with the crop size); the patch is 15 x 15 pixels
  (He et al.), odd, centred, edges ignored through -inf padding of the min-pool.
* Adversarial loss (eq. 4): the discriminator minimises BCE(D(real), 1) + BCE(D(fake), 0), i.e. maximises
  eq. 4; the generator uses the non-saturating form -log D(G(z, y)) (Goodfellow et al.) instead of
  log(1 - D(G)), which stalls when D wins early. Both take logits (sigmoid inside, autocast-safe).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor

SOBEL_H = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
"""Normalised horizontal Sobel kernel (left-right change per pixel); the vertical one is its transpose."""


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """Lambdas of Table I. ``adv`` = 0 disables the discriminator (and its optimiser step): a CPU budget
    option that leaves a pure L1 + gradient + dark-channel regression."""

    content_denoise: float = 50.0  # lambda_c1, denoising net of DeblurRNN (L1 only)
    content: float = 50.0  # lambda_c2
    grad: float = 50.0  # lambda_grad
    dark_channel: float = 250.0  # lambda_dc
    adv: float = 1.0  # weight of L_adv in the generator loss
    dark_patch: int = 15  # neighbourhood N(p) of the dark channel, pixels


def content_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Eq. 5 / 7: mean absolute error."""
    return F.l1_loss(pred, target)


def sobel_gradients(x: Tensor) -> tuple[Tensor, Tensor]:
    """(B, C, H, W) -> (horizontal, vertical) Sobel responses, each (B, C, H, W) (replicate padding)."""
    c = x.shape[1]
    kh = SOBEL_H.to(x.dtype).to(x.device)
    kernels = torch.stack([kh, kh.t()]).unsqueeze(1).repeat(c, 1, 1, 1)  # (2C, 1, 3, 3)
    out = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels, groups=c)
    return out[:, 0::2], out[:, 1::2]


def gradient_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Eq. 6: L1 of horizontal plus L1 of vertical Sobel gradient differences."""
    ph, pv = sobel_gradients(pred)
    th, tv = sobel_gradients(target)
    return F.l1_loss(ph, th) + F.l1_loss(pv, tv)


def dark_channel(x: Tensor, patch: int = 15) -> Tensor:
    """(B, C, H, W) -> (B, 1, H, W): min over channels, then min over a patch x patch neighbourhood."""
    if patch % 2 == 0 or patch < 1:
        raise ValueError(f"dark-channel patch must be odd and positive, got {patch}")
    m = x.amin(dim=1, keepdim=True)
    return -F.max_pool2d(-m, patch, stride=1, padding=patch // 2)


def dark_channel_loss(pred: Tensor, target: Tensor, patch: int = 15) -> Tensor:
    """Eq. 2: mean squared difference of the dark channels."""
    return F.mse_loss(dark_channel(pred, patch), dark_channel(target, patch))


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-(eq. 4): BCE(sigmoid(real), 1) + BCE(sigmoid(fake), 0), logits (B,)."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_adversarial_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator term: -log sigmoid(fake_logits), mean over the batch."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def deblur_loss(pred: Tensor, target: Tensor, weights: LossWeights,
                fake_logits: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
    """Eq. 3: adv * L_adv + lambda_c L_c + lambda_grad L_grad + lambda_dc L_dc.

    ``fake_logits`` (D on ``pred``) is needed when ``weights.adv`` > 0. Returns the total and the
    unweighted parts as floats (for logging).
    """
    parts = {
        "content": content_loss(pred, target),
        "grad": gradient_loss(pred, target),
        "dark_channel": dark_channel_loss(pred, target, weights.dark_patch),
    }
    total = (weights.content * parts["content"] + weights.grad * parts["grad"]
             + weights.dark_channel * parts["dark_channel"])
    if weights.adv > 0:
        if fake_logits is None:
            raise ValueError("adversarial weight > 0 needs the discriminator's logits on pred")
        parts["adv"] = generator_adversarial_loss(fake_logits)
        total = total + weights.adv * parts["adv"]
    return total, {k: float(v.detach()) for k, v in parts.items()}

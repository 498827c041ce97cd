"""deblurnet.losses: each loss against a value computed by hand (or by an independent loop)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deblurnet.losses import (LossWeights, content_loss, dark_channel, dark_channel_loss, deblur_loss,
                              discriminator_loss, generator_adversarial_loss, gradient_loss,
                              sobel_gradients)


def test_content_loss_is_mean_absolute_error() -> None:
    pred = torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]]])
    target = torch.tensor([[[[0.5, 0.5], [0.0, 0.0]]]])
    assert content_loss(pred, target).item() == pytest.approx((0.5 + 0 + 1 + 0.25) / 4)


def test_sobel_on_a_ramp() -> None:
    """f = 0.1 * column: interior horizontal Sobel = (1 + 2 + 1) * (0.1 * 2) / 8 = 0.1 (the slope); the
    replicated edge columns see one step only (0.05); vertical response is zero."""
    ramp = (0.1 * torch.arange(4.0)).expand(1, 1, 4, 4).clone()
    gh, gv = sobel_gradients(ramp)
    expected = torch.tensor([0.05, 0.1, 0.1, 0.05]).expand(4, 4)
    torch.testing.assert_close(gh[0, 0], expected)
    assert gv.abs().max() < 1e-6
    gh_t, gv_t = sobel_gradients(ramp.transpose(-1, -2))
    torch.testing.assert_close(gv_t[0, 0], expected.t())
    assert gh_t.abs().max() < 1e-6


def test_gradient_loss_hand_value() -> None:
    ramp = (0.1 * torch.arange(4.0)).expand(2, 3, 4, 4).clone()
    zeros = torch.zeros_like(ramp)
    # |gh| averages (0.05 + 0.1 + 0.1 + 0.05) / 4 = 0.075, gv = 0
    assert gradient_loss(ramp, zeros).item() == pytest.approx(0.075)
    assert gradient_loss(ramp + 0.3, ramp).item() == pytest.approx(0.0, abs=1e-6)  # offsets ignored
    both = ramp + ramp.transpose(-1, -2)
    assert gradient_loss(both, zeros).item() == pytest.approx(0.15)


def dark_channel_loop(img: np.ndarray, patch: int) -> np.ndarray:
    """Independent reference: per pixel, min over channels and the clipped patch x patch window."""
    c, h, w = img.shape
    r = patch // 2
    out = np.empty((h, w))
    for y in range(h):
        for x in range(w):
            out[y, x] = img[:, max(0, y - r):y + r + 1, max(0, x - r):x + r + 1].min()
    return out


@pytest.mark.parametrize("patch", [1, 3, 5])
def test_dark_channel_matches_loop(patch: int) -> None:
    rng = np.random.default_rng(0)
    img = rng.random((3, 6, 7)).astype(np.float32)
    got = dark_channel(torch.from_numpy(img)[None], patch)
    assert got.shape == (1, 1, 6, 7)
    np.testing.assert_allclose(got[0, 0].numpy(), dark_channel_loop(img, patch), rtol=0, atol=0)


def test_dark_channel_loss_hand_value() -> None:
    """A flat grey image (dark channel 0.5 everywhere) against one with a single dark pixel (0.1): with a
    3x3 patch, the 9 pixels around it get dark channel 0.1, so MSE = 9 * 0.4^2 / 25."""
    grey = torch.full((1, 3, 5, 5), 0.5)
    dotted = grey.clone()
    dotted[0, 1, 2, 2] = 0.1
    assert dark_channel_loss(dotted, grey, patch=3).item() == pytest.approx(9 * 0.16 / 25)
    with pytest.raises(ValueError, match="odd"):
        dark_channel(grey, 4)


def test_adversarial_losses_hand_values() -> None:
    zero = torch.zeros(4)
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert generator_adversarial_loss(zero).item() == pytest.approx(math.log(2))
    real, fake = torch.tensor([2.0, 1.0]), torch.tensor([-1.0, 0.5])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    expected_d = -(math.log(sig(2)) + math.log(sig(1))) / 2 - (math.log(1 - sig(-1)) + math.log(1 - sig(0.5))) / 2
    assert discriminator_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    expected_g = -(math.log(sig(-1)) + math.log(sig(0.5))) / 2
    assert generator_adversarial_loss(fake).item() == pytest.approx(expected_g, rel=1e-6)
    # a confident, right discriminator has (near) zero loss
    assert discriminator_loss(torch.full((2,), 30.0), torch.full((2,), -30.0)).item() < 1e-10


def test_deblur_loss_combines_the_paper_weights() -> None:
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(2, 3, 16, 16, generator=g), torch.rand(2, 3, 16, 16, generator=g)
    logits = torch.tensor([0.3, -0.2])
    w = LossWeights()
    assert (w.content_denoise, w.content, w.grad, w.dark_channel) == (50, 50, 50, 250)
    total, parts = deblur_loss(pred, target, w, logits)
    expected = (50 * content_loss(pred, target) + 50 * gradient_loss(pred, target)
                + 250 * dark_channel_loss(pred, target, 15) + generator_adversarial_loss(logits))
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert set(parts) == {"content", "grad", "dark_channel", "adv"}
    no_adv, parts0 = deblur_loss(pred, target, LossWeights(adv=0))
    assert "adv" not in parts0
    assert no_adv.item() == pytest.approx((expected - generator_adversarial_loss(logits)).item(), rel=1e-6)
    with pytest.raises(ValueError, match="logits"):
        deblur_loss(pred, target, w)

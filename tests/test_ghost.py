"""The ghost guard (burstcap.ghost) alone and inside the fuse pipeline.

The pipeline tests use a stand-in network that *trusts the long frame* (returns its long input): the
worst case of a network that copies whatever the long frame shows, so a ghost in the long frame
reaches the output unless the guard stops it. The tests are about the pipeline, not the weights (the
shipped network's figures are in the README, from benchmarks/ghost_guard.py).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from burstcap.fuse import fuse_arrays, to_network
from burstcap.ghost import ghost_confidence, guard, match_tones
from deblurnet.baselines import denoise_nlm
from deblurnet.colour import match_colour
from isp.color import srgb_decode, srgb_encode

RATIO = 8.0


class TrustsLong(torch.nn.Module):
    """Stand-in network: returns its long input (whatever else it is given)."""

    multiple = 1

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))  # fuse_pair asks a model for its device

    def forward(self, short: torch.Tensor, long: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        return long


def scene() -> np.ndarray:
    """Scene-linear (256, 384, 3) sharp image."""
    return srgb_decode(cv2.resize(data.astronaut().astype(np.float32) / 255.0, (384, 256),
                                  interpolation=cv2.INTER_AREA))


def noisy_short(sharp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The short frame at 1/RATIO of the exposure with shot and read noise (scene-linear)."""
    dim = sharp / RATIO
    sigma = np.sqrt(0.0004 * np.maximum(dim, 0) + 0.00002)
    return (dim + rng.normal(0, 1, sharp.shape) * sigma).astype(np.float32)


def shaken(image: np.ndarray) -> np.ndarray:
    """A hand-held long exposure's blur: a 13 px diagonal streak."""
    kernel = np.eye(13, dtype=np.float32) / 13
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)


def object_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sharp, short, long, mask): a disc of another picture (the cat) stands in the long frame only,
    in front of the wall, as a subject that walked in while the long exposure ran; mask (H, W) bool is
    the disc."""
    sharp = scene()
    h, w = sharp.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    mask = (yy - 80) ** 2 + (xx - 240) ** 2 < 40 ** 2
    cat = srgb_decode(cv2.resize(data.chelsea().astype(np.float32) / 255.0, (w, h)))
    with_object = np.where(mask[..., None], cat, sharp)
    return sharp, noisy_short(sharp, rng), shaken(with_object), mask


def psnr_in(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB) of two network-domain images over the pixels of ``mask``."""
    return float(10 * np.log10(1.0 / np.mean((a[mask] - b[mask]) ** 2)))


def test_match_tones_absorbs_a_cast_and_lifted_blacks() -> None:
    rng = np.random.default_rng(0)
    reference = rng.uniform(0, 1, (40, 50, 3)).astype(np.float32)
    source = 0.1 + 0.7 * reference * np.array([1.2, 1.0, 0.8], np.float32)
    np.testing.assert_allclose(match_tones(source, reference), reference, atol=0.01)


def test_a_pair_that_agrees_is_left_alone() -> None:
    """Shake blur, noise, a colour cast and lifted shadows in the short frame: nothing is a ghost."""
    rng = np.random.default_rng(1)
    sharp = scene()
    short = noisy_short(sharp, rng) * np.array([1.15, 1.0, 0.85], np.float32) + 0.002
    gain = 0.9 / np.percentile(sharp.max(axis=2), 99)
    short_n, long_n = to_network(short, gain * RATIO), to_network(shaken(sharp), gain)
    confidence = ghost_confidence(short_n, long_n)
    assert confidence.shape == sharp.shape[:2] and confidence.dtype == np.float32
    assert 1.0 - confidence.mean() < 0.03  # a few blocks at most (a highlight the blur smeared)


def test_an_object_in_the_long_frame_only_is_found() -> None:
    rng = np.random.default_rng(2)
    sharp, short, long, mask = object_pair(rng)
    gain = 0.9 / np.percentile(long.max(axis=2), 99)
    confidence = ghost_confidence(to_network(short, gain * RATIO), to_network(long, gain))
    inner = cv2.erode(mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    far = ~cv2.dilate(mask.astype(np.uint8), np.ones((81, 81), np.uint8)).astype(bool)
    assert confidence[inner].max() < 0.05  # the disc is taken from the short frame...
    assert confidence[far].min() > 0.99  # ...and nothing away from it


def test_guard_is_never_worse_than_the_denoised_short_frame_in_the_ghost() -> None:
    """Through fuse_arrays with a network that copies the long frame: without the guard the disc
    (another picture) is in the result, far below the denoised short frame; with it, the network is
    given the denoised short frame there, so the disc's region is at least as good as OpenCV's
    non-local means on the short frame (the short-denoised baseline, on the short frame as the
    pipeline prepares it: colour-matched), and the rest of the picture is the network's."""
    rng = np.random.default_rng(3)
    sharp, short, long, mask = object_pair(rng)
    model = TrustsLong().eval()
    plain = fuse_arrays(short, long, RATIO, model, align=False, colour_match=False, ghost_guard=False)
    guarded = fuse_arrays(short, long, RATIO, model, align=False, colour_match=False)
    assert plain.confidence is None and plain.short_share == 0.0
    gain = guarded.gain
    truth = to_network(sharp, gain)
    # the short frame as the pipeline gives it to the guard: colour-matched to the long frame first
    baseline = denoise_nlm(match_colour(to_network(short, gain * RATIO), to_network(long, gain))[0])
    region = np.repeat(mask[..., None], 3, axis=2)
    with_guard = psnr_in(to_network(guarded.rgb, gain), truth, region)
    without = psnr_in(to_network(plain.rgb, gain), truth, region)
    denoised = psnr_in(baseline, truth, region)
    assert without < denoised - 6.0  # visibly ghosted: the cat is there
    assert with_guard >= denoised - 0.05
    share = mask.mean()
    assert share < guarded.short_share < 3 * share
    far = ~cv2.dilate(mask.astype(np.uint8), np.ones((81, 81), np.uint8)).astype(bool)
    np.testing.assert_allclose(guarded.rgb[far], plain.rgb[far], atol=1e-3)


def test_guard_keeps_the_long_frame_when_nothing_disagrees() -> None:
    rng = np.random.default_rng(4)
    image = srgb_encode(scene())
    noisy = np.clip(image + rng.normal(0, 0.02, image.shape).astype(np.float32), 0, 1)
    before = noisy.copy()
    result = guard(noisy, image)
    assert result.short_share == pytest.approx(0.0, abs=1e-4)
    np.testing.assert_array_equal(result.long, image)
    np.testing.assert_array_equal(noisy, before)


def test_every_door_honours_no_ghost_guard(tmp_path) -> None:
    """The one fuse path (burstcap.fuse.fuse_frames, behind fuse, process, shoot, Pipeline and the
    service) passes ghost_guard on: with it off, the long frame's ghost reaches the result (before,
    `burstcap fuse --no-ghost-guard` still guarded while its report said it did not)."""
    from burstcap.fuse import FuseOptions, fuse_frames
    from isp.io import LinearImage

    rng = np.random.default_rng(3)
    _, short, long, mask = object_pair(rng)
    model = TrustsLong().eval()
    base = dict(ratio=RATIO, align=False, colour_match=False, device="cpu", threads=1)
    frames = (LinearImage(short, path=tmp_path / "short.tif"), LinearImage(long, path=tmp_path / "long.tif"))
    on, fused_on = fuse_frames(*frames, tmp_path / "on.tif", FuseOptions(**base), model)
    off, fused_off = fuse_frames(*frames, tmp_path / "off.tif", FuseOptions(**base, ghost_guard=False), model)
    assert on.short_share is not None and on.short_share > 0.5 * mask.mean()
    assert off.short_share is None and fused_off.confidence is None
    assert np.abs(fused_on.rgb - fused_off.rgb)[mask].mean() > 10 * np.abs(fused_on.rgb - fused_off.rgb)[~mask].mean()

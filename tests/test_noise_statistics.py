"""deblurnet.noise_statistics measures what docs/training.md says about real and synthetic grain: its
statistics are checked on noise whose answer is known by hand."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deblurnet.noise_statistics import band_shares, noise_statistics


def test_white_noise_spreads_its_power_by_band_area() -> None:
    """Independent noise per pixel and channel: each band holds its share of the frequency square's
    area (pi r^2 of the discs), and the chroma / luma variance of BT.601 is 1.034 / 0.448 = 2.31."""
    noise = np.random.default_rng(0).normal(0.0, 0.02, (512, 512, 3)).astype(np.float32)
    stats = noise_statistics(noise)
    areas = np.pi * np.array([1 / 16, 1 / 8, 1 / 4]) ** 2
    expected = [areas[0], areas[1] - areas[0], areas[2] - areas[1], 1 - areas[2]]
    np.testing.assert_allclose(stats.band_shares, expected, atol=0.01)
    assert stats.chroma_over_luma == pytest.approx(2.31, abs=0.08)
    assert 0.9 * 0.02 < stats.high_pass_std < 0.02


def test_coarse_grey_grain_moves_power_down_and_has_no_chroma() -> None:
    grain = cv2.GaussianBlur(np.random.default_rng(1).normal(0.0, 0.02, (512, 512)).astype(np.float32),
                             (0, 0), 1.5)
    stats = noise_statistics(np.repeat(grain[..., None], 3, axis=2))
    assert stats.chroma_over_luma < 1e-6
    assert stats.band_shares[-1] < 0.05 and stats.band_shares[1] + stats.band_shares[2] > 0.6
    assert band_shares(grain) == pytest.approx(stats.band_shares, abs=1e-6)

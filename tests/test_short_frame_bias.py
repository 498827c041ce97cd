"""benchmarks/short_frame_bias.py: the truth's demosaic error and the share of y - x it explains.

docs/training.md rests on two figures of this script: that a RAW-rendered short frame's expectation
differs from the truth by the truth's own bilinear demosaic error, and how much of y - x that error
explains. Both are checked here on images with a known answer.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from conftest import load_benchmark



@pytest.fixture(scope="module")
def bias() -> ModuleType:
    return load_benchmark("short_frame_bias")


def fine_pattern(size: int = 64) -> np.ndarray:
    """(size, size, 3) float32 in [0.2, 0.8]: one-pixel stripes of different colours, the worst case for
    a bilinear demosaic."""
    rows = (np.arange(size) % 2)[:, None].astype(np.float32)
    cols = (np.arange(size) % 3)[None, :].astype(np.float32) / 2
    return np.stack([0.2 + 0.6 * rows * np.ones((1, size)), 0.2 + 0.6 * cols * np.ones((size, 1)),
                     0.5 + 0.3 * (rows - cols)], -1).astype(np.float32)


def test_flat_colour_has_no_demosaic_error(bias: ModuleType) -> None:
    # a flat colour survives the mosaic and the bilinear demosaic exactly
    truth = np.full((32, 32, 3), [0.6, 0.4, 0.3], np.float32)
    assert np.abs(bias.demosaic_error(truth)).max() < 1e-4


def test_fine_detail_has_a_large_demosaic_error(bias: ModuleType) -> None:
    d = bias.demosaic_error(fine_pattern())
    assert float(np.sqrt((d * d).mean())) > 0.05


def test_explained_share(bias: ModuleType) -> None:
    x = fine_pattern()
    d = bias.demosaic_error(x)
    rng = np.random.default_rng(0)
    white = rng.normal(0.0, 0.05, x.shape).astype(np.float32)
    assert bias.pair_bias(x + d, x, d)["explained"] == pytest.approx(1.0, abs=1e-6)
    noise_only = bias.pair_bias(x + white, x, d)  # d does not explain noise: subtracting it adds |d|^2
    assert abs(noise_only["corr"]) < 0.05 and noise_only["explained"] < 0.0
    half = bias.pair_bias(x + d + white * float(np.sqrt((d * d).mean()) / 0.05), x, d)
    assert half["explained"] == pytest.approx(0.5, abs=0.05) and half["corr"] == pytest.approx(0.71, abs=0.05)
    assert bias.kept_share(x + d, x, d) == pytest.approx(1.0, abs=1e-5)
    assert bias.kept_share(x + 0.5 * d + white, x, d) == pytest.approx(0.5, abs=0.05)
    offset = bias.pair_bias(x + 0.02, x, None)
    assert offset["mean"] == pytest.approx(0.02, abs=1e-6) and "explained" not in offset


def test_demosaic_error_is_what_the_raw_rendering_adds_to_a_noiseless_short_frame(
        bias: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    # the synthesis' own raw rendering (deblurnet.synth.camera.camera_triplet), its sensor noise taken
    # out and no colour shift, ratio error, misalignment or clipping: the short frame minus the truth is
    # then exactly the truth's demosaic error, as the script computes it from the truth and the balance
    from deblurnet.synth import camera
    from hardware_profiles import load_profile

    monkeypatch.setattr(camera, "sample_noisy", lambda clean, a, b, rng, row_sigma=0.0: clean.copy())
    params = camera.CameraParams(colour_shift=0.0, ratio_error=0.0, max_shift_px=0.0, max_rotation_deg=0.0,
                                 highlight_prob=0.0, processed_prob=0.0, estimated_map_prob=0.0,
                                 exposure=(0.5, 0.5))
    scene = 0.1 + 0.8 * fine_pattern()  # linear, below 1 after the exposure: nothing clips
    t = camera.camera_triplet(scene, scene.copy(), params, load_profile("generic"), np.random.default_rng(3))
    assert max(t.meta["wb"]) > 1.2  # a real white balance, which must cancel
    d = bias.demosaic_error(t.sharp)
    assert float(np.sqrt((d * d).mean())) > 0.05
    assert np.abs((t.short - t.sharp) - d).max() < 2e-3

"""benchmarks/network_inputs.py: the pixel-shuffle variant splits and reassembles the inputs exactly.

Its figures (docs/training.md, end of "A risk estimate at fuse time") rest on the sub-images being
the 2-px-strided ones and each result going back where its pixels came from; checked with stand-in
fuse functions, no network.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from conftest import load_benchmark

@pytest.fixture(scope="module")
def network_inputs() -> ModuleType:
    return load_benchmark("network_inputs")


@pytest.mark.parametrize("shape", [(8, 12), (9, 13)])
def test_pixel_shuffle_passes_strided_sub_images_and_puts_results_back(network_inputs: ModuleType,
                                                                       shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    short = rng.random((*shape, 3)).astype(np.float32)
    long = rng.random((*shape, 3)).astype(np.float32)
    noise = rng.random((*shape, 1)).astype(np.float32)
    calls = []

    def fuse_one(s: np.ndarray, lg: np.ndarray, n: np.ndarray) -> np.ndarray:
        calls.append((s, lg, n))
        return 1.0 - s + lg * n  # depends on all three, per pixel

    out = network_inputs.pixel_shuffle_fuse(fuse_one, short, long, noise)
    h, w = shape[0] // 2 * 2, shape[1] // 2 * 2
    assert len(calls) == 4
    assert np.array_equal(calls[1][0], short[0:h:2, 1:w:2]) and np.array_equal(calls[2][1], long[1:h:2, 0:w:2])
    assert np.allclose(out[:h, :w], (1.0 - short + long * noise)[:h, :w])
    assert np.array_equal(out[h:], short[h:]) and np.array_equal(out[:, w:], short[:, w:])

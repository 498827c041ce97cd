"""isp.chunks.map_rows: blocks of rows on a thread pool give the pixels of one whole-array pass.

The large-image conversions of the fuse path (sRGB curves, to and from the network domain, the colour
match, the noise map from a law) run through it; these tests check its contract on the real
functions with several threads forced (``BURSTCAP_THREADS``), against whole-array formulas written
here, and that a block's error reaches the caller (on the pool, after every block has ended).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from burstcap.fuse import from_network, to_network
from deblurnet.colour import match_colour
from deblurnet.noise_map import law_noise_map, srgb_slope
from isp.chunks import map_rows
from isp.color import srgb_decode, srgb_encode


@pytest.fixture(params=[1, 4], ids=["1-thread", "4-threads"])
def threads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("BURSTCAP_THREADS", str(request.param))
    return int(request.param)


def image(rows: int = 301, cols: int = 257, seed: int = 0) -> np.ndarray:
    """(rows, cols, 3) float32 in [0, 1.2): over 1 so the clipping matters; 301 rows: a last partial block."""
    return np.random.default_rng(seed).random((rows, cols, 3), dtype=np.float32) * np.float32(1.2)


def test_blocks_fill_every_row_in_place(threads: int) -> None:
    x = image()
    out = np.full(x.shape, np.nan, np.float32)
    used: set[str] = set()

    def block(rows: np.ndarray) -> np.ndarray:
        used.add(threading.current_thread().name)
        return rows * 2

    assert map_rows(block, out, x, rows=16) is out
    np.testing.assert_array_equal(out, x * 2)
    in_pool = {name.startswith("isp-rows") for name in used}
    assert in_pool == {threads > 1}  # the pool's threads did the work when asked for, else this thread


def _wide_to_network(x: np.ndarray) -> np.ndarray:
    return to_network(x, 0.7)


def test_wide_images_nest_without_waiting_on_the_pool(threads: int) -> None:
    """A 64-row block of an image wider than 1366 px holds more than isp.color.CHUNK values, so the
    sRGB curve inside to_network's blocks is a map_rows call of its own: it must run in its block's
    thread, not wait for a pool whose threads are all busy with the outer blocks. Run in a forked
    child, so that a deadlock fails the test (and the child is ended) instead of hanging the run."""
    import multiprocessing

    x = image(rows=300, cols=2000, seed=3)
    expected = np.asarray(srgb_encode(np.clip(x * np.float32(0.7), 0.0, 1.0)), np.float32)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        result = pool.apply_async(_wide_to_network, (x,)).get(timeout=60)
    np.testing.assert_array_equal(result, expected)


def test_scalars_and_concurrent_callers(threads: int) -> None:
    np.testing.assert_array_equal(map_rows(lambda v: v * 3, np.empty((), np.float32), np.float32(2)), 6)
    x = image()
    results: list[np.ndarray] = []

    def call() -> None:
        results.append(map_rows(lambda rows: rows + 1, np.empty_like(x), x, rows=8))

    callers = [threading.Thread(target=call) for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=60)
    assert len(results) == 3
    for result in results:
        np.testing.assert_array_equal(result, x + 1)


def test_network_conversions_match_whole_array_formulas(threads: int) -> None:
    x = image()
    gain = 2.5
    expected = np.asarray(srgb_encode(np.clip(x * np.float32(gain), 0.0, 1.0)), np.float32)
    np.testing.assert_array_equal(to_network(x, gain), expected)
    back = np.asarray(srgb_decode(np.clip(x, 0.0, 1.0)), np.float32) / np.float32(gain)
    np.testing.assert_allclose(from_network(x, gain), back, rtol=1e-6, atol=0)


def test_srgb_curves_on_many_blocks_match_the_formula(threads: int) -> None:
    x = np.random.default_rng(1).random(700_001, dtype=np.float32)  # > 2 blocks of isp.color.CHUNK
    encoded = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.maximum(x, 0.0031308) ** (1 / 2.4) - 0.055)
    np.testing.assert_allclose(srgb_encode(x), encoded, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(srgb_decode(srgb_encode(x)), x, rtol=2e-5, atol=1e-6)


def test_colour_match_and_law_map_match_whole_array_formulas(threads: int) -> None:
    x = image(seed=2) * np.float32(0.5)  # no channel clips at 1.3 times: the gains are then exact
    long = np.asarray(srgb_encode(np.asarray(srgb_decode(x), np.float32) * np.float32([1.3, 1.0, 0.8])), np.float32)
    matched, gains = match_colour(x, long)
    lin = np.asarray(srgb_decode(x), np.float32) * gains
    np.testing.assert_array_equal(matched, np.asarray(srgb_encode(np.clip(lin, 0.0, 1.0)), np.float32))
    np.testing.assert_allclose(gains, [1.3, 1.0, 0.8], rtol=0.02)

    shot, read = np.float32([1e-3, 2e-3, 3e-3]), np.float32(1e-5)
    noise = law_noise_map(x, shot, read)
    import cv2

    from deblurnet.noise_map import MAP_SMOOTHING

    smooth = cv2.blur(x, (MAP_SMOOTHING, MAP_SMOOTHING), borderType=cv2.BORDER_REFLECT_101)
    lin = np.asarray(srgb_decode(smooth), np.float32)
    sigma = np.sqrt(np.maximum(shot * lin + read, 0.0)) * srgb_slope(lin)
    assert noise.shape == (*x.shape[:2], 1)
    np.testing.assert_allclose(noise, np.clip(sigma.mean(axis=2, keepdims=True), 0, 1), rtol=1e-6, atol=0)


def test_a_block_error_reaches_the_caller(threads: int) -> None:
    x = image()
    out = np.zeros(x.shape, np.float32)

    def block(rows: np.ndarray) -> np.ndarray:
        if rows[0, 0, 0] == x[64, 0, 0]:
            raise ValueError("bad block")
        return rows

    with pytest.raises(ValueError, match="bad block"):
        map_rows(block, out, x, rows=16)
    np.testing.assert_array_equal(out[:64], x[:64])  # the blocks before it were written
    if threads > 1:  # on the pool, the blocks after it too, before the error was raised
        np.testing.assert_array_equal(out[80:], x[80:])
    with pytest.raises(ValueError, match="rows"):
        map_rows(lambda r: r, out, x[:10])


def _child_sum(x: np.ndarray) -> float:
    return float(map_rows(lambda rows: rows + 1, np.empty_like(x), x, rows=8).sum())


def test_a_forked_child_gets_its_own_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training's DataLoader forks its workers after the parent has used the pool: the child must not
    wait on the parent's threads, which it does not have."""
    import multiprocessing

    monkeypatch.setenv("BURSTCAP_THREADS", "3")
    x = image(rows=64, cols=16)
    map_rows(lambda rows: rows, np.empty_like(x), x, rows=8)  # the parent's pool now exists
    with multiprocessing.get_context("fork").Pool(1) as pool:
        total = pool.apply_async(_child_sum, (x,)).get(timeout=60)  # a hang fails here
    assert total == pytest.approx(float((x + 1).sum()), rel=1e-6)

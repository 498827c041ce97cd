"""Global alignment of the long frame onto the short one (burstcap.align)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from burstcap.align import (Alignment, AlignmentError, AlignOptions, align, corner_shift,
                            estimate_alignment, warp_image)
from burstcap.errors import BurstcapError

# A hand-held-like homography: translation, small rotation/scale, a little perspective.
TRUE_WARP = np.array([[1.01, 0.012, 5.3], [-0.009, 0.996, -3.7], [1.2e-5, -2.0e-5, 1.0]])


def _image() -> np.ndarray:
    return data.astronaut().astype(np.float32) / 255.0


def _moved(image: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """The frame a moved camera sees: the reference pixel x appears at ``warp @ x`` in it."""
    h, w = image.shape[:2]
    return cv2.warpPerspective(image, warp, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _corner_error(found: np.ndarray, true: np.ndarray, shape: tuple[int, int]) -> float:
    h, w = shape
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], np.float64)
    a, b = corners @ found.T, corners @ true.T
    return float(np.abs(a[:, :2] / a[:, 2:] - b[:, :2] / b[:, 2:]).max())


def _smoothed_corr(a: np.ndarray, b: np.ndarray) -> float:
    a = cv2.GaussianBlur(a.mean(axis=2), (0, 0), 3).ravel()
    b = cv2.GaussianBlur(b.mean(axis=2), (0, 0), 3).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_known_homography_is_recovered_to_a_pixel() -> None:
    image = _image()
    result = estimate_alignment(image, _moved(image, TRUE_WARP))
    assert _corner_error(result.warp, TRUE_WARP, image.shape[:2]) < 1.0
    assert result.correlation > 0.99
    assert result.shift_px == pytest.approx(corner_shift(TRUE_WARP, image.shape[:2]), abs=1.0)


@pytest.mark.parametrize("motion, tolerance", [("affine", 1.5), ("translation", 1.0)])
def test_simpler_motion_models(motion: str, tolerance: float) -> None:
    image = _image()
    warp = np.array([[1.0, 0.0, 4.25], [0.0, 1.0, -2.5], [0.0, 0.0, 1.0]])
    result = estimate_alignment(image, _moved(image, warp), AlignOptions(motion=motion))
    assert _corner_error(result.warp, warp, image.shape[:2]) < tolerance


def test_noisy_short_and_blurred_long_align() -> None:
    image = _image()
    rng = np.random.default_rng(1)
    short = np.clip(image + rng.normal(0, 0.08, image.shape), 0, 1).astype(np.float32)
    kernel = np.zeros((21, 21), np.float32)
    kernel[10, :] = 1 / 21  # 21 px horizontal motion blur
    long = cv2.filter2D(_moved(image, TRUE_WARP), -1, kernel)
    aligned, result = align(short, long)
    # A blur has no exact "right" position: a couple of pixels at the corners is what ECC can do.
    assert _corner_error(result.warp, TRUE_WARP, image.shape[:2]) < 3.0
    assert result.correlation > 0.85
    assert _smoothed_corr(aligned, image) > _smoothed_corr(long, image) + 0.02


def test_unrelated_images_are_refused() -> None:
    image = _image()
    h, w = image.shape[:2]
    for other in (data.coffee(), data.rocket(), data.chelsea()):
        other = cv2.resize(other.astype(np.float32) / 255.0, (w, h))
        with pytest.raises(AlignmentError, match="show different scenes"):
            estimate_alignment(image, other)
    assert issubclass(AlignmentError, BurstcapError)


def test_flat_images_are_refused() -> None:
    flat = np.full((128, 128, 3), 0.5, np.float32)
    with pytest.raises(AlignmentError):
        estimate_alignment(flat, flat + np.random.default_rng(0).normal(0, 0.01, flat.shape).astype(np.float32))


def test_size_mismatch_is_refused() -> None:
    with pytest.raises(AlignmentError, match="differ in size"):
        estimate_alignment(np.zeros((64, 64, 3), np.float32), np.zeros((64, 80, 3), np.float32))


def test_warp_fills_uncovered_pixels_from_fill() -> None:
    image = _image()
    shift = Alignment(np.array([[1.0, 0, 30], [0, 1.0, 0], [0, 0, 1]]), 1.0, 0.0, 30.0, "ecc")
    fill = np.full_like(image, 0.25)
    out = warp_image(image, shift, fill=fill)
    # Reference x maps to moving x + 30: the last 30 columns have no moving pixels.
    assert np.allclose(out[:, -25:], 0.25, atol=1e-6)
    assert np.allclose(out[:, :100], image[:, 30:130], atol=1e-5)
    assert warp_image(image, Alignment.identity()) is image


def test_real_hand_held_pairs_align(shared_data) -> None:
    """Two real smartphone short/long pairs (LSD2): they are visibly misaligned; alignment finds it."""
    from isp.io import read_linear

    for scene in ("hall", "wolf"):
        short = read_linear(shared_data / "real_pairs" / scene / "short.png").rgb
        long = read_linear(shared_data / "real_pairs" / scene / "long.png").rgb
        aligned, result = align(short, long)
        assert result.shift_px > 5.0
        assert result.correlation > 0.8
        gain = float(np.median(long) / max(np.median(short), 1e-6))
        assert _smoothed_corr(aligned, short * gain) > _smoothed_corr(long, short * gain)


def test_an_unsure_estimate_falls_back_to_a_translation_with_a_warning() -> None:
    """When the estimated warp fails its check (forced here by an unreachable min_correlation), a true
    pair is not refused: a translation is fitted instead, recovers the shift, and a warning says so."""
    image = cv2.resize(_image(), (384, 384), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    short = np.clip(image + rng.normal(0, 0.2, image.shape), 0, 1).astype(np.float32)  # very noisy
    shift = np.array([[1, 0, 6.0], [0, 1, -4.0], [0, 0, 1]])
    long = cv2.blur(_moved(image, shift), (21, 3))  # and strongly blurred
    found = estimate_alignment(short, long, AlignOptions(min_correlation=0.999))
    assert found.method == "translation (fallback)"
    assert found.warning is not None and "alignment unsure" in found.warning and "translation" in found.warning
    assert np.allclose(found.warp[:2, 2], [6.0, -4.0], atol=1.0) and np.allclose(found.warp[:2, :2], np.eye(2))
    normal = estimate_alignment(short, long)
    assert normal.warning is None and normal.method in ("orb+ecc", "ecc")


def test_without_a_usable_warp_the_pair_is_fused_unwarped_with_a_warning() -> None:
    """No trusted warp and no plausible translation (max_shift 0 allows none): the same scene is still
    recognised and fused without a warp."""
    image = cv2.resize(_image(), (256, 256), interpolation=cv2.INTER_AREA)
    long = cv2.blur(_moved(image, np.array([[1, 0, 3.0], [0, 1, 2.0], [0, 0, 1]])), (9, 9))
    found = estimate_alignment(image, long, AlignOptions(max_shift=0.0, min_correlation=0.999))
    assert found.method == "identity (fallback)" and np.array_equal(found.warp, np.eye(3))
    assert "no warp" in found.warning


def _full_frame_reference(moving: np.ndarray, warp: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """warp_image's definition, computed the plain way: the coverage of an all-ones frame everywhere."""
    h, w = moving.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpPerspective(moving, warp, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    cover = cv2.warpPerspective(np.ones((h, w), np.float32), warp, (w, h), flags=flags)
    cover = cover if moving.ndim == 2 else cover[..., None]
    return np.where(cover < 1.0, cover * warped + (1.0 - cover) * fill, warped)


@pytest.mark.parametrize("seed", range(6))
def test_warp_computes_the_fill_only_on_the_border_band_with_the_same_result(seed: int) -> None:
    """Random homographies (small ones that leave a thin uncovered band, large ones whose band fills
    the frame): the fill is blended as the plain full-frame coverage says, to within 2e-3 (OpenCV
    quantises the full frame's coverage to 1/1024, the cropped strips' less)."""
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(60, 200)), int(rng.integers(60, 200))
    moving = rng.random((h, w, 3), dtype=np.float32)
    fill = rng.random((h, w, 3), dtype=np.float32) + 2.0  # far from the moving frame's values
    spread = [[0.01, 0.01, 5.0], [0.01, 0.01, 5.0], [1e-5, 1e-5, 0.0]] if seed % 2 else \
        [[0.05, 0.05, 40.0], [0.05, 0.05, 40.0], [1e-4, 1e-4, 0.0]]
    warp = np.eye(3) + rng.normal(0.0, spread)
    out = warp_image(moving, Alignment(warp, 1.0, 0.0, 0.0, "ecc"), fill=fill)
    reference = _full_frame_reference(moving, warp, fill)
    assert np.abs(out - reference).max() < 2e-3


@pytest.mark.parametrize("warp", [
    np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-0.015, 0.0, 1.0]]),  # the third coordinate changes sign in the frame
    np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0 / 99, 0.0, 1.0]]),  # ... and is zero at a corner
    np.array([[0.9, 0.05, 25.0], [-0.04, 1.1, -18.0], [1e-4, -2e-4, 1.0]]),  # a band too wide: the whole frame
])
def test_warp_fill_where_the_band_shortcut_does_not_apply(warp: np.ndarray) -> None:
    """Warps outside the band's premise (direct calls; alignment never returns them) fall back to the
    whole frame and still give the plain full-frame result, for 2-D and 3-D frames."""
    rng = np.random.default_rng(9)
    for shape in ((80, 100, 3), (80, 100)):
        moving = rng.random(shape, dtype=np.float32)
        fill = rng.random(shape, dtype=np.float32) + 2.0
        with np.errstate(divide="ignore", invalid="ignore"):
            out = warp_image(moving, Alignment(warp, 1.0, 0.0, 0.0, "ecc"), fill=fill)
        # where the warp sends a pixel to infinity OpenCV gives NaN, in both computations alike
        np.testing.assert_allclose(out, _full_frame_reference(moving, warp, fill), rtol=0, atol=2e-3,
                                   equal_nan=True)

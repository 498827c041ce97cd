"""deblurnet.noise_map and its use at fuse time: the map measures the noise it claims, and a camera's
noise profile changes what `burstcap fuse` makes of that camera's RAW files."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from deblurnet.noise_map import estimated_noise_map, law_noise_map, network_law
from deblurnet.synth.common import srgb_decode, srgb_encode


def test_law_map_is_the_noise_std_of_the_network_domain_frame() -> None:
    """Flat patches of several linear levels with noise of variance shot * z + read (linear light),
    then sRGB-encoded: the map equals the measured std of the encoded patches within 6% (where the
    noise std is under a fifth of the level: the delta method through the sRGB curve)."""
    rng = np.random.default_rng(0)
    shot, read = np.float32(1e-3), np.float32(5e-6)
    for level in (0.03, 0.1, 0.3, 0.6):
        lin = np.full((256, 256, 3), level, np.float32)
        noisy = lin + np.sqrt(shot * lin + read) * rng.standard_normal(lin.shape, dtype=np.float32)
        short = srgb_encode(noisy)
        measured = float(short.std(axis=(0, 1)).mean())
        predicted = float(law_noise_map(short, shot, read).mean())
        assert predicted == pytest.approx(measured, rel=0.06), level


def test_network_law_scales_with_the_gain() -> None:
    """Raw variance a x + b, times gain G to linear light: G a z + G^2 b (z = G x)."""
    shot, read = network_law(np.array([1e-3, 2e-3, 3e-3]), np.array([1e-6, 2e-6, 3e-6]), 8.0)
    np.testing.assert_allclose(shot, [8e-3, 16e-3, 24e-3], rtol=1e-6)
    np.testing.assert_allclose(read, [64e-6, 128e-6, 192e-6], rtol=1e-6)


def test_estimated_map_measures_white_noise_and_ignores_texture() -> None:
    """On a textured photo plus white noise of std 0.04, the single-image estimate is within 20% (the
    texture it cannot tell from noise adds a little),
    constant over the frame, and much lower on the clean photo."""
    photo = cv2.resize(data.astronaut().astype(np.float32) / 255.0, (384, 384), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(1)
    noisy = np.clip(photo + rng.normal(0, 0.04, photo.shape), 0, 1).astype(np.float32)
    estimate = estimated_noise_map(noisy)
    assert estimate.shape == (384, 384, 1) and np.ptp(estimate) == 0
    assert float(estimate[0, 0, 0]) == pytest.approx(0.04, rel=0.2)
    assert float(estimated_noise_map(photo)[0, 0, 0]) < 0.4 * 0.04


# --------------------------------------------------------------------- the profile at fuse time


def _scaled_profile(name: str, factor: float, out: Path) -> Path:
    """A copy of a shipped profile whose noise variance (a and b) is ``factor`` times the original's."""
    from hardware_profiles import load_profile

    out.write_text(json.dumps(load_profile(name).scaled(factor).to_dict()))
    return out


@pytest.fixture(scope="module")
def d850_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A RAW pair as a Nikon D850 would record it (DNGs with its make, model, ISO and exposure): a short
    1/800 s frame at ISO 6400 with the noise of the D850 profile, a long 1/100 s frame at ISO 800,
    horizontally motion-blurred."""
    from hardware_profiles import load_profile, sample_noisy
    from isp.metadata import CaptureMetadata
    from isp.unprocess import UnprocessParams, linear_to_mosaic, mosaic_to_adu, write_unprocessed_dng

    folder = tmp_path_factory.mktemp("d850")
    scene = srgb_decode(cv2.resize(data.astronaut().astype(np.float32) / 255.0, (320, 320),
                                   interpolation=cv2.INTER_AREA))
    params = UnprocessParams(black_level=0.0, white_level=16383.0)
    profile = load_profile("nikon-d850")
    rng = np.random.default_rng(3)
    paths = []
    for name, exposure, iso, scale in (("short", 1 / 800, 6400, 0.8 / 8), ("long", 1 / 100, 800, 0.8)):
        lin = scene * np.float32(scale)
        if name == "long":
            lin = cv2.blur(lin, (15, 1))
        a, b = profile.params(iso)
        mosaic = sample_noisy(linear_to_mosaic(lin, params), a, b, rng, cfa=profile.cfa)
        meta = CaptureMetadata(make="NIKON CORPORATION", model="NIKON D850", exposure_time_s=exposure, iso=iso)
        adu = mosaic_to_adu(mosaic, params.black_level, params.white_level)
        paths.append(write_unprocessed_dng(folder / f"{name}.dng", adu, params, meta))
    return paths[0], paths[1]


def _detail(img: np.ndarray) -> float:
    """High-frequency energy of an (H, W, 3) image: variance of its difference from a Gaussian blur."""
    return float((img - cv2.GaussianBlur(img, (0, 0), 1.5)).var())


def test_the_camera_profile_steers_the_fusion_of_its_raw_files(d850_pair: tuple[Path, Path],
                                                                tmp_path: Path) -> None:
    """The same RAW pair fused with its camera's profile and with a profile of four times the
    variance: the network is told the noise is twice as strong and smooths more (shipped weights)."""
    from burstcap.fuse import FuseOptions, fuse_pair
    from isp.io import read_linear

    short, long = d850_pair
    options = FuseOptions(device="cpu", threads=1, colour_match=False)
    own = fuse_pair(short, long, tmp_path / "own.tif", options)
    assert own.profile == "nikon-d850"
    four = _scaled_profile("nikon-d850", 4.0, tmp_path / "x4.json")
    louder = fuse_pair(short, long, tmp_path / "x4.tif", FuseOptions(**{**options.__dict__, "profile": str(four)}))
    assert louder.profile == "nikon-d850-x4"
    a, b = (np.clip(read_linear(p).rgb / 0.8, 0, 1) for p in (tmp_path / "own.tif", tmp_path / "x4.tif"))
    a, b = srgb_encode(a), srgb_encode(b)
    difference = float(np.abs(a - b).mean())
    assert difference > 2e-3, difference  # measurably different (0.5 of an 8-bit level on average)
    assert _detail(b) < 0.9 * _detail(a), (_detail(a), _detail(b))  # and smoother


def test_raw_without_a_profile_gets_an_estimated_map_and_a_warning(d850_pair: tuple[Path, Path]) -> None:
    from burstcap.fuse import short_noise
    from isp.io import read_linear

    image = read_linear(d850_pair[0])
    warnings: list[str] = []
    noise = short_noise(image, warnings)
    assert noise.profile == "nikon-d850" and noise.iso == 6400 and noise.source == "profile"
    assert not warnings
    unknown = type(image)(**{**image.__dict__, "metadata": image.metadata.__class__(
        **{**image.metadata.__dict__, "make": "Acme", "model": "Burst 1"})})
    noise = short_noise(unknown, warnings)
    assert noise.law is None and noise.source == "estimated"
    assert len(warnings) == 1 and "estimated from the image" in warnings[0] and "calibrate" in warnings[0]


def test_raw_noise_law_carries_the_colour_matrix_variance_gain(d850_pair: tuple[Path, Path]) -> None:
    """The camera's colour matrix amplifies the raw noise on its way to linear sRGB: the law of a RAW
    short frame is the profile's times the matrix's variance gain per channel (identity: unchanged)."""
    from burstcap.fuse import short_noise
    from deblurnet.noise_map import matrix_variance_gain
    from hardware_profiles import load_profile
    from isp.io import read_linear

    image = read_linear(d850_pair[0])
    gain = matrix_variance_gain(image.cam_to_srgb)
    assert gain.min() > 1.5  # UnprocessParams' matrix, like a camera's, mixes the channels
    a, b = load_profile("nikon-d850").channel_params(6400)
    law = short_noise(image, []).law
    np.testing.assert_allclose(law[0], a * gain, rtol=1e-5)
    np.testing.assert_allclose(law[1], b * gain, rtol=1e-5)
    np.testing.assert_allclose(matrix_variance_gain(np.eye(3)), 1.0)
    np.testing.assert_allclose(matrix_variance_gain(None), 1.0)


def test_matrix_variance_gain_sums_squared_row_entries() -> None:
    """Independent noise of variance v per input channel leaves output channel i with v * sum_j M_ij^2
    (a hand-computed, non-symmetric matrix: rows, not columns; squares, not absolute values)."""
    from deblurnet.noise_map import matrix_variance_gain

    m = np.array([[2.0, -1.0, 0.0], [0.5, 1.0, -0.5], [0.0, 3.0, 1.0]])
    np.testing.assert_allclose(matrix_variance_gain(m), [5.0, 1.5, 10.0])
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((200_000, 3))
    np.testing.assert_allclose((noise @ m.T).var(axis=0), [5.0, 1.5, 10.0], rtol=0.02)

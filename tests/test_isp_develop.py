"""isp.develop: agreement with LibRaw's own linear rendering, and each option's effect."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rawpy

from isp import IspError
from isp.develop import DEMOSAIC_METHODS, develop
from isp.metadata import CaptureMetadata
from isp.raw import RawImage, read_raw

KDC = "raw/valid/RAW_KODAK_DC50.KDC"
LINEAR_DNG = "raw/valid/canon_eos_6d_linear.dng"


def libraw_linear(path: Path, **extra: object) -> np.ndarray:
    """LibRaw's own linear sRGB rendering, (H, W, 3) float32 [0, 1]."""
    with rawpy.imread(str(path)) as libraw:
        rgb16 = libraw.postprocess(
            demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR,
            gamma=(1, 1),
            no_auto_bright=True,
            output_bps=16,
            user_flip=0,
            adjust_maximum_thr=0,
            use_camera_wb=True,
            **extra,
        )
    return rgb16.astype(np.float32) / 65535


def test_kdc_develop_matches_libraw_linear_postprocess(shared_data: Path) -> None:
    """Same demosaic (bilinear == LibRaw LINEAR), WB and colour matrix; LibRaw clips to [0, 1]."""
    path = shared_data / KDC
    ours = develop(read_raw(path))
    reference = libraw_linear(path)
    assert ours.shape == reference.shape == (512, 768, 3)
    assert ours.dtype == np.float32
    error = np.abs(np.clip(ours, 0, 1) - reference).mean()
    assert error < 1e-3, error
    # the colour matrix matters: camera RGB alone is far from LibRaw's sRGB
    camera_rgb = develop(replace(read_raw(path), cam_to_srgb=np.eye(3)))
    assert np.abs(np.clip(camera_rgb, 0, 1) - reference).mean() > 10 * error


def test_libraw_demosaic_options(shared_data: Path) -> None:
    path = shared_data / KDC
    raw = read_raw(path)
    reference = libraw_linear(path)
    linear = develop(raw, demosaic="libraw-linear")
    assert np.abs(np.clip(linear, 0, 1) - reference).mean() < 1e-4
    ahd = develop(raw, demosaic="libraw-ahd")
    edge_aware = develop(raw, demosaic="opencv-ea")
    for other in (ahd, edge_aware):
        assert other.shape == linear.shape
        assert 1e-4 < np.abs(other - linear).mean() < 0.02  # a different, still close, demosaic


def test_linear_raw_dng_develops_to_a_sensible_image(shared_data: Path) -> None:
    path = shared_data / LINEAR_DNG
    rgb = develop(read_raw(path))
    assert rgb.shape == (816, 1224, 3)
    assert np.isfinite(rgb).all()
    assert 0.005 < float(rgb.mean()) < 0.5
    assert np.mean((rgb < -0.01) | (rgb > 1.01)) < 0.01
    reference = libraw_linear(path)
    assert np.abs(np.clip(rgb, 0, 1) - reference).mean() < 1e-3
    half = develop(read_raw(path), half_size=True)
    assert half.shape == (408, 612, 3)


def synthetic_raw(height: int = 8, width: int = 12, pattern: str = "RGGB") -> RawImage:
    rng = np.random.default_rng(0)
    return RawImage(
        mosaic=rng.uniform(0.05, 0.4, (height, width)).astype(np.float32),
        cfa_pattern=pattern,
        black_level=np.zeros(4, np.float32),
        white_level=1023.0,
        white_balance=np.array([2.0, 1.0, 1.5], np.float32),
        cam_to_srgb=np.eye(3),
        metadata=CaptureMetadata(),
    )


def test_white_balance_exposure_and_clipping() -> None:
    raw = synthetic_raw()
    raw.mosaic[0, 0] = 0.9  # an R site: 0.9 * 2.0 clips at the sensor white (1.0)
    raw.mosaic[1, 1] = -0.01  # a B site below black: kept negative
    before = raw.mosaic.copy()
    rgb = develop(raw)
    np.testing.assert_array_equal(raw.mosaic, before)  # input untouched
    assert rgb[0, 0, 0] == pytest.approx(1.0)
    assert rgb[1, 1, 2] == pytest.approx(-0.015)
    assert rgb[0, 2, 0] == pytest.approx(2.0 * raw.mosaic[0, 2])  # own site keeps its value x WB
    assert rgb[0, 1, 1] == pytest.approx(raw.mosaic[0, 1])
    np.testing.assert_allclose(develop(raw, exposure=4.0), 4.0 * rgb, rtol=1e-6)


def test_half_size_bins_each_quad() -> None:
    raw = synthetic_raw(pattern="GBRG")
    half = develop(raw, half_size=True)
    assert half.shape == (4, 6, 3)
    m = raw.mosaic
    np.testing.assert_allclose(half[:, :, 0], np.minimum(2.0 * m[1::2, 0::2], 1), rtol=1e-6)
    np.testing.assert_allclose(half[:, :, 1], (m[0::2, 0::2] + m[1::2, 1::2]) / 2, rtol=1e-6)
    np.testing.assert_allclose(half[:, :, 2], 1.5 * m[0::2, 1::2], rtol=1e-6)


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_bilinear_reproduces_a_uniform_colour_for_every_pattern(pattern: str) -> None:
    raw = synthetic_raw(pattern=pattern)
    colour = np.array([0.2, 0.5, 0.3], np.float32)
    channels = ["RGB".index(c) for c in pattern]
    for index, channel in enumerate(channels):
        raw.mosaic[index // 2 :: 2, index % 2 :: 2] = colour[channel] / raw.white_balance[channel]
    for method in ("bilinear", "opencv-ea"):
        rgb = develop(raw, demosaic=method)
        np.testing.assert_allclose(rgb, np.broadcast_to(colour, rgb.shape), atol=2e-4, err_msg=method)


def test_orientation_is_applied() -> None:
    raw = synthetic_raw(height=4, width=6)
    upright = develop(raw, orient=False)
    turned = develop(replace(raw, metadata=CaptureMetadata(orientation=6)))
    assert turned.shape == (6, 4, 3)
    np.testing.assert_array_equal(turned, np.rot90(upright, k=-1))  # 90 degrees clockwise
    assert develop(replace(raw, metadata=CaptureMetadata(orientation=6)), orient=False).shape == (4, 6, 3)


def test_bad_options() -> None:
    raw = synthetic_raw()
    with pytest.raises(IspError, match="unknown demosaic"):
        develop(raw, demosaic="magic")
    with pytest.raises(IspError, match="exposure"):
        develop(raw, exposure=0)
    assert "bilinear" in DEMOSAIC_METHODS and "libraw-ahd" in DEMOSAIC_METHODS


def test_libraw_demosaic_of_an_in_memory_mosaic() -> None:
    """Without a file LibRaw algorithms go through a temporary DNG of the mosaic."""
    raw = synthetic_raw(height=32, width=32)  # LibRaw refuses images under 22 pixels
    ours = develop(raw, demosaic="bilinear")
    libraw = develop(raw, demosaic="libraw-linear")
    np.testing.assert_allclose(libraw[2:-2, 2:-2], ours[2:-2, 2:-2], atol=2e-4)

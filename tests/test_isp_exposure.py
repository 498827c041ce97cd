"""isp.exposure: the metadata and image estimates of a long/short pair agree."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from isp import IspError
from isp.color import srgb_decode
from isp.exposure import exposure_ratio, ratio_from_images, ratio_from_metadata
from isp.io import LinearImage, read_linear, write_image
from isp.metadata import CaptureMetadata
from isp.unprocess import UnprocessParams, linear_to_mosaic, mosaic_to_adu, write_unprocessed_dng

LONG_META = CaptureMetadata(make="Acme", model="Burst 1", exposure_time_s=1 / 30, iso=200, f_number=4.0)
SHORT_META = CaptureMetadata(make="Acme", model="Burst 1", exposure_time_s=1 / 240, iso=400, f_number=4.0)
TRUE_RATIO = 4.0  # (1/30 * 200) / (1/240 * 400)


def make_pair(shared_data: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A blurred, partly clipped long DNG and a noisy short DNG of one Kodak scene."""
    srgb = cv2.cvtColor(cv2.imread(str(shared_data / "kodak24" / "kodim08.png")), cv2.COLOR_BGR2RGB)
    scene = srgb_decode(srgb.astype(np.float32) / 255)
    blur = np.zeros((15, 15), np.float32)
    blur[7, :] = 1 / 15  # horizontal camera-shake streak
    long_linear = cv2.filter2D(scene * 1.6, -1, blur)  # bright regions clip
    short_linear = scene * np.float32(1.6 / TRUE_RATIO)
    params = UnprocessParams(black_level=256, white_level=16383)
    rng = np.random.default_rng(3)
    paths = []
    for name, linear, meta, noise in (("long", long_linear, LONG_META, 0.002), ("short", short_linear, SHORT_META, 0.02)):
        mosaic = linear_to_mosaic(linear, params)
        mosaic += rng.normal(0.0, noise, mosaic.shape).astype(np.float32) * np.sqrt(np.maximum(mosaic, 0.01))
        path = tmp_path / f"{name}.dng"
        write_unprocessed_dng(path, mosaic_to_adu(mosaic, params.black_level, params.white_level), params, meta)
        paths.append(path)
    return paths[0], paths[1]


def test_metadata_and_image_estimates_agree_on_raw_pair(shared_data: Path, tmp_path: Path) -> None:
    long_path, short_path = make_pair(shared_data, tmp_path)
    long, short = read_linear(long_path), read_linear(short_path)
    assert np.mean(long.rgb >= 0.999) > 0.005  # the test really has clipped highlights
    by_metadata = exposure_ratio(long, short)
    by_image = exposure_ratio(long, short, source="image")
    assert by_metadata.source == "metadata" and by_image.source == "image"
    assert by_metadata.ratio == pytest.approx(TRUE_RATIO, rel=1e-6)
    assert by_image.ratio == pytest.approx(by_metadata.ratio, rel=0.05)


def test_image_estimate_on_srgb_files_without_metadata(shared_data: Path, tmp_path: Path) -> None:
    long_path, short_path = make_pair(shared_data, tmp_path)
    for path in (long_path, short_path):
        write_image(path.with_suffix(".png"), read_linear(path).rgb, bits=16)
    long, short = read_linear(long_path.with_suffix(".png")), read_linear(short_path.with_suffix(".png"))
    estimate = exposure_ratio(long, short)
    assert estimate.source == "image"
    assert estimate.ratio == pytest.approx(TRUE_RATIO, rel=0.05)
    with pytest.raises(IspError, match="exposure time missing"):
        exposure_ratio(long, short, source="metadata")


def test_real_smartphone_pair_has_a_plausible_ratio(shared_data: Path) -> None:
    folder = shared_data / "real_pairs" / "hall"
    estimate = exposure_ratio(read_linear(folder / "long.png"), read_linear(folder / "short.png"))
    assert estimate.source == "image"
    assert 1.5 < estimate.ratio < 100


def test_metadata_ratio_uses_iso_and_aperture_only_when_both_have_them() -> None:
    long = CaptureMetadata(exposure_time_s=0.1, iso=100, f_number=2.0)
    short = CaptureMetadata(exposure_time_s=0.01, iso=400, f_number=4.0)
    assert ratio_from_metadata(long, short) == pytest.approx(10 * 0.25 * 4)
    assert ratio_from_metadata(CaptureMetadata(exposure_time_s=0.1), short) == pytest.approx(10)
    assert ratio_from_metadata(CaptureMetadata(), short) is None


def test_image_estimate_refuses_unusable_images() -> None:
    black = np.zeros((64, 64, 3), np.float32)
    with pytest.raises(IspError, match="cannot estimate"):
        ratio_from_images(black, black)
    with pytest.raises(IspError, match="same"):
        ratio_from_images(black, np.zeros((32, 64, 3), np.float32))
    flat = LinearImage(np.full((64, 64, 3), 0.4, np.float32))
    half = LinearImage(np.full((64, 64, 3), 0.1, np.float32))
    assert exposure_ratio(flat, half).ratio == pytest.approx(4.0)


def test_too_few_usable_blocks_fall_back_to_the_global_means() -> None:
    """A frame mostly clipped in the long exposure leaves too few blocks for the block estimate; the
    pair is not refused: the mean brightness over unclipped pixels gives the ratio, labelled so."""
    from isp.exposure import ratio_from_global_means

    rng = np.random.default_rng(0)
    scene = np.full((480, 480, 3), 5.0, np.float32)  # a blown-out window over most of the frame...
    scene[:12, :12] = rng.uniform(0.05, 0.3, (12, 12, 3))  # ...and a small well-exposed corner
    long, short = np.minimum(scene, 1.0), np.minimum(scene / 6.0, 1.0)
    with pytest.raises(IspError, match="cannot estimate"):
        ratio_from_images(long, short)
    estimate = exposure_ratio(LinearImage(long), LinearImage(short))
    assert estimate.source == "image-global" and estimate.ratio == pytest.approx(6.0, rel=0.02)
    assert ratio_from_global_means(long, short) == estimate.ratio
    with pytest.raises(IspError, match="black"):
        ratio_from_global_means(long, np.zeros_like(long))

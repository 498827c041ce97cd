"""Fused output as a linear DNG (isp.dng.write_linear_dng, `burstcap fuse -o fused.dng`): LibRaw and
darktable read it and develop it like the camera's own RAW.

The pair comes from a real camera file: ../shared/data/raw/valid/Blackmagic.dng is developed, a crop
becomes the sharp scene, and isp.unprocess turns it back into a short (1/400 s, noisy) and a long
(1/50 s, shaken) Bayer DNG with the Blackmagic's own white balance and colour matrix. The network is a
stand-in that returns its short input (the tests are about the files, not the weights).
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
import rawpy

from burstcap.fuse import FuseOptions, fuse_pair
from conftest import settled
from isp.color import srgb_decode, srgb_encode
from isp.develop import develop
from isp.dng import write_linear_dng
from isp.io import read_linear
from isp.metadata import CaptureMetadata
from isp.raw import read_raw
from isp.unprocess import UnprocessParams, linear_to_mosaic, mosaic_to_adu, write_unprocessed_dng

WHEN = datetime(2025, 6, 1, 12, 0, 0)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2)))


def libraw_srgb(path: Path) -> np.ndarray:
    """LibRaw's own development of a DNG (camera white balance and matrix, sRGB primaries, linear
    16-bit, no brightening), sRGB-encoded to [0, 1]: what a raw developer makes of the file."""
    with rawpy.imread(str(path)) as raw:
        linear = raw.postprocess(use_camera_wb=True, output_color=rawpy.ColorSpace.sRGB, gamma=(1, 1),
                                 no_auto_bright=True, output_bps=16, user_flip=0, adjust_maximum_thr=0)
    return np.clip(srgb_encode(linear.astype(np.float32) / 65535.0), 0, 1)


def test_linear_dng_round_trip_with_camera_colour(tmp_path: Path) -> None:
    """A scene-linear image with a camera's matrix and white balance: read_raw finds the same colour
    in the file and develop() gives the image back (16-bit quantisation), as LibRaw's own pipeline does."""
    rng = np.random.default_rng(0)
    rgb = cv2.GaussianBlur(rng.uniform(0.02, 0.9, (48, 64, 3)).astype(np.float32), (0, 0), 2)
    cam_to_srgb = np.array([[1.59, -0.29, -0.30], [-0.21, 1.50, -0.29], [0.02, -0.48, 1.46]])
    balance = np.array([2.2, 1.0, 1.9], np.float32)
    meta = CaptureMetadata("Acme", "Burst 1", 1 / 50, 100, 2.8, WHEN)
    path = write_linear_dng(tmp_path / "f.dng", rgb, cam_to_srgb, balance, meta)
    raw = read_raw(path)
    assert raw.is_linear_raw and raw.mosaic.shape == (48, 64, 3)
    np.testing.assert_allclose(raw.white_balance, balance, rtol=1e-4)
    np.testing.assert_allclose(raw.cam_to_srgb, cam_to_srgb, atol=1e-3)
    assert (raw.metadata.make, raw.metadata.model, raw.metadata.iso, raw.metadata.timestamp) == (
        "Acme", "Burst 1", 100, WHEN)
    np.testing.assert_allclose(develop(raw), rgb, atol=2e-4)
    assert psnr(libraw_srgb(path), srgb_encode(rgb)) > 45


@pytest.fixture(scope="module")
def camera_pair(shared_data: Path, tmp_path_factory) -> tuple[Path, Path, np.ndarray]:
    """(short.dng, long.dng, sharp scene-linear (256, 384, 3)) unprocessed with the Blackmagic's colour."""
    source = read_raw(shared_data / "raw" / "valid" / "Blackmagic.dng")
    scene = develop(source, half_size=True)[400:656, 1000:1384]
    sharp = scene * np.float32(0.8 / np.percentile(scene.max(axis=2), 99))
    rng = np.random.default_rng(5)
    short = sharp / 8 + rng.normal(0, 0.002, sharp.shape).astype(np.float32)
    kernel = np.eye(9, dtype=np.float32) / 9
    long = cv2.filter2D(sharp, -1, kernel, borderType=cv2.BORDER_REFLECT)
    params = UnprocessParams(cfa_pattern="RGGB", white_balance=tuple(float(v) for v in source.white_balance),
                             cam_to_srgb=tuple(map(tuple, source.cam_to_srgb)), black_level=512.0,
                             white_level=65535.0)
    folder = tmp_path_factory.mktemp("pair")
    paths = []
    for name, linear, seconds in (("short", short, 1 / 400), ("long", long, 1 / 50)):
        adu = mosaic_to_adu(linear_to_mosaic(linear, params), params.black_level, params.white_level)
        meta = CaptureMetadata("Blackmagic", "Pocket", seconds, 400, 2.8, WHEN)
        paths.append(write_unprocessed_dng(folder / f"{name}.dng", adu, params, meta))
    return paths[0], paths[1], sharp


def test_fused_dng_develops_like_the_fused_tiff(camera_pair, tmp_path: Path) -> None:
    """fuse -o fused.dng keeps the camera's white balance and matrix; LibRaw develops the DNG to
    within 0.5 dB of the fused TIFF (both against the sharp scene) and within 40 dB of the TIFF."""
    short, long, sharp = camera_pair
    model = settled(gain=0.0)
    options = FuseOptions(device="cpu", tile=0)
    tif = fuse_pair(short, long, tmp_path / "fused.tif", options, model=model)
    dng = fuse_pair(short, long, tmp_path / "fused.dng", options, model=model)
    assert (dng.ratio, dng.ratio_source) == (pytest.approx(8.0), "metadata")
    source = read_raw(short)
    raw = read_raw(dng.out_path)
    np.testing.assert_allclose(raw.white_balance, source.white_balance, rtol=1e-3)
    np.testing.assert_allclose(raw.cam_to_srgb, source.cam_to_srgb, atol=2e-3)
    assert (raw.metadata.make, raw.metadata.exposure_time_s, raw.metadata.timestamp) == (
        "Blackmagic", pytest.approx(1 / 400), WHEN)

    tif_srgb = srgb_encode(read_linear(tif.out_path).rgb)
    dng_srgb = libraw_srgb(dng.out_path)
    truth = np.clip(srgb_encode(sharp), 0, 1)
    assert dng_srgb.shape == tif_srgb.shape == truth.shape
    assert psnr(dng_srgb, tif_srgb) > 40
    assert abs(psnr(dng_srgb, truth) - psnr(tif_srgb, truth)) < 0.5
    ours = np.clip(srgb_encode(develop(raw)), 0, 1)  # and burstcap's own reader agrees
    assert psnr(ours, tif_srgb) > 40


def test_darktable_renders_the_fused_dng(camera_pair, tmp_path: Path) -> None:
    """Debian's darktable-cli (headless) renders the fused DNG to a JPEG of the same picture; its own
    default look (exposure, tone curve) differs, so the check is on structure: the same size and a
    strong correlation with the fused TIFF's brightness."""
    cli = shutil.which("darktable-cli")
    if cli is None:
        pytest.skip("darktable-cli is absent (apt-get install darktable; .ci/run installs it)")
    short, long, _ = camera_pair
    model = settled(gain=0.0)
    options = FuseOptions(device="cpu", tile=0)
    tif = fuse_pair(short, long, tmp_path / "fused.tif", options, model=model)
    dng = fuse_pair(short, long, tmp_path / "fused.dng", options, model=model)
    jpg = tmp_path / "darktable.jpg"
    done = subprocess.run([cli, str(dng.out_path), str(jpg), "--core", "--configdir", str(tmp_path / "dt"),
                           "--library", ":memory:"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and jpg.is_file(), done.stdout + done.stderr
    rendered = cv2.imread(str(jpg), cv2.IMREAD_GRAYSCALE).astype(np.float32)
    reference = cv2.cvtColor(cv2.imread(str(tif.out_path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2GRAY)
    assert rendered.shape == reference.shape
    correlation = np.corrcoef(rendered.ravel(), reference.astype(np.float32).ravel())[0, 1]
    assert correlation > 0.9

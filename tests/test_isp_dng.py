"""isp.dng.write_dng + isp.unprocess: real DNG files that LibRaw reads back."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
import rawpy

from isp import IspError
from isp.color import cam_to_srgb_from_xyz_to_cam, srgb_encode
from isp.develop import develop
from isp.dng import write_dng
from isp.metadata import CaptureMetadata
from isp.raw import read_raw
from isp.unprocess import UnprocessParams, unprocess, write_unprocessed_dng

META = CaptureMetadata(
    make="Acme",
    model="Burst 1",
    exposure_time_s=1 / 250,
    iso=800,
    f_number=2.8,
    timestamp=datetime(2024, 5, 6, 7, 8, 9),
    orientation=6,
)


def write_unprocessed(path: Path, srgb: np.ndarray, params: UnprocessParams, meta: CaptureMetadata | None) -> Path:
    return write_unprocessed_dng(path, unprocess(srgb, params), params, meta)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.mark.parametrize("pattern", ["RGGB", "GRBG"])
def test_kodak_round_trip_through_a_dng_file(shared_data: Path, tmp_path: Path, pattern: str) -> None:
    """sRGB -> unprocess -> DNG file -> read_raw -> develop -> sRGB comes back at >= 40 dB.

    The Kodak image is first low-passed (Gaussian sigma 2 px, like a sensor's anti-aliasing filter):
    no demosaic recovers detail above the Bayer Nyquist, and this test is about the file and the
    colour chain, not demosaic quality.
    """
    kodak = cv2.cvtColor(cv2.imread(str(shared_data / "kodak24" / "kodim23.png")), cv2.COLOR_BGR2RGB)
    srgb = cv2.GaussianBlur(kodak.astype(np.float32) / 255, (0, 0), 2.0)
    params = UnprocessParams(cfa_pattern=pattern)
    path = write_unprocessed(tmp_path / "kodim23.dng", srgb, params, None)
    raw = read_raw(path)
    assert raw.cfa_pattern == pattern
    np.testing.assert_allclose(raw.white_balance, params.white_balance, rtol=1e-4)
    np.testing.assert_allclose(raw.cam_to_srgb, params.cam_to_srgb, atol=1e-3)
    back = np.clip(srgb_encode(develop(raw)), 0, 1)
    assert back.shape == srgb.shape
    assert psnr(back, srgb) >= 40.0


def test_dng_fields_as_libraw_reads_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    adu = rng.integers(600, 4000, size=(64, 96), dtype=np.uint16)
    before = adu.copy()
    xyz_to_cam = np.array([[0.7, -0.1, -0.1], [-0.4, 1.2, 0.2], [-0.1, 0.2, 0.6]])
    path = write_dng(
        tmp_path / "f.dng",
        adu,
        cfa_pattern="BGGR",
        black_level=np.array([510, 512, 514, 516]),
        white_level=4095,
        as_shot_neutral=(0.5, 1.0, 0.625),
        xyz_to_cam=xyz_to_cam,
        metadata=META,
    )
    np.testing.assert_array_equal(adu, before)
    with rawpy.imread(str(path)) as libraw:
        np.testing.assert_array_equal(libraw.raw_image_visible, adu)
        desc = libraw.color_desc.decode()
        assert "".join(desc[i] for i in libraw.raw_pattern.ravel()) == "BGGR"
        sites = libraw.raw_pattern.ravel()
        assert [libraw.black_level_per_channel[i] for i in sites] == [510, 512, 514, 516]
        assert libraw.white_level == 4095
        wb = np.array(libraw.camera_whitebalance[:3]) / libraw.camera_whitebalance[1]
        np.testing.assert_allclose(wb, [2.0, 1.0, 1.6], rtol=1e-4)
        # LibRaw turns ColorMatrix1 into its camera -> sRGB matrix, dcraw's way
        expected = cam_to_srgb_from_xyz_to_cam(xyz_to_cam)
        np.testing.assert_allclose(libraw.color_matrix[:, :3], expected, atol=1e-3)
        assert libraw.other.iso_speed == 800
        assert libraw.other.shutter_speed == pytest.approx(1 / 250)
        assert libraw.other.aperture == pytest.approx(2.8)
        assert libraw.sizes.flip == 6  # dcraw's code for EXIF orientation 6


def test_dng_metadata_round_trips_through_read_raw(tmp_path: Path) -> None:
    adu = np.full((32, 48), 2000, np.uint16)
    adu[::2, ::2] = 3000
    path = write_dng(tmp_path / "m.dng", adu, black_level=0, white_level=4095, metadata=META)
    assert read_raw(path).metadata == META


def test_write_dng_is_atomic_and_checks_its_input(tmp_path: Path) -> None:
    target = tmp_path / "keep.dng"
    target.write_bytes(b"previous")
    with pytest.raises(IspError, match="uint16"):
        write_dng(target, np.zeros((8, 8), np.float32))
    with pytest.raises(IspError, match="Bayer"):
        write_dng(target, np.zeros((8, 8), np.uint16), cfa_pattern="RGBW")
    with pytest.raises(IspError, match="even"):
        write_dng(target, np.zeros((7, 8), np.uint16))
    with pytest.raises(IspError, match="does not exist"):
        write_dng(tmp_path / "nowhere" / "x.dng", np.zeros((8, 8), np.uint16))
    assert target.read_bytes() == b"previous"
    write_dng(target, np.zeros((32, 32), np.uint16) + 100)
    assert target.read_bytes()[:4] == b"II*\x00"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.dng"]  # no temp file left


def test_unprocess_inverts_develop_exactly_on_flat_colours(tmp_path: Path) -> None:
    params = UnprocessParams(black_level=64, white_level=65535)
    srgb = np.zeros((8, 8, 3), np.float32) + np.array([0.6, 0.4, 0.2], np.float32)
    adu = unprocess(srgb, params)
    assert adu.dtype == np.uint16 and adu.shape == (8, 8)
    # R sites hold linear R / WB_R in the camera space, scaled to ADU
    assert len(np.unique(adu[0::2, 0::2])) == 1 and len(np.unique(adu[1::2, 1::2])) == 1
    assert adu.min() > params.black_level
    # develop (black level, white balance, demosaic, colour matrix) gives the colour back: a flat
    # colour has no demosaicing error, so only the 16-bit rounding remains
    for pattern in ("RGGB", "GRBG"):
        flat = UnprocessParams(cfa_pattern=pattern, black_level=64, white_level=65535)
        big = np.zeros((32, 32, 3), np.float32) + srgb[0, 0]  # LibRaw refuses an 8x8 DNG
        raw = read_raw(write_unprocessed(tmp_path / f"{pattern}.dng", big, flat, None))
        back = srgb_encode(develop(raw))
        np.testing.assert_allclose(back, big, atol=2e-4, err_msg=pattern)

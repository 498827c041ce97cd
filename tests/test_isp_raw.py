"""isp.raw.read_raw on real camera files and on bad input."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import rawpy

from isp import IspError, RawReadError
from isp.metadata import CaptureMetadata
from isp.raw import read_raw, read_raw_metadata, read_thumbnail

KDC = "raw/valid/RAW_KODAK_DC50.KDC"
LINEAR_DNG = "raw/valid/canon_eos_6d_linear.dng"


def test_kdc_mosaic_is_black_subtracted_and_white_scaled_at_every_site(shared_data: Path) -> None:
    path = shared_data / KDC
    raw = read_raw(path)
    with rawpy.imread(str(path)) as libraw:
        adu = libraw.raw_image_visible.astype(np.float64)
        colors = libraw.raw_colors_visible
        black = np.asarray(libraw.black_level_per_channel, dtype=np.float64)[colors]
        white = float(libraw.white_level)
    expected = (adu - black) / (white - black)
    assert raw.mosaic.dtype == np.float32
    assert raw.mosaic.shape == (512, 768)
    np.testing.assert_allclose(raw.mosaic, expected, rtol=0, atol=1e-6)
    assert raw.cfa_pattern == "GRBG"
    assert raw.white_level == 16383
    assert raw.white_balance[1] == 1.0
    assert raw.path == path


def test_kdc_metadata(shared_data: Path) -> None:
    meta = read_raw(shared_data / KDC).metadata
    assert meta.make == "Eastman Kodak Company"
    assert meta.model == "Kodak Digital Science DC50 Zoom Camera"
    assert meta.exposure_time_s == pytest.approx(0.00435)
    assert meta.iso == pytest.approx(84)
    assert meta.f_number == pytest.approx(6.2)
    assert meta.timestamp == datetime(1997, 4, 23, 8, 0, 47)
    assert meta.orientation == 1


def test_linear_raw_dng_is_read_as_camera_rgb(shared_data: Path) -> None:
    raw = read_raw(shared_data / LINEAR_DNG)
    assert raw.is_linear_raw
    assert raw.cfa_pattern is None
    assert raw.mosaic.shape == (816, 1224, 3)
    assert raw.metadata.model == "Canon EOS 6D"
    assert raw.metadata.iso == 1000
    assert raw.metadata.exposure_time_s == pytest.approx(1 / 60)
    # the file's own colour matrix, mapping camera white to sRGB white
    np.testing.assert_allclose(raw.cam_to_srgb.sum(axis=1), 1.0, atol=1e-3)


def test_truncated_files_raise_raw_read_error_naming_the_file(shared_data: Path) -> None:
    files = sorted((shared_data / "raw" / "truncated").iterdir())
    assert len(files) >= 10
    for path in files:
        with pytest.raises(RawReadError) as info:
            read_raw(path)
        message = str(info.value)
        assert str(path) in message, message
        assert len(message) > len(str(path)) + 10, message


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.NEF", b"", "empty"),
        ("notes.NEF", b"this is a shopping list, not a raw file\n" * 20, "not a raw file"),
    ],
)
def test_bad_files_raise_raw_read_error(tmp_path: Path, name: str, content: bytes, problem: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RawReadError, match=problem) as info:
        read_raw(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == content  # input never modified


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(RawReadError, match="no such file") as info:
        read_raw(tmp_path / "missing.CR2")
    assert "missing.CR2" in str(info.value)
    with pytest.raises(RawReadError, match="directory"):
        read_raw(tmp_path)
    assert issubclass(RawReadError, IspError)


def test_non_bayer_cfa_is_refused(tmp_path: Path) -> None:
    """A DNG whose CFAPattern is R G / B B (no Bayer) is refused, not mis-developed."""
    import struct

    from isp.dng import write_dng

    path = write_dng(tmp_path / "rgbb.dng", np.random.default_rng(0).integers(100, 4000, (64, 64), dtype=np.uint16))
    data = bytearray(path.read_bytes())
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for index in range(count):
        entry = ifd + 2 + 12 * index
        if struct.unpack_from("<H", data, entry)[0] == 33422:  # CFAPattern, 4 bytes inline
            data[entry + 8 : entry + 12] = bytes([0, 1, 2, 2])
    path.write_bytes(bytes(data))
    with pytest.raises(RawReadError, match="not a Bayer pattern") as info:
        read_raw(path)
    assert str(path) in str(info.value)


def test_raw_metadata_without_decoding_matches_read_raw(shared_data: Path) -> None:
    for name in (KDC, LINEAR_DNG):
        assert read_raw_metadata(shared_data / name) == read_raw(shared_data / name).metadata


def test_thumbnail_is_the_embedded_jpeg_or_none(shared_data: Path) -> None:
    import cv2

    jpeg = read_thumbnail(shared_data / LINEAR_DNG)
    assert jpeg is not None and jpeg.startswith(b"\xff\xd8")
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.ndim == 3
    assert read_thumbnail(shared_data / KDC) is None  # a bitmap preview only
    assert read_thumbnail(shared_data / "raw" / "valid" / "colorchart.dng") is None  # no preview


def test_raw_metadata_of_truncated_files_is_a_raw_read_error(shared_data: Path) -> None:
    paths = sorted((shared_data / "raw" / "truncated").iterdir())
    assert paths
    for path in paths:  # metadata or a RawReadError naming the file; anything else fails the test
        try:
            assert isinstance(read_raw_metadata(path), CaptureMetadata)
        except RawReadError as exc:
            assert str(path) in str(exc)


@pytest.mark.parametrize("read", [read_raw_metadata, read_thumbnail])
def test_header_readers_name_the_bad_file(tmp_path: Path, read) -> None:
    path = tmp_path / "notes.NEF"
    path.write_bytes(b"this is a shopping list, not a raw file\n" * 20)
    with pytest.raises(RawReadError, match="not a raw file") as info:
        read(path)
    assert str(path) in str(info.value)
    with pytest.raises(RawReadError, match="no such file"):
        read(tmp_path / "missing.CR2")

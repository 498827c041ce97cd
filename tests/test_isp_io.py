"""isp.io (read_linear / write_image) and isp.color (sRGB transfer) on real files."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from isp import IspError, RawReadError
from isp.color import cam_to_srgb_from_xyz_to_cam, srgb_decode, srgb_encode, xyz_to_cam_from_cam_to_srgb
from isp.io import read_linear, write_image
from isp.metadata import CaptureMetadata


def test_srgb_transfer_known_values_and_inverse() -> None:
    x = np.array([0.0, 0.0031308, 0.18, 0.5, 1.0], np.float32)
    encoded = srgb_encode(x)
    np.testing.assert_allclose(encoded, [0.0, 0.04045, 0.4614, 0.7354, 1.0], atol=2e-4)
    assert encoded.dtype == np.float32
    ramp = np.linspace(-0.05, 2.0, 2001, dtype=np.float32)
    np.testing.assert_allclose(srgb_decode(srgb_encode(ramp)), ramp, atol=1e-6, rtol=1e-5)


def test_srgb_transfer_on_torch_matches_numpy() -> None:
    ramp = np.linspace(-0.05, 1.5, 301, dtype=np.float32)
    tensor = torch.from_numpy(ramp).reshape(1, 1, 7, 43)
    encoded = srgb_encode(tensor)
    assert isinstance(encoded, torch.Tensor) and encoded.dtype == torch.float32
    np.testing.assert_allclose(encoded.reshape(-1).numpy(), srgb_encode(ramp), atol=1e-6)
    np.testing.assert_allclose(srgb_decode(encoded).reshape(-1).numpy(), ramp, atol=1e-6, rtol=1e-5)


def test_colour_matrix_helpers_map_white_to_white() -> None:
    cam_to_srgb = np.array([[1.7, -0.55, -0.15], [-0.2, 1.45, -0.25], [0.05, -0.45, 1.4]])
    xyz_to_cam = xyz_to_cam_from_cam_to_srgb(cam_to_srgb)
    np.testing.assert_allclose(cam_to_srgb_from_xyz_to_cam(xyz_to_cam), cam_to_srgb, atol=1e-9)
    np.testing.assert_allclose(cam_to_srgb_from_xyz_to_cam(xyz_to_cam * 3.0) @ np.ones(3), np.ones(3))


@pytest.mark.parametrize(
    ("name", "bits", "tolerance"),
    [("a.png", None, 5e-3), ("b.png", 16, 3e-5), ("c.tif", None, 3e-5), ("d.jpg", None, 0.08)],
)
def test_write_then_read_linear(tmp_path: Path, name: str, bits: int | None, tolerance: float) -> None:
    y, x = np.mgrid[0:48, 0:64].astype(np.float32)
    rgb = np.stack([x / 63, y / 47, (x + y) / 110], axis=2) ** 2.2  # smooth linear ramps
    path = write_image(tmp_path / name, rgb, bits=bits)
    image = read_linear(path)
    assert not image.is_raw
    assert image.rgb.dtype == np.float32 and image.rgb.shape == (48, 64, 3)
    assert np.abs(image.rgb - rgb).max() < tolerance
    stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    expected_dtype = np.uint16 if (bits == 16 or name.endswith(".tif")) else np.uint8
    assert stored.dtype == expected_dtype
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # atomic: no temp file left


def test_tiff_carries_metadata(tmp_path: Path) -> None:
    meta = CaptureMetadata("Acme", "Burst 1", 0.5, 100, 8.0, datetime(2025, 1, 2, 3, 4, 5), None)
    path = write_image(tmp_path / "m.tif", np.full((8, 8, 3), 0.2, np.float32), metadata=meta)
    assert read_linear(path).metadata == meta


@pytest.mark.parametrize("name", ["m.png", "m.jpg", "m.jpeg", "m.tif"])
def test_every_written_format_carries_metadata(tmp_path: Path, name: str) -> None:
    """write_image is the one way metadata goes into a file: TIFF tags, or an EXIF block spliced
    into a PNG/JPEG (pixels written as given: orientation 1)."""
    meta = CaptureMetadata("Acme", "Burst 1", 1 / 250, 400, 2.8, datetime(2025, 1, 2, 3, 4, 5), None)
    path = write_image(tmp_path / name, np.full((8, 8, 3), 0.2, np.float32), metadata=meta)
    assert read_linear(path).metadata.merged(CaptureMetadata(orientation=1)) == dataclasses.replace(meta, orientation=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # atomic: no temp file left


def test_exif_block_only_in_png_and_jpeg(tmp_path: Path) -> None:
    from isp.embed import embed_exif

    tif = write_image(tmp_path / "a.tif", np.full((8, 8, 3), 0.2, np.float32))
    with pytest.raises(IspError, match="cannot embed") as info:
        embed_exif(tif, CaptureMetadata(make="Acme"))
    assert str(tif) in str(info.value)
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not a png at all")
    with pytest.raises(IspError, match="not a PNG file"):
        embed_exif(fake, CaptureMetadata(make="Acme"))


def test_kodak_png_is_decoded_to_linear(shared_data: Path) -> None:
    path = shared_data / "kodak24" / "kodim01.png"
    image = read_linear(path)
    stored = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    assert image.rgb.shape == (512, 768, 3)
    np.testing.assert_allclose(image.rgb, srgb_decode(stored), atol=1e-6)
    assert read_linear(path, half_size=True).rgb.shape == (256, 384, 3)


def test_raw_files_go_through_develop(shared_data: Path) -> None:
    image = read_linear(shared_data / "raw" / "valid" / "RAW_KODAK_DC50.KDC")
    assert image.is_raw and image.rgb.shape == (512, 768, 3)
    assert image.metadata.iso == pytest.approx(84)


def test_grey_and_alpha_images(tmp_path: Path) -> None:
    grey = np.full((4, 5), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    rgba = np.zeros((4, 5, 4), np.uint16)
    rgba[..., 2] = 65535  # red in OpenCV's BGRA order
    cv2.imwrite(str(tmp_path / "r.png"), rgba)
    g = read_linear(tmp_path / "g.png").rgb
    assert g.shape == (4, 5, 3) and np.allclose(g, srgb_decode(np.float32(128 / 255)))
    r = read_linear(tmp_path / "r.png").rgb
    assert r.shape == (4, 5, 3) and np.allclose(r[0, 0], [1.0, 0.0, 0.0])


def test_bad_image_files(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    with pytest.raises(RawReadError, match="cannot decode") as info:
        read_linear(bad)
    assert str(bad) in str(info.value)
    with pytest.raises(RawReadError, match="no such file"):
        read_linear(tmp_path / "gone.jpg")
    with pytest.raises(RawReadError, match="empty"):
        (tmp_path / "e.tif").write_bytes(b"")
        read_linear(tmp_path / "e.tif")


def test_write_image_errors_leave_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with pytest.raises(IspError, match=r"\(H, W, 3\)"):
        write_image(target, np.zeros((4, 4), np.float32))
    with pytest.raises(IspError, match="cannot write"):
        write_image(tmp_path / "out.bmp", np.zeros((4, 4, 3), np.float32))
    with pytest.raises(IspError, match="8-bit"):
        write_image(tmp_path / "out.jpg", np.zeros((4, 4, 3), np.float32), bits=16)
    assert target.read_bytes() == b"old"


def test_jpeg_exif_is_read_and_orientation_applied(tmp_path: Path) -> None:
    from PIL import Image

    pixels = np.zeros((4, 8, 3), np.uint8)
    pixels[0, 0] = 255  # white top-left corner as stored
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[274] = 6  # stored pixels must turn 90 degrees clockwise for display
    exif[271] = "Acme"
    exif.get_ifd(0x8769)[33434] = 0.01
    exif.get_ifd(0x8769)[34855] = 400
    path = tmp_path / "o.jpg"
    image.save(path, exif=exif, quality=100)
    read = read_linear(path)
    assert read.rgb.shape == (8, 4, 3)
    assert read.rgb[0, -1].min() > 0.8 and read.rgb[-1, 0].max() < 0.1  # corner moved top-right
    assert read.metadata.make == "Acme" and read.metadata.orientation == 6
    assert read.metadata.exposure_time_s == pytest.approx(0.01) and read.metadata.iso == 400


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(orientation: int) -> None:
    from PIL import Image, ImageOps

    from isp.orientation import apply_orientation

    stored = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3) * 5
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[274] = orientation
    image.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(image))
    np.testing.assert_array_equal(apply_orientation(stored, orientation), expected)


def test_pil_rational_exif_is_read(tmp_path) -> None:
    """Pillow hands EXIF rationals back as IFDRational: exposure time and f-number must survive."""
    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational

    from isp.metadata import read_pil_metadata

    img = Image.new("RGB", (8, 8))
    exif = Image.Exif()
    exif[271] = "Make"
    exif.get_ifd(0x8769).update({33434: IFDRational(1, 125), 33437: IFDRational(28, 10), 34855: 400})
    path = tmp_path / "pic.jpg"
    img.save(path, exif=exif)
    meta = read_pil_metadata(path)
    assert meta.exposure_time_s == pytest.approx(1 / 125)
    assert meta.f_number == pytest.approx(2.8)
    assert meta.iso == 400


def test_written_files_get_normal_permissions(tmp_path) -> None:
    """Atomic writes go through mkstemp (0600); the final file must have 0666 less the umask."""
    import os

    from isp.io import write_image

    old = os.umask(0o022)
    os.umask(old)
    out = tmp_path / "out.png"
    write_image(out, np.zeros((4, 4, 3), np.float32))
    assert out.stat().st_mode & 0o777 == 0o666 & ~old

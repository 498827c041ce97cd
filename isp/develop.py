"""Develop a :class:`RawImage` to scene-linear sRGB-primaries RGB float32 (H, W, 3)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from isp.color import apply_matrix, xyz_to_cam_from_cam_to_srgb
from isp.demosaic import bin_half_size, demosaic_bilinear, demosaic_opencv_ea, site_channels
from isp.dng import write_dng
from isp.errors import IspError
from isp.libraw_messages import capture_libraw_stderr
from isp.orientation import apply_orientation
from isp.raw import RawImage
from isp.unprocess import mosaic_to_adu

#: LibRaw's own demosaic algorithms, by the name ``develop`` accepts.
LIBRAW_ALGORITHMS = {
    "libraw-linear": "LINEAR",
    "libraw-vng": "VNG",
    "libraw-ppg": "PPG",
    "libraw-ahd": "AHD",
    "libraw-dcb": "DCB",
    "libraw-dht": "DHT",
    "libraw-aahd": "AAHD",
}
#: Every demosaic name ``develop`` accepts.
DEMOSAIC_METHODS = ("bilinear", "opencv-ea", *LIBRAW_ALGORITHMS)


def develop(
    raw: RawImage,
    demosaic: str = "bilinear",
    exposure: float = 1.0,
    half_size: bool = False,
    orient: bool = True,
) -> np.ndarray:
    """White balance, demosaic, colour matrix, exposure and orientation: (H, W, 3) float32.

    Output is scene-linear RGB with sRGB/Rec.709 primaries, 1.0 = white level times ``exposure``.
    White-balanced values are clipped at 1.0 (the sensor clip, as LibRaw does); negatives from noise
    are kept for ``bilinear``. ``demosaic``: one of :data:`DEMOSAIC_METHODS` (``libraw-*`` re-read
    ``raw.path``, or a temporary DNG of the mosaic when there is none). ``half_size`` gives
    (H/2, W/2, 3) by 2x2 binning (no demosaic). ``orient`` applies the EXIF orientation.
    LinearRaw files are already demosaiced: ``demosaic`` is ignored for them.
    """
    if demosaic not in DEMOSAIC_METHODS:
        raise IspError(f"unknown demosaic {demosaic!r}; choose one of {', '.join(DEMOSAIC_METHODS)}")
    if not exposure > 0:
        raise IspError(f"exposure must be positive, got {exposure}")
    if raw.is_linear_raw:
        rgb = _linear_raw_rgb(raw, half_size)
    elif demosaic in LIBRAW_ALGORITHMS:
        rgb = _libraw_rgb(raw, LIBRAW_ALGORITHMS[demosaic], half_size)
    else:
        rgb = _bayer_rgb(raw, demosaic, half_size)
    apply_matrix(rgb, raw.cam_to_srgb, out=rgb)
    if exposure != 1.0:
        rgb *= np.float32(exposure)
    if orient:
        rgb = apply_orientation(rgb, raw.metadata.orientation)
    return rgb


def white_balanced_mosaic(raw: RawImage) -> np.ndarray:
    """(H, W) float32 copy of the mosaic times the white balance of each site, clipped above at 1."""
    assert raw.cfa_pattern is not None
    balanced = raw.mosaic.astype(np.float32, copy=True)
    for index, channel in enumerate(site_channels(raw.cfa_pattern)):
        gain = np.float32(raw.white_balance[channel])
        if gain != 1.0:
            dy, dx = divmod(index, 2)
            balanced[dy::2, dx::2] *= gain
    np.minimum(balanced, np.float32(1.0), out=balanced)
    return balanced


def _bayer_rgb(raw: RawImage, demosaic: str, half_size: bool) -> np.ndarray:
    assert raw.cfa_pattern is not None
    balanced = white_balanced_mosaic(raw)
    if half_size:
        return bin_half_size(balanced, raw.cfa_pattern)
    if demosaic == "opencv-ea":
        return demosaic_opencv_ea(balanced, raw.cfa_pattern)
    return demosaic_bilinear(balanced, raw.cfa_pattern)


def _linear_raw_rgb(raw: RawImage, half_size: bool) -> np.ndarray:
    rgb = raw.mosaic * raw.white_balance.astype(np.float32)
    np.minimum(rgb, np.float32(1.0), out=rgb)
    if half_size:
        h, w = rgb.shape[0] // 2, rgb.shape[1] // 2
        rgb = cv2.resize(rgb[: 2 * h, : 2 * w], (w, h), interpolation=cv2.INTER_AREA)
    return rgb


def _libraw_rgb(raw: RawImage, algorithm: str, half_size: bool) -> np.ndarray:
    """White-balanced camera RGB (H, W, 3) float32 [0, 1] from LibRaw's own demosaic."""
    if raw.path is not None:
        return _libraw_render(raw.path, raw, algorithm, half_size)
    with tempfile.TemporaryDirectory(prefix="isp-develop-") as tmp:
        dng = Path(tmp) / "mosaic.dng"
        white = 65535
        write_dng(
            dng,
            mosaic_to_adu(raw.mosaic, black_level=0, white_level=white),
            cfa_pattern=raw.cfa_pattern or "RGGB",
            black_level=0,
            white_level=white,
            as_shot_neutral=1.0 / raw.white_balance,
            xyz_to_cam=xyz_to_cam_from_cam_to_srgb(raw.cam_to_srgb),
        )
        return _libraw_render(dng, raw, algorithm, half_size)


def _libraw_render(path: Path, raw: RawImage, algorithm: str, half_size: bool) -> np.ndarray:
    import rawpy

    r, g, b = (float(v) for v in raw.white_balance)
    try:
        with capture_libraw_stderr(), rawpy.imread(str(path)) as libraw:
            rgb16 = libraw.postprocess(
                demosaic_algorithm=getattr(rawpy.DemosaicAlgorithm, algorithm),
                output_color=rawpy.ColorSpace.raw,
                user_wb=[r, g, b, g],
                gamma=(1, 1),
                no_auto_bright=True,
                output_bps=16,
                user_flip=0,
                adjust_maximum_thr=0,
                half_size=half_size,
            )
    except rawpy.LibRawError as exc:
        raise IspError(f"{path}: LibRaw could not develop the file ({exc})") from None
    rgb = rgb16.astype(np.float32)
    rgb *= np.float32(1.0 / 65535.0)
    return rgb

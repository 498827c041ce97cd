"""Write real DNG files that LibRaw, darktable and Adobe readers open: a Bayer mosaic
(:func:`write_dng`, uncompressed uint16 CFA) or a developed 3-channel image in camera RGB
(:func:`write_linear_dng`, LinearRaw), both with colour matrix, white balance and capture metadata."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from isp.atomic import atomic_path
from isp.errors import IspError
from isp.metadata import CaptureMetadata
from isp.color import XYZ_TO_SRGB, xyz_to_cam_from_cam_to_srgb
from isp.tiffmeta import ExtraTag, append_exif_ifd, ifd0_tags


_CFA_CODES = {"R": 0, "G": 1, "B": 2}
_PHOTOMETRIC_CFA = 32803
_PHOTOMETRIC_LINEAR_RAW = 34892
_ILLUMINANT_D65 = 21


def _srational(value: float) -> tuple[int, int]:
    fraction = Fraction(float(value)).limit_denominator(10_000)
    return fraction.numerator, fraction.denominator


def _urational(value: float) -> tuple[int, int]:
    fraction = Fraction(float(value)).limit_denominator(1_000_000)
    return fraction.numerator, fraction.denominator


def _flat(pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    return tuple(v for pair in pairs for v in pair)


def write_dng(
    path: str | Path,
    mosaic_adu: np.ndarray,
    cfa_pattern: str = "RGGB",
    black_level: float | np.ndarray = 0.0,
    white_level: float = 65535.0,
    as_shot_neutral: np.ndarray | tuple[float, float, float] = (1.0, 1.0, 1.0),
    xyz_to_cam: np.ndarray | None = None,
    metadata: CaptureMetadata | None = None,
) -> Path:
    """Write ``mosaic_adu`` (H, W) uint16 as a DNG 1.4 CFA file, atomically. Returns the path.

    ``cfa_pattern``: 2x2 pattern read row by row ("RGGB", "BGGR", "GRBG", "GBRG").
    ``black_level``: one value or (4,) per 2x2 site (ADU). ``white_level``: ADU.
    ``as_shot_neutral``: (3,) camera response to white (1 / white balance).
    ``xyz_to_cam``: (3, 3) ColorMatrix1 for D65 (identity-like sRGB camera when None).
    ``metadata``: Make/Model/UniqueCameraModel, ExposureTime, FNumber, ISO, DateTimeOriginal,
    Orientation.
    """
    path = Path(path)
    data = np.asarray(mosaic_adu)
    if data.ndim != 2 or data.dtype != np.uint16:
        raise IspError(f"{path}: mosaic must be (H, W) uint16, got {data.shape} {data.dtype}")
    if data.shape[0] < 2 or data.shape[1] < 2 or data.shape[0] % 2 or data.shape[1] % 2:
        raise IspError(f"{path}: mosaic size {data.shape} must be even and at least 2x2")
    pattern = cfa_pattern.upper()
    if len(pattern) != 4 or sorted(pattern) != ["B", "G", "G", "R"]:
        raise IspError(f"{path}: CFA pattern {cfa_pattern!r} is not a Bayer pattern like 'RGGB'")
    blacks = np.broadcast_to(np.asarray(black_level, dtype=np.float64), (4,))
    if not np.all(blacks < white_level) or white_level > 65535:
        raise IspError(f"{path}: need black levels {blacks.tolist()} < white level {white_level} <= 65535")
    neutral = np.asarray(as_shot_neutral, dtype=np.float64).reshape(3)
    if not np.all(neutral > 0):
        raise IspError(f"{path}: AsShotNeutral must be positive, got {neutral.tolist()}")
    if xyz_to_cam is None:
        xyz_to_cam = XYZ_TO_SRGB
    matrix = np.asarray(xyz_to_cam, dtype=np.float64).reshape(3, 3)
    meta = metadata or CaptureMetadata()

    tags: list[ExtraTag] = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, tuple(_CFA_CODES[c] for c in pattern), True),  # CFAPattern
        (50710, "B", 3, (0, 1, 2), True),  # CFAPlaneColor
        (50711, "H", 1, 1, True),  # CFALayout: rectangular
        (50713, "H", 2, (2, 2), True),  # BlackLevelRepeatDim
        (50714, "2I", 4, _flat([_urational(b) for b in blacks]), True),  # BlackLevel
        (50717, "I", 1, int(round(white_level)), True),  # WhiteLevel
    ]
    _write(path, data, _PHOTOMETRIC_CFA, tags, matrix, neutral, meta)
    return path


def write_linear_dng(
    path: str | Path,
    rgb_linear: np.ndarray,
    cam_to_srgb: np.ndarray | None = None,
    white_balance: np.ndarray | tuple[float, float, float] | None = None,
    metadata: CaptureMetadata | None = None,
) -> Path:
    """Write a developed image as a 16-bit LinearRaw DNG in camera RGB, atomically. Returns the path.

    ``rgb_linear``: (H, W, 3) float scene-linear with sRGB primaries, 1.0 = white (the camera's
    clip); stored as camera RGB = inverse(``cam_to_srgb``) then divided by ``white_balance``, clipped
    to [0, 1], times 65535 (black 0). ``cam_to_srgb`` (3, 3) white-balanced camera RGB -> linear
    sRGB (identity when None) becomes ColorMatrix1; ``white_balance`` (3,) R, G, B gains (G = 1)
    (ones when None) becomes AsShotNeutral = 1 / white balance. A raw developer (LibRaw, darktable) applying the
    file's white balance and matrix thus gets ``rgb_linear`` back, as with the camera's own RAW.
    ``metadata`` as in :func:`write_dng`.
    """
    import cv2

    path = Path(path)
    rgb = np.asarray(rgb_linear, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise IspError(f"{path}: image must be (H, W, 3), got {rgb.shape}")
    balance = np.ones(3) if white_balance is None else np.asarray(white_balance, dtype=np.float64).reshape(3)
    if not np.all(balance > 0):
        raise IspError(f"{path}: white balance must be positive, got {balance.tolist()}")
    to_srgb = np.eye(3) if cam_to_srgb is None else np.asarray(cam_to_srgb, dtype=np.float64).reshape(3, 3)
    to_raw = np.linalg.inv(to_srgb) / balance[:, None]  # sRGB -> camera RGB before white balance
    camera = cv2.transform(np.ascontiguousarray(rgb), to_raw.astype(np.float32))
    np.clip(camera, 0.0, 1.0, out=camera)
    camera *= np.float32(65535.0)
    camera += np.float32(0.5)
    data = camera.astype(np.uint16)
    tags: list[ExtraTag] = [
        (50713, "H", 2, (1, 1), True),  # BlackLevelRepeatDim
        (50714, "H", 3, (0, 0, 0), True),  # BlackLevel per sample
        (50717, "I", 3, (65535, 65535, 65535), True),  # WhiteLevel per sample
    ]
    meta = metadata or CaptureMetadata()
    _write(path, data, _PHOTOMETRIC_LINEAR_RAW, tags, xyz_to_cam_from_cam_to_srgb(to_srgb),
           1.0 / balance, meta)
    return path


def _write(path: Path, data: np.ndarray, photometric: int, tags: list[ExtraTag], xyz_to_cam: np.ndarray,
           neutral: np.ndarray, meta: CaptureMetadata) -> None:
    """Write ``data`` (H, W) or (H, W, 3) uint16 with ``tags`` plus the tags every DNG of ours has."""
    import tifffile

    if not path.parent.is_dir():
        raise IspError(f"{path}: output folder {path.parent} does not exist")
    camera_name = " ".join(p for p in (meta.make, meta.model) if p) or "burstcap"
    tags = [
        (254, "I", 1, 0, True),  # NewSubfileType: main image
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, camera_name, True),  # UniqueCameraModel
        *tags,
        (50721, "2i", 9, _flat([_srational(v) for v in np.asarray(xyz_to_cam).ravel()]), True),  # ColorMatrix1
        (50728, "2I", 3, _flat([_urational(v) for v in neutral]), True),  # AsShotNeutral
        (50778, "H", 1, _ILLUMINANT_D65, True),  # CalibrationIlluminant1
        (274, "H", 1, int(meta.orientation or 1), True),  # Orientation
        *ifd0_tags(meta),
    ]
    with atomic_path(path) as tmp:
        tifffile.imwrite(
            tmp,
            data,
            photometric=photometric,
            planarconfig="contig" if data.ndim == 3 else None,
            metadata=None,
            rowsperstrip=data.shape[0],
            software="burstcap isp",
            extratags=tags,
            bigtiff=False,
        )
        append_exif_ifd(tmp, meta)

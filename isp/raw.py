"""Read camera RAW files (anything LibRaw reads) into a normalised mosaic plus its metadata."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from isp.color import cam_to_srgb_from_xyz_to_cam
from isp.errors import RawReadError
from isp.libraw_messages import Captured, capture_libraw_stderr
from isp.limits import check_pixel_budget
from isp.metadata import CaptureMetadata, exif_orientation_from_libraw_flip, read_tiff_metadata

T = TypeVar("T")

#: Below this many bits per pixel a raw file cannot hold its image: it was cut short.
MIN_BITS_PER_PIXEL = 0.25


@dataclass
class RawImage:
    """A decoded RAW frame.

    ``mosaic``: (H, W) float32 Bayer mosaic, black-subtracted and divided by (white - black) per
    channel (0 black, 1 clip, negatives kept), or (H, W, 3) for LinearRaw files (already demosaiced,
    camera RGB). ``cfa_pattern``: the 2x2 pattern read row by row, e.g. "RGGB" (None for LinearRaw).
    ``black_level``: (4,) ADU per 2x2 site in the same order as ``cfa_pattern`` (per R, G, B, G for
    LinearRaw). ``white_level``: ADU. ``white_balance``: (3,) R, G, B multipliers with G = 1.
    ``cam_to_srgb``: (3, 3) white-balanced camera RGB -> linear sRGB.
    """

    mosaic: np.ndarray
    cfa_pattern: str | None
    black_level: np.ndarray
    white_level: float
    white_balance: np.ndarray
    cam_to_srgb: np.ndarray
    metadata: CaptureMetadata = field(default_factory=CaptureMetadata)
    path: Path | None = None

    @property
    def is_linear_raw(self) -> bool:
        """True for LinearRaw (already demosaiced) data: ``mosaic`` is (H, W, 3)."""
        return self.mosaic.ndim == 3


def check_input_path(path: Path) -> None:
    """Raise RawReadError unless ``path`` is an existing, non-empty regular file."""
    if not path.exists():
        raise RawReadError(path, "no such file")
    if path.is_dir():
        raise RawReadError(path, "is a directory, not a raw file")
    if path.stat().st_size == 0:
        raise RawReadError(path, "file is empty")


def _white_balance(camera_wb: list[float], daylight_wb: list[float]) -> np.ndarray:
    """(3,) R, G, B multipliers normalised to G = 1 (camera's as-shot, else daylight, else unity)."""
    for wb in (camera_wb, daylight_wb):
        r, g, b = (float(v) for v in wb[:3])
        if g > 0 and r > 0 and b > 0:
            return np.array([r / g, 1.0, b / g], dtype=np.float32)
    return np.ones(3, dtype=np.float32)


def _cam_to_srgb(color_matrix: np.ndarray, rgb_xyz_matrix: np.ndarray) -> np.ndarray | None:
    """Camera -> sRGB (3, 3): LibRaw's colour matrix, else derived from XYZ -> camera, else None."""
    rgb_cam = np.asarray(color_matrix, dtype=np.float64)[:3, :3]
    if np.any(rgb_cam != 0):
        return rgb_cam
    xyz_cam = np.asarray(rgb_xyz_matrix, dtype=np.float64)[:3, :3]
    if np.any(xyz_cam != 0):
        try:
            return cam_to_srgb_from_xyz_to_cam(xyz_cam)
        except (ValueError, np.linalg.LinAlgError):
            pass
    return None


def _measure_hidden_matrix(raw: object) -> np.ndarray:
    """Camera -> sRGB (3, 3) that LibRaw applies but rawpy does not expose (e.g. Kodak DC50).

    Renders the frame at half size in camera RGB and in sRGB (both linear, 16-bit) and fits the
    3x3 map by least squares over pixels unclipped in both; identity when that is not possible.
    """
    import rawpy

    common = dict(
        half_size=True, gamma=(1, 1), no_auto_bright=True, output_bps=16, user_flip=0,
        adjust_maximum_thr=0, use_camera_wb=True, demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR,
    )
    cam = raw.postprocess(output_color=rawpy.ColorSpace.raw, **common).reshape(-1, 3)  # type: ignore[attr-defined]
    srgb = raw.postprocess(output_color=rawpy.ColorSpace.sRGB, **common).reshape(-1, 3)  # type: ignore[attr-defined]
    usable = np.all((cam > 256) & (cam < 65000) & (srgb > 256) & (srgb < 65000), axis=1)
    if usable.sum() < 100:
        return np.eye(3)
    solution, *_ = np.linalg.lstsq(cam[usable].astype(np.float64), srgb[usable].astype(np.float64), rcond=None)
    matrix = solution.T
    return matrix / matrix.sum(axis=1, keepdims=True)


def _metadata(raw: object, path: Path) -> CaptureMetadata:
    """TIFF/EXIF tags where the file has them, completed by what LibRaw parsed; the orientation is
    always LibRaw's (it knows the maker-specific places)."""
    other = raw.other  # type: ignore[attr-defined]
    from_libraw = CaptureMetadata(
        exposure_time_s=float(other.shutter_speed) if other.shutter_speed > 0 else None,
        iso=float(other.iso_speed) if other.iso_speed > 0 else None,
        f_number=float(other.aperture) if other.aperture > 0 else None,
        timestamp=other.timestamp if other.timestamp is not None and other.timestamp.year > 1970 else None,
        orientation=exif_orientation_from_libraw_flip(raw.sizes.flip),  # type: ignore[attr-defined]
    )
    merged = read_tiff_metadata(path).merged(from_libraw)
    return dataclasses.replace(merged, orientation=from_libraw.orientation)


def read_raw(path: str | Path) -> RawImage:
    """Decode a RAW file with rawpy/LibRaw into a :class:`RawImage` (mosaic float32, see there).

    Raises :class:`isp.RawReadError` naming the file for a missing path, a directory, an empty,
    truncated, unsupported or non-Bayer file.
    """
    return _unpacked(Path(path), _decode, "cannot decode raw data")


def _unpacked(path: Path, read: Callable[[Any, Path], T], failure: str) -> T:
    """``read(raw, path)`` on the opened file, after the pixel budget is checked on its header (before
    anything is unpacked); LibRaw's errors become a RawReadError "<failure> (...); truncated or
    corrupt?" naming the file."""
    import rawpy

    with _open(path) as raw:
        check_pixel_budget(path, raw.sizes.raw_width, raw.sizes.raw_height)
        try:
            with capture_libraw_stderr() as captured:
                return read(raw, path)
        except rawpy.LibRawError as exc:
            raise RawReadError(path, f"{failure} ({_libraw_message(exc, captured, path)}); truncated or corrupt?") from None


def _open(path: Path) -> Any:
    """``rawpy.imread`` of ``path`` (header parsed, nothing unpacked); RawReadError naming the file
    when it is missing, empty, not a RAW file or unreadable."""
    import rawpy

    check_input_path(path)
    captured = Captured()
    try:
        with capture_libraw_stderr() as captured:
            return rawpy.imread(str(path))
    except rawpy.LibRawFileUnsupportedError:
        raise RawReadError(path, "not a raw file LibRaw can read (unsupported format)") from None
    except rawpy.LibRawError as exc:
        raise RawReadError(path, f"cannot decode raw file ({_libraw_message(exc, captured, path)}); truncated or corrupt?") from None
    except OSError as exc:
        raise RawReadError(path, f"cannot open: {exc.strerror or exc}") from None


def read_raw_metadata(path: str | Path) -> CaptureMetadata:
    """The capture metadata of a RAW file without developing it: TIFF/EXIF tags where the file has
    them, completed by what LibRaw parses (exposure, ISO, aperture, capture time, orientation): the
    same as ``read_raw(path).metadata``. LibRaw reads the raw data for it (rawpy unpacks before it
    gives its parsed values). Raises :class:`isp.RawReadError` naming the file when LibRaw cannot
    read it."""
    path = Path(path)
    try:
        return _unpacked(path, _metadata, "cannot read the raw file")
    except (ValueError, OverflowError, OSError) as exc:  # a bogus field (e.g. a timestamp)
        raise RawReadError(path, f"cannot read the raw file's metadata ({exc})") from None


def read_thumbnail(path: str | Path) -> bytes | None:
    """The JPEG preview a camera embedded in a RAW file, as the bytes of a JPEG file; None when the
    file has none (or only a bitmap one). Raises :class:`isp.RawReadError` naming the file when
    LibRaw cannot open it or its thumbnail is corrupt."""
    import rawpy

    path = Path(path)
    with _open(path) as raw:
        try:
            thumb = raw.extract_thumb()  # type: ignore[attr-defined]
        except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
            return None
        except rawpy.LibRawError as exc:
            raise RawReadError(path, f"cannot read the embedded preview ({exc})") from None
    return bytes(thumb.data) if thumb.format == rawpy.ThumbFormat.JPEG else None


def _libraw_message(exc: Exception, captured: Captured, path: Path) -> str:
    """LibRaw's error text plus what it printed to stderr (without its "path: " prefix), one line."""
    text = exc.args[0] if exc.args else type(exc).__name__
    message = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    printed = "; ".join(line.strip().removeprefix(f"{path}: ") for line in captured.text.splitlines() if line.strip())
    return f"{message}: {printed}" if printed else message


def _decode(raw: object, path: Path) -> RawImage:
    import rawpy

    color_desc = raw.color_desc.decode(errors="replace")  # type: ignore[attr-defined]
    if color_desc not in ("RGBG", "RGB"):
        raise RawReadError(path, f"colour filter {color_desc!r} is not RGB; only RGB Bayer or LinearRaw files are supported")
    data = raw.raw_image_visible  # type: ignore[attr-defined]
    height, width = data.shape[:2]
    if height < 2 or width < 2:
        raise RawReadError(path, f"image is only {width}x{height} pixels")
    bits_per_pixel = path.stat().st_size * 8 / (height * width)
    if bits_per_pixel < MIN_BITS_PER_PIXEL:
        raise RawReadError(
            path,
            f"file is truncated: {path.stat().st_size} bytes cannot hold a {width}x{height} image",
        )
    if data.size and int(data.min()) == int(data.max()):
        raise RawReadError(path, f"no image data: every pixel is {int(data.min())}")
    black = np.asarray(raw.black_level_per_channel, dtype=np.float32)  # type: ignore[attr-defined]
    white = float(raw.white_level)  # type: ignore[attr-defined]
    if not np.all(white > black):
        raise RawReadError(path, f"white level {white} is not above black levels {black.tolist()}")
    wb = _white_balance(raw.camera_whitebalance, raw.daylight_whitebalance)  # type: ignore[attr-defined]
    cam_to_srgb = _cam_to_srgb(raw.color_matrix, raw.rgb_xyz_matrix)  # type: ignore[attr-defined]
    metadata = _metadata(raw, path)

    if raw.raw_type == rawpy.RawType.Stack:  # type: ignore[attr-defined]
        if data.ndim != 3 or data.shape[2] < 3:
            raise RawReadError(path, f"LinearRaw data has shape {data.shape}, expected (H, W, >=3)")
        rgb = data[:, :, :3].astype(np.float32)
        rgb -= black[:3]
        rgb /= white - black[:3]
        if cam_to_srgb is None:
            cam_to_srgb = _measure_hidden_matrix(raw)
        return RawImage(rgb, None, black, white, wb, cam_to_srgb, metadata, path)

    pattern = np.asarray(raw.raw_pattern)  # type: ignore[attr-defined]
    if pattern.shape != (2, 2):
        raise RawReadError(path, f"CFA pattern is {pattern.shape[0]}x{pattern.shape[1]}, not a 2x2 Bayer (X-Trans?)")
    cfa = "".join(color_desc[int(i)] for i in pattern.ravel())
    if sorted(cfa) != ["B", "G", "G", "R"]:
        raise RawReadError(path, f"CFA pattern {cfa!r} is not a Bayer pattern")
    site_black = np.array([black[int(i)] for i in pattern.ravel()], dtype=np.float32)
    mosaic = normalise_mosaic(data, site_black, white)
    if cam_to_srgb is None:  # last: LibRaw's half-size render changes the raw state
        cam_to_srgb = _measure_hidden_matrix(raw)
    return RawImage(mosaic, cfa, site_black, white, wb, cam_to_srgb, metadata, path)


def normalise_mosaic(data: np.ndarray, site_black: np.ndarray, white: float) -> np.ndarray:
    """(H, W) integer ADU -> float32 (raw - black) / (white - black) per 2x2 site; negatives kept.

    ``site_black``: (4,) black level of the 2x2 sites read row by row.
    """
    mosaic = data.astype(np.float32)
    for index in range(4):
        dy, dx = divmod(index, 2)
        view = mosaic[dy::2, dx::2]
        view -= site_black[index]
        view *= np.float32(1.0 / (white - float(site_black[index])))
    return mosaic

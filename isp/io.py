"""One entry point for every input file (RAW or 8/16-bit sRGB) and the image writers.

Whatever the source, :func:`read_linear` returns scene-linear RGB float32 (H, W, 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from isp.atomic import atomic_path
from isp.chunks import map_rows
from isp.color import srgb_decode, srgb_encode
from isp.develop import develop
from isp.embed import embed_exif
from isp.errors import IspError, RawReadError
from isp.formats import SRGB_EXTENSIONS, WRITE_EXTENSIONS  # sRGB files: read here; the rest: LibRaw
from isp.limits import (MAX_LINEAR_VALUE, check_output_pixels, check_pixel_budget, count_nonfinite,
                        header_size)
from isp.metadata import CaptureMetadata, read_pil_metadata, read_tiff_metadata
from isp.tiffmeta import append_exif_ifd, ifd0_tags
from isp.orientation import apply_orientation
from isp.raw import check_input_path, read_raw


@dataclass
class LinearImage:
    """A decoded input: ``rgb`` (H, W, 3) float32 scene-linear, display-oriented.

    ``is_raw`` tells whether it came from a RAW file (then 1.0 = sensor white level).
    ``display_referred``: an 8/16-bit sRGB file, whose brightness is the camera's rendering for display
    (float TIFFs and RAW files are scene-linear at their exposure: False).
    ``metadata.orientation`` is the file's tag, already applied to ``rgb``.
    ``white_balance`` (3,) and ``cam_to_srgb`` (3, 3): the RAW file's own (see
    :class:`isp.raw.RawImage`; None for sRGB files), so an output DNG can carry the camera's colour.
    """

    rgb: np.ndarray
    metadata: CaptureMetadata = field(default_factory=CaptureMetadata)
    path: Path | None = None
    is_raw: bool = False
    white_balance: np.ndarray | None = None
    cam_to_srgb: np.ndarray | None = None
    display_referred: bool = False


def read_linear(path: str | Path, demosaic: str = "bilinear", half_size: bool = False) -> LinearImage:
    """Read a RAW file (developed by :func:`isp.develop.develop`) or an sRGB PNG/JPEG/TIFF.

    8/16-bit files are sRGB-decoded to linear; float TIFFs are taken as already linear.
    ``half_size`` halves RAW files by binning and sRGB files by area averaging.
    Raises :class:`isp.RawReadError` naming the file when it cannot be read, when its header
    declares more pixels than the budget (:mod:`isp.limits`, checked before decoding), or when a
    float file holds NaN/inf or absurd values (refused, not repaired).
    """
    path = Path(path)
    check_input_path(path)
    if path.suffix.lower() not in SRGB_EXTENSIONS:
        raw = read_raw(path)
        return LinearImage(develop(raw, demosaic=demosaic, half_size=half_size), raw.metadata, path, True,
                           raw.white_balance, raw.cam_to_srgb)
    pixels, metadata = _read_pixels(path)
    display_referred = pixels.dtype.kind in "ui"  # integer data is sRGB-encoded; floats are linear
    rgb = _to_linear_rgb(pixels, path)
    del pixels
    rgb = apply_orientation(rgb, metadata.orientation)
    if half_size:
        h, w = rgb.shape[0] // 2, rgb.shape[1] // 2
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    return LinearImage(rgb, metadata, path, False, display_referred=display_referred)


def _read_pixels(path: Path) -> tuple[np.ndarray, CaptureMetadata]:
    """Stored pixels (H, W[, C]) in file order (RGB) and the file's metadata."""
    size = header_size(path)
    if size is None:
        raise RawReadError(path, f"cannot decode as {path.suffix.lstrip('.').upper()} image "
                                 "(not a PNG, JPEG or TIFF file)")
    check_pixel_budget(path, *size)
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        try:
            pixels = tifffile.imread(path)
        except Exception as exc:  # noqa: BLE001 - tifffile raises many types for bad files
            raise RawReadError(path, f"cannot decode as TIFF ({exc})") from None
        return pixels, read_tiff_metadata(path)
    data = np.fromfile(path, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if bgr is None:
        raise RawReadError(path, f"cannot decode as {path.suffix.lstrip('.').upper()} image (corrupt or not an image)")
    if bgr.ndim == 3 and bgr.shape[2] >= 3:
        pixels = cv2.cvtColor(bgr[:, :, :3], cv2.COLOR_BGR2RGB)
    else:
        pixels = bgr
    return pixels, read_pil_metadata(path)


def _to_linear_rgb(pixels: np.ndarray, path: Path) -> np.ndarray:
    """Stored pixels -> (H, W, 3) float32 linear: integer data is sRGB-decoded, floats kept."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4):
        raise RawReadError(path, f"unsupported image layout {pixels.shape}; expected grey or RGB(A)")
    if pixels.shape[2] in (1, 2):
        pixels = np.repeat(pixels[:, :, :1], 3, axis=2)
    pixels = pixels[:, :, :3]
    if pixels.dtype in (np.uint8, np.uint16):
        top = np.iinfo(pixels.dtype).max
        lut = srgb_decode(np.arange(top + 1, dtype=np.float32) / np.float32(top))
        return lut[pixels]  # one table look-up per sample
    if np.issubdtype(pixels.dtype, np.floating):
        rgb = np.ascontiguousarray(pixels, dtype=np.float32)
        bad = count_nonfinite(rgb)
        if bad:
            raise RawReadError(path, f"{bad} of {rgb.size} sample values are not finite (NaN or "
                                     "infinity); repair the file (burstcap does not guess them)")
        peak = max(abs(float(rgb.min())), abs(float(rgb.max()))) if rgb.size else 0.0
        if peak > MAX_LINEAR_VALUE:
            raise RawReadError(path, f"sample values reach {peak:.3g}, outside the linear range a "
                                     f"camera gives (|x| <= {MAX_LINEAR_VALUE:g})")
        return rgb
    raise RawReadError(path, f"unsupported sample type {pixels.dtype}; expected 8/16-bit or float")


def encode_srgb(rgb_linear: np.ndarray, bits: int) -> np.ndarray:
    """(H, W, 3) linear float -> sRGB-encoded, clipped, rounded uint8 (bits=8) or uint16 (bits=16)."""
    if bits not in (8, 16):
        raise IspError(f"bits must be 8 or 16, got {bits}")
    top = np.float32(255.0 if bits == 8 else 65535.0)

    def block(rows: np.ndarray) -> np.ndarray:  # a block of rows at a time, on all cores
        encoded = np.asarray(srgb_encode(np.asarray(rows, dtype=np.float32)))
        np.clip(encoded, 0.0, 1.0, out=encoded)
        encoded *= top
        encoded += np.float32(0.5)
        return encoded.astype(np.uint8 if bits == 8 else np.uint16)

    rgb = np.asarray(rgb_linear)
    return map_rows(block, np.empty(rgb.shape, np.uint8 if bits == 8 else np.uint16), rgb)


def write_image(
    path: str | Path,
    rgb_linear: np.ndarray,
    metadata: CaptureMetadata | None = None,
    bits: int | None = None,
    quality: int = 95,
) -> Path:
    """Write (H, W, 3) linear float RGB as sRGB, atomically; the format comes from the extension.

    .jpg/.jpeg: 8-bit (``quality`` 1..100); .png: 8-bit, or 16-bit with ``bits=16``;
    .tif/.tiff: 16-bit (8 with ``bits=8``). ``metadata`` goes into every format: TIFF/EXIF tags in a
    TIFF (:mod:`isp.tiffmeta`), an EXIF block in a PNG or JPEG (:mod:`isp.embed`); this is the one
    way the project writes capture metadata into an image file (DNG: :mod:`isp.dng`).
    Pixels are written as given (orientation tag 1). Returns the path written.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in WRITE_EXTENSIONS:
        raise IspError(f"{path}: cannot write {ext or 'files without extension'}; use one of {', '.join(WRITE_EXTENSIONS)}")
    rgb = np.asarray(rgb_linear)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise IspError(f"{path}: image must be (H, W, 3), got {rgb.shape}")
    check_output_pixels(path, rgb)
    if not path.parent.is_dir():
        raise IspError(f"{path}: output folder {path.parent} does not exist")
    if ext in (".jpg", ".jpeg"):
        if bits not in (None, 8):
            raise IspError(f"{path}: JPEG is 8-bit only")
        bits = 8
    elif ext == ".png":
        bits = bits or 8
    else:
        bits = bits or 16
    encoded = encode_srgb(rgb, bits)
    if ext in (".tif", ".tiff"):  # uncompressed: the pixels' size (for a full disk's message)
        with atomic_path(path, size=encoded.nbytes) as tmp:
            _write_tiff(tmp, encoded, metadata)
        return path
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if bits == 8 and ext != ".png" else []
    ok, buffer = cv2.imencode(ext, cv2.cvtColor(encoded, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise IspError(f"{path}: OpenCV could not encode the image")
    with atomic_path(path, size=buffer.nbytes) as tmp:
        buffer.tofile(tmp)
        if metadata is not None:
            embed_exif(tmp, metadata)
    return path


def _write_tiff(path: Path, encoded: np.ndarray, metadata: CaptureMetadata | None) -> None:
    import tifffile

    meta = metadata or CaptureMetadata()
    tifffile.imwrite(path, encoded, photometric="rgb", metadata=None, extratags=ifd0_tags(meta), bigtiff=False)
    append_exif_ifd(path, meta)

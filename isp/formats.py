"""Image file types: the one place the project decides what a file is from its extension.

Extensions are lower case with the dot (``".nef"``); every test goes through :func:`suffix`, so case
does not matter. RAW files go to LibRaw (:mod:`isp.raw`), sRGB files to OpenCV/tifffile
(:mod:`isp.io`); output files are written by :func:`isp.io.write_image` (PNG, JPEG, TIFF) and
:func:`isp.dng.write_linear_dng` (DNG).
"""

from __future__ import annotations

from pathlib import Path

#: Camera RAW files (read with LibRaw; the main file of a capture when present).
RAW_EXTENSIONS = frozenset({
    ".3fr", ".arw", ".cr2", ".cr3", ".crw", ".dng", ".erf", ".iiq", ".kdc", ".mef", ".mos", ".mrw",
    ".nef", ".nrw", ".orf", ".pef", ".raf", ".raw", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f",
})
JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg"})
PNG_EXTENSIONS = frozenset({".png"})
TIFF_EXTENSIONS = frozenset({".tif", ".tiff"})
#: sRGB-encoded image files :func:`isp.io.read_linear` decodes (8/16-bit, or float TIFF).
SRGB_EXTENSIONS = JPEG_EXTENSIONS | PNG_EXTENSIONS | TIFF_EXTENSIONS
#: Every file an input folder may hold as a frame.
IMAGE_EXTENSIONS = RAW_EXTENSIONS | SRGB_EXTENSIONS
#: Files whose capture metadata is an EXIF block Pillow reads (the rest: TIFF tags).
EXIF_BLOCK_EXTENSIONS = JPEG_EXTENSIONS | PNG_EXTENSIONS
#: What :func:`isp.io.write_image` writes, in the order error messages list them.
WRITE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: Output files of a fused result and the bit depths each holds (the first one is the default):
#: ``write_image``'s formats plus a linear DNG.
OUTPUT_BITS: dict[str, tuple[int, ...]] = {
    ".jpg": (8,), ".jpeg": (8,), ".png": (8, 16), ".tif": (16,), ".tiff": (16,), ".dng": (16,),
}
OUTPUT_EXTENSIONS = frozenset(OUTPUT_BITS)


def suffix(path: str | Path) -> str:
    """The lower-case extension of ``path`` with its dot (``"IMG_1.NEF"`` -> ``".nef"``)."""
    return Path(path).suffix.lower()


def is_raw(path: str | Path) -> bool:
    """True when ``path`` names a camera RAW file (by extension)."""
    return suffix(path) in RAW_EXTENSIONS


def is_srgb(path: str | Path) -> bool:
    """True when ``path`` names an sRGB image file (PNG, JPEG, TIFF) by extension."""
    return suffix(path) in SRGB_EXTENSIONS


def is_image(path: str | Path) -> bool:
    """True when ``path`` names a RAW or sRGB image file by extension."""
    return suffix(path) in IMAGE_EXTENSIONS


__all__ = [
    "EXIF_BLOCK_EXTENSIONS", "IMAGE_EXTENSIONS", "JPEG_EXTENSIONS", "OUTPUT_BITS", "OUTPUT_EXTENSIONS",
    "PNG_EXTENSIONS", "RAW_EXTENSIONS", "SRGB_EXTENSIONS", "TIFF_EXTENSIONS", "WRITE_EXTENSIONS",
    "is_image", "is_raw", "is_srgb", "suffix",
]

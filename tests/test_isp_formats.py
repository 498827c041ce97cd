"""isp.formats: the one definition of image file types."""

from __future__ import annotations

from pathlib import Path

from isp.formats import (IMAGE_EXTENSIONS, OUTPUT_BITS, RAW_EXTENSIONS, SRGB_EXTENSIONS, WRITE_EXTENSIONS,
                         is_image, is_raw, is_srgb, suffix)


def test_file_types_by_extension_whatever_the_case() -> None:
    assert suffix(Path("a/IMG_0001.NEF")) == ".nef"
    assert is_raw("IMG_0001.CR2") and is_raw(Path("x.dng")) and not is_raw("x.jpg")
    assert is_srgb("x.JPEG") and is_srgb("x.tif") and not is_srgb("x.arw")
    assert is_image("x.ORF") and is_image("x.png") and not is_image("notes.txt") and not is_image("noext")


def test_lists_agree() -> None:
    assert IMAGE_EXTENSIONS == RAW_EXTENSIONS | SRGB_EXTENSIONS
    assert not RAW_EXTENSIONS & SRGB_EXTENSIONS
    assert set(WRITE_EXTENSIONS) == SRGB_EXTENSIONS
    assert set(OUTPUT_BITS) == set(WRITE_EXTENSIONS) | {".dng"}
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS | set(OUTPUT_BITS))

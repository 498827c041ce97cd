"""Small JPEG previews of captured frames and results, for the phone page's gallery."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import rawpy
from isp.atomic import atomic_write_bytes

from burstcap.errors import BurstcapError

#: Extensions OpenCV decodes directly; anything else is tried as a camera RAW file.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}


def _read_bgr(path: Path) -> np.ndarray:
    """Decode ``path`` to (H, W, 3) uint8 BGR: OpenCV for images, the RAW's embedded preview or a
    half-size LibRaw development for RAW files."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise BurstcapError(f"{path}: not a readable image")
        return image
    try:
        with rawpy.imread(str(path)) as raw:
            try:
                thumb = raw.extract_thumb()
            except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
                thumb = None
            if thumb is not None and thumb.format == rawpy.ThumbFormat.JPEG:
                image = cv2.imdecode(np.frombuffer(thumb.data, np.uint8), cv2.IMREAD_COLOR)
                if image is not None:
                    return image
            rgb = raw.postprocess(half_size=True, output_bps=8)
    except rawpy.LibRawError as exc:
        raise BurstcapError(f"{path}: not a readable image or RAW file ({exc})") from exc
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def make_thumbnail(src: Path, dest: Path, max_side: int = 320) -> Path:
    """Write a JPEG of ``src`` whose longer side is at most ``max_side`` pixels to ``dest``,
    atomically (temp file + rename). Raises ``BurstcapError`` when ``src`` cannot be read."""
    image = _read_bgr(Path(src))
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise BurstcapError(f"{src}: could not encode a thumbnail")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(dest, data.tobytes())

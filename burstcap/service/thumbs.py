"""Small JPEG previews of captured frames and results, for the phone page's gallery."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from isp.atomic import atomic_write_bytes
from isp.errors import IspError
from isp.formats import is_raw
from isp.io import encode_srgb, read_linear
from isp.raw import read_thumbnail

from burstcap.errors import BurstcapError


def _read_bgr(path: Path) -> np.ndarray:
    """Decode ``path`` to (H, W, 3) uint8 BGR: the RAW's embedded JPEG preview or a half-size
    development (:mod:`isp`) for RAW files, OpenCV for anything else."""
    if not is_raw(path):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise BurstcapError(f"{path}: not a readable image")
        return image
    try:
        thumb = read_thumbnail(path)
        if thumb is not None:
            image = cv2.imdecode(np.frombuffer(thumb, np.uint8), cv2.IMREAD_COLOR)
            if image is not None:
                return image
        rgb = encode_srgb(read_linear(path, half_size=True).rgb, 8)
    except IspError as exc:
        raise BurstcapError(f"no thumbnail: {exc}") from exc  # IspError names the file
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

"""burstcap.service.thumbs: gallery previews of RAW and sRGB files, read through isp."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from burstcap.errors import BurstcapError
from burstcap.service.thumbs import make_thumbnail


@pytest.mark.parametrize("name", [
    "raw/valid/canon_eos_6d_linear.dng",  # the embedded JPEG preview
    "raw/valid/RAW_KODAK_DC50.KDC",  # a bitmap preview only: developed at half size
])
def test_raw_thumbnails(shared_data: Path, tmp_path: Path, name: str) -> None:
    out = make_thumbnail(shared_data / name, tmp_path / "t.jpg")
    image = cv2.imread(str(out))
    assert image is not None and max(image.shape[:2]) == 320
    assert image.mean() > 5  # not black


def test_srgb_thumbnail_and_bad_raw(tmp_path: Path) -> None:
    src = tmp_path / "a.png"
    cv2.imwrite(str(src), np.full((40, 80, 3), 128, np.uint8))
    assert cv2.imread(str(make_thumbnail(src, tmp_path / "a.jpg", max_side=20))).shape == (10, 20, 3)
    bad = tmp_path / "bad.NEF"
    bad.write_bytes(b"not a raw file\n" * 50)
    with pytest.raises(BurstcapError, match="bad.NEF"):
        make_thumbnail(bad, tmp_path / "bad.jpg")
    assert not (tmp_path / "bad.jpg").exists()

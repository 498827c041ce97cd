"""The fast paths of the whole command (issue 16) give the same pixels as the plain ones: batched tiles,
whole-image inference for small images, alignment on a reduced copy, read-ahead in ``process``; and a
``burstcap fuse`` imports nothing it does not need. Timings are in benchmarks/bench_command.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from burstcap.align import Alignment, estimate_alignment, warp_image
from conftest import REPO_ROOT, settled
from deblurnet.inference import DEFAULT_TILE, WHOLE_IMAGE_PIXELS, auto_tile, fuse
from deblurnet.noise_map import estimated_noise_map
from deblurnet.synth.camera import CameraParams


def _pair(width: int, height: int, blur: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """(short, long) network-domain (H, W, 3): a photo with noise, and blurred horizontally."""
    sharp = cv2.resize(data.astronaut().astype(np.float32) / 255.0, (width, height))
    rng = np.random.default_rng(0)
    short = np.clip(sharp + rng.normal(0, 0.05, sharp.shape), 0, 1).astype(np.float32)
    return short, cv2.blur(sharp, (blur, 1))


def test_batched_tiles_give_the_pixels_of_one_tile_at_a_time() -> None:
    """The GPU default runs several tiles per network call; the blend is the same either way."""
    model = settled(gain=1.0)
    short, long = _pair(300, 236)
    noise = estimated_noise_map(short)
    one = fuse(model, short, long, noise, tile=96, overlap=32, progress=False, batch_size=1)
    batched = fuse(model, short, long, noise, tile=96, overlap=32, progress=False, batch_size=5)
    assert one.shape == (236, 300, 3) and one.flags.c_contiguous and batched.flags.c_contiguous
    assert np.abs(one - batched).max() < 1e-5


def test_small_images_run_whole_by_default() -> None:
    assert auto_tile(720, 1280) is None  # 1280x720: one network call, no tile overlaps
    assert auto_tile(4000, 6000) == DEFAULT_TILE
    assert 1280 * 720 <= WHOLE_IMAGE_PIXELS < 6000 * 4000


def test_fuse_arrays_default_tiling_is_the_whole_image_for_a_small_pair() -> None:
    from burstcap.fuse import FuseOptions, fuse_arrays

    model = settled()
    short, long = _pair(192, 128)
    auto = fuse_arrays(short / 8, long, 8.0, model, align=False, ghost_guard=False)
    whole = fuse_arrays(short / 8, long, 8.0, model, align=False, ghost_guard=False, tile=0)
    assert np.array_equal(auto.rgb, whole.rgb)
    assert FuseOptions().tile is None and FuseOptions(tile=256).validate().tile == 256


def test_alignment_reaches_the_accuracy_the_network_needs() -> None:
    """A 1280x720 hand-held pair with a known warp (shift, rotation, a little perspective), a noisy
    short frame and a blurred long one: the warp found is within a third of the misalignment the
    network is trained to absorb (the camera protocol's +-1.5 px), at every corner."""
    short, long_sharp = _pair(1280, 720, blur=1)
    long = cv2.blur(long_sharp, (5, 1))
    angle = np.deg2rad(0.4)
    true = np.array([[np.cos(angle), -np.sin(angle), 12.3], [np.sin(angle), np.cos(angle), -7.6],
                     [2e-6, -1e-6, 1.0]])
    moved = cv2.warpPerspective(long, true, (1280, 720), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    found = estimate_alignment(short, moved)
    corners = np.array([[0, 0, 1], [1279, 0, 1], [0, 719, 1], [1279, 719, 1]], np.float64)
    a, b = corners @ found.warp.T, corners @ true.T
    error = np.abs(a[:, :2] / a[:, 2:] - b[:, :2] / b[:, 2:]).max()
    assert error <= CameraParams().max_shift_px / 3


def test_warp_blends_the_fill_only_where_the_moving_frame_does_not_reach() -> None:
    rng = np.random.default_rng(2)
    moving = rng.random((120, 160, 3), dtype=np.float32)
    fill = rng.random((120, 160, 3), dtype=np.float32)
    shift = Alignment(np.array([[1.0, 0.0, 10.5], [0.0, 1.0, -4.0], [0.0, 0.0, 1.0]]), 1.0, 0.0, 0.0, "ecc")
    plain = warp_image(moving, shift)
    filled = warp_image(moving, shift, fill=fill)
    inside = (slice(5, 115), slice(0, 148))  # reference pixels whose source lies inside the frame
    assert np.array_equal(filled[inside], plain[inside])
    assert np.allclose(filled[:, -1], fill[:, -1])  # x + 10.5 > 159: nothing of the moving frame


def test_process_reads_the_next_pair_ahead(tmp_path: Path) -> None:
    from burstcap.process import Pair, ReadAhead, read_pair

    pairs = []
    for i in range(3):
        for name, value in (("short", 40), ("long", 200)):
            cv2.imwrite(str(tmp_path / f"{i}_{name}.png"), np.full((24, 32, 3), value + i, np.uint8))
        pairs.append(Pair(tmp_path, tmp_path / f"{i}_short.png", tmp_path / f"{i}_long.png", None, "names"))
    (tmp_path / "2_long.png").write_bytes(b"not a png")
    with ReadAhead(pairs) as ahead:
        for pair in pairs[:2]:
            short, long = ahead.get(pair)
            expected = read_pair(pair)
            assert np.array_equal(short.rgb, expected[0].rgb) and np.array_equal(long.rgb, expected[1].rgb)
        with pytest.raises(Exception, match="2_long.png"):  # the read-ahead's error is the pair's own
            ahead.get(pairs[2])


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, cwd=REPO_ROOT, check=True).stdout
    return set(out.split())


def test_fuse_help_imports_no_numerical_library() -> None:
    loaded = _modules_after("from burstcap.cli import build_parser\n"
                            "try:\n    build_parser().parse_args(['fuse', '--help'])\n"
                            "except SystemExit:\n    pass")
    assert not loaded & {"torch", "cv2", "numpy", "rawpy", "PIL", "fastapi"}


def test_an_srgb_fuse_imports_only_what_it_needs(tmp_path: Path) -> None:
    """No RAW decoder, web service, plotting, SciPy or scikit-image for a PNG pair into a JPEG."""
    short, long = _pair(64, 48)
    for name, image in (("short", short * 0.125), ("long", long)):
        cv2.imwrite(str(tmp_path / f"{name}.png"), (np.clip(image, 0, 1)[..., ::-1] * 255).astype(np.uint8))
    loaded = _modules_after(
        "from burstcap.cli import main\n"
        f"assert main(['fuse', r'{tmp_path / 'short.png'}', r'{tmp_path / 'long.png'}', '-o', "
        f"r'{tmp_path / 'out.jpg'}', '--device', 'cpu', '--threads', '1', '--ratio', '8']) == 0")
    assert (tmp_path / "out.jpg").is_file()
    assert "torch" in loaded
    assert not loaded & {"rawpy", "fastapi", "uvicorn", "matplotlib", "scipy", "skimage", "tifffile",
                         "gphoto2"}

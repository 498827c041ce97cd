"""The pair -> fused image pipeline (burstcap.fuse) and the `burstcap fuse` command."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from burstcap.errors import BurstcapError
from burstcap.fuse import (FuseOptions, fuse_arrays, fuse_pair, load_options, normalisation_gain,
                           parse_ratio, write_output)
from conftest import settled
from deblurnet.checkpoint import save_weights
from isp.color import srgb_decode
from isp.errors import IspError
from isp.io import read_linear
from isp.metadata import CaptureMetadata

WHEN = datetime(2025, 5, 4, 10, 11, 12)


@pytest.fixture(scope="module")
def identity_model() -> torch.nn.Module:
    return settled(gain=0.0)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return save_weights(settled(), tmp_path_factory.mktemp("w") / "rnn.safetensors")


def _scene(size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """Scene-linear (H, W, 3) sharp image."""
    return srgb_decode(cv2.resize(data.astronaut().astype(np.float32) / 255.0, size))


@pytest.fixture()
def png_pair(tmp_path: Path) -> tuple[Path, Path]:
    """short.tif (1/400 s) and long.tif (1/50 s, blurred, shifted by 3 px), 16-bit with EXIF tags."""
    sharp = _scene()
    rng = np.random.default_rng(0)
    short = sharp / 8 + rng.normal(0, 0.004, sharp.shape).astype(np.float32)
    long = np.roll(cv2.blur(sharp, (9, 1)), 3, axis=1)
    paths = tmp_path / "short.tif", tmp_path / "long.tif"
    write_output(paths[0], short, CaptureMetadata("Nikon", "D850", 1 / 400, 800, 4.0, WHEN), 16)
    write_output(paths[1], long, CaptureMetadata("Nikon", "D850", 1 / 50, 800, 4.0, WHEN), 16)
    return paths


def _exif(path: Path) -> tuple:
    """(make, model, exposure time s, ISO, capture time) as Pillow reads them from ``path``."""
    from PIL import Image

    with Image.open(path) as image:
        exif = image.getexif()
        sub = exif.get_ifd(0x8769) or exif  # TIFF files keep these tags in IFD0
        stamp = sub.get(36867)
        return (exif.get(271), exif.get(272), float(sub.get(33434)), int(sub.get(34855)),
                datetime.strptime(stamp, "%Y:%m:%d %H:%M:%S") if stamp else None)


# ----------------------------------------------------------------------------------- fuse_arrays


def test_exposure_normalisation_round_trips(identity_model) -> None:
    """With a network that returns its short input, the output is the short frame times the ratio,
    whatever the absolute brightness (the normalisation gain is undone after the network)."""
    sharp = _scene()
    for scale in (0.02, 1.0):
        short, long = sharp * scale / 8, sharp * scale
        result = fuse_arrays(short, long, 8.0, identity_model, align=False, tile=128, overlap=32)
        assert result.gain == pytest.approx(normalisation_gain(long), rel=1e-6)
        assert result.gain * np.percentile(long.max(axis=2), 99) == pytest.approx(0.9, rel=0.02)
        unclipped = long * result.gain < 0.999
        assert np.allclose(result.rgb[unclipped], (short * 8)[unclipped], rtol=1e-3, atol=1e-6)
        assert result.alignment.method == "identity"


def _dark_scene_with_a_bright_object(object_level: float) -> np.ndarray:
    """A dark scene (brightest channel ~0.03) holding a bright square (0.5% of the pixels) whose
    brightest channel is ``object_level``."""
    scene = _scene() * np.float32(0.03)
    scene[100:117, 150:173] = np.float32(object_level) * np.array([1.0, 0.8, 0.6], np.float32)
    return scene


def test_normalisation_does_not_clip_a_small_bright_object_the_camera_kept(identity_model) -> None:
    """RAW input, a dark frame with a small bright object: the gain brightens the frame only as far as
    the object stays below 1 (the earlier rule, 99th percentile to 0.9, clipped it and lost 12 dB on
    such a PolyU crop), so a network returning its short input gives the object back; an object the
    camera had clipped already does not hold the gain back."""
    long = _dark_scene_with_a_bright_object(0.4)
    assert 0.9 / np.percentile(long.max(axis=2), 99) > 5  # the old rule: gain > 5, object clipped
    result = fuse_arrays(long / 8, long, 8.0, identity_model, align=False, ghost_guard=False)
    assert result.gain * 0.4 <= 1.0 + 1e-6
    bright = long.max(axis=2) > 0.2
    assert np.allclose(result.rgb[bright], long[bright], rtol=1e-3, atol=1e-5)

    clipped = _dark_scene_with_a_bright_object(1.0)  # a lamp at the white level
    assert normalisation_gain(clipped) == pytest.approx(0.9 / np.percentile(clipped.max(axis=2), 99))
    assert normalisation_gain(clipped) > 5


def test_srgb_files_keep_their_brightness(tmp_path: Path, identity_model) -> None:
    """sRGB files are display-referred: a dark pair of 16-bit TIFFs is fused at gain 1, not brightened
    before the network, though the same frames as RAW input would be (gain > 5); with a network that
    returns its short input, the output is the short frame times the ratio."""
    dark = _scene() * np.float32(0.1)
    paths = tmp_path / "short.tif", tmp_path / "long.tif"
    write_output(paths[0], dark / 8, CaptureMetadata("Nikon", "D850", 1 / 400, 800, 4.0, WHEN), 16)
    write_output(paths[1], dark, CaptureMetadata("Nikon", "D850", 1 / 50, 800, 4.0, WHEN), 16)
    result = fuse_pair(*paths, tmp_path / "out.tif", FuseOptions(align=False), model=identity_model)
    assert result.gain == 1.0 and result.ratio == pytest.approx(8.0)
    long = read_linear(paths[1]).rgb
    assert normalisation_gain(long) > 5
    assert np.allclose(read_linear(tmp_path / "out.tif").rgb, long, atol=2e-3)

    import tifffile  # float TIFFs are scene-linear, not display-referred: normalised like RAW frames
    floats = tmp_path / "short-f.tif", tmp_path / "long-f.tif"
    tifffile.imwrite(floats[0], dark / 8)
    tifffile.imwrite(floats[1], dark)
    assert not read_linear(floats[1]).display_referred
    result = fuse_pair(*floats, tmp_path / "out-f.tif", FuseOptions(align=False, ratio=8.0), model=identity_model)
    assert result.gain == pytest.approx(normalisation_gain(read_linear(floats[1]).rgb))


def test_result_takes_the_long_frames_colour_balance(identity_model) -> None:
    """A short frame with a colour cast (another white balance): the cast is removed before the
    network (deblurnet.colour.match_colour, as in training), so even a network that returns its short
    input gives the long frame's balance, and the after-network gains are then ~1; with
    --no-colour-match only those after-network gains are skipped."""
    sharp = _scene()
    cast = np.array([1.25, 1.0, 0.8], np.float32)
    short, long = sharp * cast / 8, sharp
    matched = fuse_arrays(short, long, 8.0, identity_model, align=False)
    assert matched.colour == pytest.approx(np.ones(3), abs=0.02)
    unclipped = np.all(long * matched.gain < 0.8, axis=2)
    assert np.allclose(matched.rgb[unclipped], long[unclipped], rtol=0.03, atol=1e-4)
    kept = fuse_arrays(short, long, 8.0, identity_model, align=False, colour_match=False)
    assert np.allclose(kept.colour, 1.0)
    assert np.allclose(kept.rgb[unclipped], long[unclipped], rtol=0.03, atol=1e-4)
    assert not np.allclose(kept.rgb[unclipped], (short * 8)[unclipped], rtol=0.1)  # the cast is gone


def test_colour_match_ignores_a_scene_without_usable_pixels() -> None:
    from deblurnet.colour import colour_gains

    black = np.zeros((32, 32, 3), np.float32)
    assert np.array_equal(colour_gains(black, black), np.ones(3, np.float32))


def test_long_frame_is_aligned_before_the_network(identity_model) -> None:
    sharp = _scene()
    long = np.roll(sharp, (2, -4), axis=(0, 1))
    result = fuse_arrays(sharp / 4, long, 4.0, identity_model)
    warp = result.alignment.warp
    assert warp[0, 2] == pytest.approx(-4, abs=0.3) and warp[1, 2] == pytest.approx(2, abs=0.3)


def test_black_or_mismatched_frames_are_refused(identity_model) -> None:
    zeros = np.zeros((64, 64, 3), np.float32)
    with pytest.raises(BurstcapError, match="black"):
        fuse_arrays(zeros, zeros, 8.0, identity_model)
    with pytest.raises(BurstcapError, match="one size"):
        fuse_arrays(zeros, np.zeros((64, 32, 3), np.float32), 8.0, identity_model)


# -------------------------------------------------------------------------------------- fuse_pair


def test_fuse_pair_png_with_metadata(png_pair, tmp_path: Path, identity_model) -> None:
    short, long = png_pair
    before = short.read_bytes(), long.read_bytes()
    for name, bits, dtype in (("out.png", None, np.uint8), ("out16.png", 16, np.uint16),
                              ("out.tif", None, np.uint16), ("out.jpg", None, np.uint8)):
        out = tmp_path / name
        result = fuse_pair(short, long, out, FuseOptions(bits=bits), model=identity_model)
        assert (result.ratio, result.ratio_source) == (pytest.approx(8.0), "metadata")
        assert (result.width, result.height) == (320, 240) and result.profile is None
        assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).dtype == dtype
        assert _exif(out) == ("Nikon", "D850", pytest.approx(1 / 400), 800, WHEN)
    assert result.alignment.shift_px == pytest.approx(3.0, abs=0.5)
    assert (short.read_bytes(), long.read_bytes()) == before  # inputs never modified
    outputs = ["out.png", "out16.png", "out.tif", "out.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(  # no temp files left; reports beside
        ["short.tif", "long.tif", *outputs, *(f"{name}.json" for name in outputs)])


def test_ratio_option_and_image_estimate(png_pair, tmp_path: Path, identity_model) -> None:
    short, long = png_pair
    result = fuse_pair(short, long, tmp_path / "a.png", FuseOptions(ratio=8.0), model=identity_model)
    assert result.ratio_source == "option"
    # Without metadata (plain PNGs from OpenCV) the ratio is estimated from the pixels.
    for path in png_pair:
        cv2.imwrite(str(path.with_suffix(".png")), cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
    short, long = short.with_suffix(".png"), long.with_suffix(".png")
    result = fuse_pair(short, long, tmp_path / "b.png", model=identity_model)
    assert result.ratio_source == "image" and result.ratio == pytest.approx(8.0, rel=0.1)


def test_failed_fusion_leaves_the_old_output(tmp_path: Path, identity_model) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_output(a, _scene(), None, 8)
    write_output(b, srgb_decode(cv2.resize(data.coffee().astype(np.float32) / 255, (320, 240))), None, 8)
    out = tmp_path / "out.png"
    out.write_bytes(b"previous result")
    with pytest.raises(BurstcapError, match="different scenes"):
        fuse_pair(a, b, out, FuseOptions(ratio=1.0), model=identity_model)
    assert out.read_bytes() == b"previous result"


def test_fuse_pair_errors(png_pair, tmp_path: Path, identity_model) -> None:
    short, long = png_pair
    with pytest.raises(BurstcapError, match="unsupported output format '.webp'"):
        fuse_pair(short, long, tmp_path / "x.webp", model=identity_model)
    with pytest.raises(BurstcapError, match="overwrite an input"):
        fuse_pair(short, long, long, model=identity_model)
    with pytest.raises(BurstcapError, match="holds 16-bit"):
        fuse_pair(short, long, tmp_path / "x.tif", FuseOptions(bits=8), model=identity_model)
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(BurstcapError, match="small.png.*differs"):
        fuse_pair(short, small, tmp_path / "x.png", model=identity_model)
    fake = tmp_path / "fake.NEF"
    fake.write_text("this is not a raw file\n")
    with pytest.raises(IspError, match="fake.NEF"):
        fuse_pair(fake, long, tmp_path / "x.png", model=identity_model)


def test_real_raw_pair_reports_noise_profile(shared_data, tmp_path: Path, identity_model) -> None:
    """A real Kodak DC50 raw (a camera without a profile): generic profile, with a warning."""
    raw = shared_data / "raw" / "valid" / "RAW_KODAK_DC50.KDC"
    result = fuse_pair(raw, raw, tmp_path / "kodak.tif", FuseOptions(ratio=1.0), model=identity_model)
    assert result.profile == "generic"
    assert any("no noise profile for camera" in w for w in result.warnings)
    assert result.alignment.shift_px < 0.1
    fused = read_linear(tmp_path / "kodak.tif").rgb
    developed = read_linear(raw).rgb
    assert fused.shape == developed.shape
    # Identity network: the output is the developed frame, up to 16-bit rounding and the clip at
    # 1/gain that the exposure normalisation implies.
    inside = developed * result.gain < 0.99
    assert np.allclose(fused[inside], np.clip(developed, 0, None)[inside], atol=2e-3)


# ------------------------------------------------------------------------------------ options, CLI


def test_parse_ratio() -> None:
    assert parse_ratio("8") == parse_ratio("1/8") == parse_ratio("0.125") == 8.0
    assert parse_ratio("2.5") == 2.5
    for bad in ("abc", "1/0", "-4", "0"):
        with pytest.raises(BurstcapError):
            parse_ratio(bad)


def test_toml_options(tmp_path: Path) -> None:
    path = tmp_path / "fuse.toml"
    path.write_text('[fuse]\nratio = "1/4"\ntile = 256\ndevice = "cpu"\nalign = false\nthreads = 1\n')
    options = load_options(path)
    assert (options.ratio, options.tile, options.device, options.align) == (4.0, 256, "cpu", False)
    assert options.threads == 1
    path.write_text("[fuse]\ntiles = 3\n")
    with pytest.raises(BurstcapError, match="fuse.toml.*unknown fuse option"):
        load_options(path)
    path.write_text("[fuse]\ntile = 'big'\n")
    with pytest.raises(BurstcapError, match="tile must be an integer"):
        load_options(path)


@pytest.mark.parametrize("line, message", [
    ('colour_match = "no"', "colour_match must be true or false"),
    ("align = 1", "align must be true or false"),
    ("weights = 5", "weights must be a string"),
    ("motion = 3", "motion must be a string"),
    ("ensemble = 2.0", "ensemble must be an integer"),
    ("threads = true", "threads must be an integer"),
    ("ratio = true", "ratio must be a number"),
    ('target_level = "0.8"', "target_level must be a number"),
])
def test_toml_options_wrong_types_name_file_and_key(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "fuse.toml"
    path.write_text(f"[fuse]\n{line}\n")
    with pytest.raises(BurstcapError, match=f"fuse.toml: {message}"):
        load_options(path)
    path.write_text('[fuse]\ncolour_match = false\nensemble = 4\nweights = "w.safetensors"\nratio = 8\n')
    options = load_options(path)
    assert (options.colour_match, options.ensemble, options.weights, options.ratio) == (
        False, 4, Path("w.safetensors"), 8.0)


def test_fuse_options_give_align_options() -> None:
    from burstcap.align import AlignOptions

    assert FuseOptions(motion="translation").align_options() == AlignOptions(motion="translation")
    assert FuseOptions(align=False, motion="translation").align_options() is False


def test_cli_fuses_a_pair(png_pair, tmp_path: Path, weights: Path, capsys) -> None:
    from burstcap.cli import main

    short, long = png_pair
    out = tmp_path / "fused.jpg"
    code = main(["fuse", str(short), str(long), "-o", str(out), "--weights", str(weights),
                 "--device", "cpu", "--tile", "128", "--ratio", "1/8", "--threads", "1"])
    assert code == 0 and out.is_file()
    line = capsys.readouterr().out
    assert "wrote" in line and "ratio 8 (option)" in line and "cpu" in line and "aligned" in line


def test_cli_writes_a_side_by_side_comparison(png_pair, tmp_path: Path, weights: Path) -> None:
    """--comparison: three captioned panels 'short x ratio | long | fused' of equal width; the short
    panel is shown at the long frame's brightness (multiplied by the ratio)."""
    import cv2

    from burstcap.cli import main
    from burstcap.compare import CAPTION_PX

    short, long = png_pair
    sheet = tmp_path / "side.jpg"
    code = main(["fuse", str(short), str(long), "-o", str(tmp_path / "f.png"), "--weights", str(weights),
                 "--device", "cpu", "--tile", "128", "--ratio", "8", "--threads", "1",
                 "--comparison", str(sheet)])
    assert code == 0
    picture = cv2.imread(str(sheet))
    assert picture.shape[1] == 3 * 640 and picture.shape[0] > CAPTION_PX
    panels = [picture[CAPTION_PX:, i * 640:(i + 1) * 640].astype(float) for i in range(3)]
    short_mean, long_mean = panels[0].mean(), panels[1].mean()
    assert abs(short_mean - long_mean) < 0.15 * long_mean  # the ratio brought both to one brightness


@pytest.mark.parametrize("maker", ["truncated", "text"])
def test_cli_bad_files_fail_in_one_line(maker: str, shared_data, tmp_path: Path, capsys) -> None:
    """A truncated real raw and a text file named .NEF: one line naming the file, exit 2, no
    traceback (checked in a real subprocess for SHORT, in-process for LONG)."""
    from burstcap.cli import main

    if maker == "truncated":
        bad = shared_data / "raw" / "truncated" / "exiftool_Nikon.nef"
    else:
        bad = tmp_path / "notes.NEF"
        bad.write_text("not a raw file\n")
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.zeros((32, 32, 3), np.uint8))
    out = tmp_path / "out.png"
    proc = subprocess.run([sys.executable, "-m", "burstcap.cli", "fuse", str(bad), str(good), "-o", str(out)],
                          capture_output=True, text=True)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(lines) == 1 and lines[0].startswith("burstcap: error: ") and str(bad) in lines[0]
    assert main(["fuse", str(good), str(bad), "-o", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0]
    assert not out.exists()


def test_colour_gains_refuse_frames_of_different_sizes() -> None:
    """Frames of two sizes (even of one aspect, which block averaging alone would accept) are an error."""
    from deblurnet.colour import block_gains, colour_blocks, colour_gains, match_colour
    a, b = np.full((64, 96, 3), 0.5, np.float32), np.full((32, 48, 3), 0.5, np.float32)
    for f in (colour_gains, match_colour):
        with pytest.raises(ValueError, match="of one size"):
            f(a, b)
    with pytest.raises(ValueError, match="of one size"):
        block_gains(colour_blocks(np.full((64, 64, 3), 0.5, np.float32), 16), colour_blocks(a, 16))

"""Bad and hostile input (issue 14): each gets one clear line, a non-zero exit and no output file.

NaN pixels, NaN weights, impossible ratios and thread counts, a 1x1 pair, a missing --comparison
folder, a decompression bomb (refused from its header with little memory), a pixel budget for RAW
files too, and results that are not finite (never written, never counted as done).
"""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import torch

from burstcap.cli import main
from burstcap.errors import BurstcapError
from burstcap.fuse import FuseOptions, parse_ratio
from isp.errors import IspError, RawReadError
from isp.io import read_linear, write_image

H, W = 64, 96


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """A small short/long sRGB pair (8-bit PNG)."""
    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur((rng.random((H, W, 3)) * 255).astype(np.uint8), (5, 5), 0)
    short, long = tmp_path / "short.png", tmp_path / "long.png"
    cv2.imwrite(str(short), scene // 4)
    cv2.imwrite(str(long), scene)
    return short, long


def fuse_cli(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str]:
    """``burstcap fuse ARGS`` in this process: (exit code, stderr)."""
    code = main(["fuse", *map(str, args)])
    return code, capsys.readouterr().err


def assert_one_line(code: int, err: str, *expected: str) -> None:
    assert code == 2, err
    assert err.startswith("burstcap: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err


def test_nan_pixels_in_a_float_tiff_are_refused(pair: tuple[Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    linear = np.random.default_rng(1).random((H, W, 3)).astype(np.float32)
    linear[np.random.default_rng(2).random((H, W)) < 0.01] = np.nan  # 1% of the pixels
    nan_tif = tmp_path / "nan.tif"
    tifffile.imwrite(nan_tif, linear, photometric="rgb")
    out = tmp_path / "out.png"
    code, err = fuse_cli(capsys, nan_tif, pair[1], "-o", out, "--ratio", 4)
    assert_one_line(code, err, str(nan_tif), "not finite (NaN or infinity)")
    assert not out.exists()
    huge = tmp_path / "huge.tif"
    tifffile.imwrite(huge, np.full((H, W, 3), 1e30, np.float32), photometric="rgb")
    with pytest.raises(RawReadError, match="outside the linear range"):
        read_linear(huge)


def test_weights_full_of_nan_are_refused_at_load(pair: tuple[Path, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    from deblurnet.checkpoint import save_weights
    from deblurnet.models import create_model

    model = create_model("deblur-merger", preset="compact")
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    weights = save_weights(model, tmp_path / "nan.safetensors")
    out = tmp_path / "out.png"
    code, err = fuse_cli(capsys, *pair, "-o", out, "--ratio", 4, "--weights", weights,
                         "--model", "deblur-merger", "--device", "cpu")
    assert_one_line(code, err, str(weights), "hold NaN or infinity")
    assert not out.exists()


@pytest.mark.parametrize("ratio, expected", [
    ("1e300", "exposure ratio 1e+300 is outside what a camera can produce (1e-05 .. 100000)"),
    ("1/1e300", "exposure ratio 1e+300 is outside"), ("1e6", "exposure ratio 1e+06 is outside"),
    ("inf", "must be positive"), ("nan", "must be positive"), ("0", "must be positive")])
def test_ratios_no_camera_makes_are_refused(ratio: str, expected: str, pair: tuple[Path, Path],
                                            tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out.png"
    code, err = fuse_cli(capsys, *pair, "-o", out, "--ratio", ratio)
    assert_one_line(code, err, expected)
    assert not out.exists()
    assert parse_ratio("1/100000") == pytest.approx(1e5) and parse_ratio("8") == 8


def test_thread_counts_beyond_the_machine_are_refused(pair: tuple[Path, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    toml = tmp_path / "fuse.toml"
    toml.write_text("[fuse]\nthreads = 100000\n")
    out = tmp_path / "out.png"
    code, err = fuse_cli(capsys, *pair, "-o", out, "--config", toml)
    assert_one_line(code, err, str(toml), "threads must be 1..", "got 100000")
    assert not out.exists()
    with pytest.raises(BurstcapError, match="threads"):
        FuseOptions(threads=0).validate()
    assert main(["demo", "--threads", "100000", "--out", str(tmp_path / "demo")]) == 2
    assert "threads must be 1.." in capsys.readouterr().err and not (tmp_path / "demo").exists()
    from deblurnet.cli import main as deblurnet_main

    assert deblurnet_main(["train", "--threads", "100000", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "threads must be 1.." in err


def test_a_1x1_pair_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    short, long, out = tmp_path / "s.png", tmp_path / "l.png", tmp_path / "out.png"
    cv2.imwrite(str(short), np.full((1, 1, 3), 10, np.uint8))
    cv2.imwrite(str(long), np.full((1, 1, 3), 80, np.uint8))
    code, err = fuse_cli(capsys, short, long, "-o", out, "--ratio", 8)
    assert_one_line(code, err, "1x1 pixels is too small to fuse")
    assert not out.exists()


def test_a_comparison_into_a_missing_folder_is_refused_before_the_work(
        pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out.png"
    code, err = fuse_cli(capsys, *pair, "-o", out, "--comparison", tmp_path / "nope" / "side.jpg")
    assert_one_line(code, err, "nope: folder for --comparison does not exist")
    assert not out.exists()


def test_results_that_are_not_finite_or_empty_are_never_written(tmp_path: Path) -> None:
    for bad in (np.full((4, 4, 3), np.nan, np.float32), np.zeros((0, 4, 3), np.float32)):
        for name in ("x.png", "x.jpg", "x.tif"):
            with pytest.raises(IspError, match="nothing written"):
                write_image(tmp_path / name, bad)
    assert list(tmp_path.iterdir()) == []


def test_a_nan_result_is_not_counted_as_done(tmp_path: Path) -> None:
    """A network that outputs NaN (diverged weights, in memory): the pair fails with the reason,
    nothing is written, and a rerun tries it again instead of calling it done."""
    from burstcap.process import Pair, ProcessOptions, process_pairs
    from deblurnet.models import create_model

    rng = np.random.default_rng(3)
    scene = cv2.GaussianBlur((rng.random((H, W, 3)) * 255).astype(np.uint8), (5, 5), 0)
    cv2.imwrite(str(tmp_path / "a.png"), scene // 4)
    cv2.imwrite(str(tmp_path / "b.png"), scene)
    model = create_model("deblur-merger", preset="compact").eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("nan"))
    pairs = [Pair(tmp_path, tmp_path / "a.png", tmp_path / "b.png", 4.0, "test")]
    options = ProcessOptions(fuse=FuseOptions(device="cpu"), output_ext=".png", contact_sheet=False)
    for _ in range(2):
        report = process_pairs(pairs, tmp_path, tmp_path / "out", options, model=model,
                               progress_bar=False)
        assert [o.status for o in report.outcomes] == ["failed"]
        assert "not finite" in report.outcomes[0].error and "nothing written" in report.outcomes[0].error
        assert not report.outcomes[0].out_path.exists()


# -- the pixel budget --------------------------------------------------------------------------------

def png_bomb(path: Path, side: int = 20000) -> Path:
    """A real, valid grey PNG of ``side`` x ``side`` black pixels: about 0.4 MB on disk that
    decodes to side^2 bytes (and 12 side^2 as float RGB). Written a row block at a time."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\0" * (side + 1)  # filter byte + pixels
    data = b"".join(packer.compress(row * 1000) for _ in range(side // 1000)) + packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


#: Reads a file in a fresh process and prints the error and the process's peak resident memory
#: (VmHWM: ru_maxrss would carry over the pytest process's peak through fork + exec).
PEAK_SCRIPT = """
import sys
from isp.io import read_linear
from isp.errors import RawReadError
try:
    read_linear(sys.argv[1])
    print("decoded")
except RawReadError as exc:
    print(exc)
status = open("/proc/self/status").read()
print(int(status.split("VmHWM:")[1].split()[0]) // 1024)  # MB
"""


def test_a_decompression_bomb_is_refused_from_its_header_with_little_memory(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc/self/status (Linux)")
    bomb = png_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 1.5e6
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(PEAK_SCRIPT), str(bomb)],
                          capture_output=True, text=True, check=True)
    message, peak_mb = done.stdout.splitlines()
    assert "declares 20000x20000 pixels (400 MP), over the pixel budget of 200 MP" in message
    assert int(peak_mb) < 200, f"peak memory {peak_mb} MB"
    code, err = fuse_cli(capsys, bomb, bomb, "-o", tmp_path / "out.png")
    assert_one_line(code, err, str(bomb), "pixel budget")
    # the same from a JPEG header (its frame header patched to 20000x20000)
    ok, jpeg = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
    data = bytearray(jpeg.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 20000, 20000)
    (tmp_path / "bomb.jpg").write_bytes(bytes(data))
    with pytest.raises(RawReadError, match="declares 20000x20000 pixels"):
        read_linear(tmp_path / "bomb.jpg")


def test_the_pixel_budget_applies_to_raw_files_and_can_be_raised(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from isp.unprocess import UnprocessParams, unprocess, write_unprocessed_dng

    params = UnprocessParams()
    srgb = np.random.default_rng(4).random((64, 64, 3)).astype(np.float32)
    dng = write_unprocessed_dng(tmp_path / "small.dng", unprocess(srgb, params), params)
    monkeypatch.setenv("BURSTCAP_MAX_PIXELS", "1000")
    with pytest.raises(RawReadError, match=r"declares \d+x\d+ pixels .* budget of 0 MP"):
        read_linear(dng)
    monkeypatch.setenv("BURSTCAP_MAX_PIXELS", "1e6")
    assert read_linear(dng).rgb.shape == (64, 64, 3)
    monkeypatch.setenv("BURSTCAP_MAX_PIXELS", "lots")
    with pytest.raises(IspError, match="BURSTCAP_MAX_PIXELS"):
        read_linear(dng)


def test_synth_frames_all_in_a_training_toml_is_one_line(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    from deblurnet.cli import main as deblurnet_main

    toml = tmp_path / "train.toml"
    toml.write_text(f'model = "deblur-merger"\ndata = "synth"\nout = "{tmp_path / "run"}"\n'
                    'steps = 1\n\n[synth]\nframes = "all"\n')
    code = deblurnet_main(["train", "--config", str(toml)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "frames must be tuple[int, int] | None, not 'all'" in err

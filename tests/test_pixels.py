"""Pixel-level checks of every door: ``burstcap fuse``, ``burstcap process`` (session sidecar),
``burstcap shoot`` (libgphoto2's virtual camera), the ``Pipeline`` API and the HTTP service.

Each door gets a pair whose answer is known (tests/standins.py: a DNG or PNG pair with a known
exposure ratio and a known shift of the long frame) and a stand-in network:

- ``standin-short`` returns its short input: the output must have the long frame's brightness, which
  only holds when the door used the right exposure ratio (the colour match before the network would
  absorb at most a factor of two);
- ``standin-long`` returns its long input: the output must line up with the short frame within a pixel
  (the long frame sits 3 px down and 5 px left), which only holds when alignment really warps.

The stand-ins are registered as ``deblurnet.models`` entry points (a ``.dist-info`` on the path, as
``pip install`` of a plugin would write), so every door loads them by name like any model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from burstcap.camera.scripted import CameraScript, ScriptedBackend
from burstcap.cli import main as burstcap_main
from isp.color import srgb_decode
from isp.io import read_linear
from standins import (LongNet, ShortNet, interior, known_pair, plugin_env, plugin_site,
                      prepare_virtual_camera, psnr, read_report, shift_between, write_dng_pair,
                      write_png_pair)

pytestmark = pytest.mark.timeout(180)

PAIR = known_pair()
#: the output of a short-returning network, over the long frame, in mean brightness
BRIGHTNESS_TOL = 0.06
#: the output of a long-returning network against the short frame, px per axis
ALIGN_TOL_PX = 1.0
#: PSNR (dB) of a result against what it must show: a DNG goes through demosaicing and white balance
MIN_PSNR = {"dng": 23.0, "png": 33.0}


@pytest.fixture
def standins(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The stand-in networks registered as plugins for this process; torch threads restored after
    (the commands set their own)."""
    site = plugin_site(tmp_path_factory.mktemp("plugins"))
    monkeypatch.syspath_prepend(str(site))
    threads = torch.get_num_threads()
    yield site
    torch.set_num_threads(threads)


def check_brightness(out: np.ndarray, long: np.ndarray, bright_short: np.ndarray | None = None,
                     min_psnr: float = 30.0) -> None:
    """``out`` (a short-returning network's result) has ``long``'s brightness, per channel; and,
    when given, is the short frame's own picture (``bright_short``: its scene at that brightness)."""
    ratio = interior(out).mean(axis=(0, 1)) / interior(long).mean(axis=(0, 1))
    assert np.all(np.abs(ratio - 1) < BRIGHTNESS_TOL), f"output / long frame brightness {ratio}"
    if bright_short is not None:
        assert psnr(interior(out), interior(bright_short)) > min_psnr


def check_lines_up(out: np.ndarray, short_scene: np.ndarray, aligned_long: np.ndarray | None = None,
                   min_psnr: float = 30.0) -> None:
    """``out`` (a long-returning network's result) lines up with the short frame within a pixel and,
    when given, is the long frame's own picture warped onto it."""
    dy, dx = shift_between(out, short_scene)
    assert abs(dy) < ALIGN_TOL_PX and abs(dx) < ALIGN_TOL_PX, (
        f"output is ({dy:.2f}, {dx:.2f}) px off the short frame; the long frame was {PAIR.shift} px off")
    if aligned_long is not None:
        assert psnr(interior(out), interior(aligned_long)) > min_psnr


def fuse_command(*args: str) -> None:
    assert burstcap_main(["fuse", *args, "--device", "cpu", "--threads", "1"]) == 0


def fuse_known_pair(kind: str, model: str, tmp_path: Path) -> tuple[np.ndarray, Path, dict]:
    """The known pair as ``kind`` files through ``burstcap fuse`` with ``model``: (output, long file, report)."""
    short, long = (write_dng_pair if kind == "dng" else write_png_pair)(tmp_path, PAIR)
    out = tmp_path / "out.tif"
    fuse_command(str(short), str(long), "-o", str(out), "--model", model)
    return read_linear(out).rgb, long, read_report(out)


# ------------------------------------------------------------------------------------ burstcap fuse


@pytest.mark.parametrize("kind", ["dng", "png"])
def test_fuse_command_short_network_gives_the_long_frames_brightness(kind: str, standins: Path,
                                                                    tmp_path: Path) -> None:
    fused, long, report = fuse_known_pair(kind, "standin-short", tmp_path)
    assert report["ratio"] == pytest.approx(PAIR.ratio, rel=0.01) and report["ratio_source"] == "metadata"
    check_brightness(fused, read_linear(long).rgb, PAIR.bright_short, min_psnr=MIN_PSNR[kind])


@pytest.mark.parametrize("kind", ["dng", "png"])
def test_fuse_command_long_network_lines_up_with_the_short_frame(kind: str, standins: Path,
                                                                 tmp_path: Path) -> None:
    fused, _, report = fuse_known_pair(kind, "standin-long", tmp_path)
    assert report["alignment"]["shift_px"] == pytest.approx(np.hypot(*PAIR.shift), abs=0.5)
    assert report["ghost_guard"]["short_share"] < 0.02  # the aligned long frame is what the net saw
    check_lines_up(fused, PAIR.bright_short, PAIR.aligned_long, min_psnr=MIN_PSNR[kind])


def test_ensemble_changes_the_output(standins: Path, tmp_path: Path) -> None:
    """``--ensemble 8`` averages the network over flips and turns: a network that adds a left-to-right
    ramp to its input gives a ramped picture alone and (nearly) none in an ensemble of 8."""
    short, long = write_png_pair(tmp_path, PAIR)
    outs = {}
    for name, model, extra in (("plain", "standin-short", []), ("ramp1", "standin-ramp", []),
                               ("ramp8", "standin-ramp", ["--ensemble", "8"])):
        fuse_command(str(short), str(long), "-o", str(tmp_path / f"{name}.png"), "--model", model,
                     "--bits", "16", "--no-colour-match", *extra)
        outs[name] = cv2.imread(str(tmp_path / f"{name}.png"), cv2.IMREAD_UNCHANGED) / 65535.0

    def ramp(image: np.ndarray) -> float:  # right quarter minus left quarter, sRGB units
        diff = image - outs["plain"]
        w = diff.shape[1]
        return float(diff[:, 3 * w // 4:].mean() - diff[:, :w // 4].mean())

    assert ramp(outs["ramp1"]) > 0.08, ramp(outs["ramp1"])  # 0.2 * (7/8 - 1/8) minus clipping
    assert abs(ramp(outs["ramp8"])) < 0.01, ramp(outs["ramp8"])
    assert psnr(outs["ramp8"], outs["plain"]) > 35.0


# ------------------------------------------------------------------------- sessions (scripted camera)


def dng_session_script(tmp_path: Path) -> CameraScript:
    """A scripted camera whose two captures are the known pair as DNGs. Asked for 1/8 at 1/15 s, it
    takes 1/125 and 1/15 s (its nearest shutter) at one ISO (it has no ISO setting, so the short
    frame is not brightened), so the pair is written at that ratio (125/15)."""
    from burstcap.camera.scripted import default_widgets

    pair = known_pair(ratio=125 / 15)
    short, long = write_dng_pair(tmp_path, pair)
    widgets = {name: w for name, w in default_widgets().items() if name != "iso"}
    return CameraScript(widgets=widgets, captures=[[("IMG_0001.DNG", short.read_bytes())],
                                  [("IMG_0002.DNG", long.read_bytes())]])


def shoot_session(tmp_path: Path, root: Path):
    from burstcap.shoot import ShootRequest, shoot_pair

    with ScriptedBackend(script=dng_session_script(tmp_path)) as camera:
        return shoot_pair(camera, ShootRequest(ratio=1 / 8, long_exposure_s=1 / 15), root)


@pytest.mark.parametrize("model", ["standin-short", "standin-long"])
def test_process_command_on_a_session_folder(model: str, standins: Path, tmp_path: Path) -> None:
    """``burstcap process`` pairs the session by its sidecar and fuses it with the sidecar's ratio
    (the camera's read-back shutter times), not 1 nor the requested 8."""
    session = shoot_session(tmp_path, tmp_path / "sessions")
    assert session.effective_ratio == pytest.approx(15 / 125)
    out_dir = tmp_path / "out"
    assert burstcap_main(["process", str(tmp_path / "sessions"), "-r", "--out", str(out_dir),
                          "--model", model, "--device", "cpu", "--quiet"]) == 0
    (out,) = out_dir.rglob("*_fused.tif")
    report = read_report(out)
    assert report["ratio_source"] == "sidecar" and report["ratio"] == pytest.approx(125 / 15, rel=1e-3)
    fused, long = read_linear(out).rgb, read_linear(session.long).rgb
    pair = known_pair(ratio=125 / 15)
    if model == "standin-short":
        check_brightness(fused, long, pair.bright_short, MIN_PSNR["dng"])
    else:
        check_lines_up(fused, pair.bright_short, pair.aligned_long, MIN_PSNR["dng"])


@pytest.mark.parametrize("model", ["standin-short", "standin-long"])
def test_pipeline_api(model: str, standins: Path, tmp_path: Path) -> None:
    from burstcap.fuse import FuseOptions
    from burstcap.pipeline import Pipeline, PipelineConfig
    from burstcap.process import ProcessOptions
    from burstcap.shoot import ShootRequest

    config = PipelineConfig(out_root=tmp_path / "sessions", process=ProcessOptions(
        fuse=FuseOptions(model=model, device="cpu", threads=1), contact_sheet=False))
    pipeline = Pipeline(config, backend=ScriptedBackend(script=dng_session_script(tmp_path)))
    (result,) = pipeline.run(ShootRequest(ratio=1 / 8, long_exposure_s=1 / 15))
    fused, long = read_linear(result.fused).rgb, read_linear(result.session.long).rgb
    report = read_report(result.fused)
    assert report["ratio_source"] == "sidecar" and report["ratio"] == pytest.approx(125 / 15, rel=1e-3)
    pair = known_pair(ratio=125 / 15)
    if model == "standin-short":
        check_brightness(fused, long, pair.bright_short, MIN_PSNR["dng"])
    else:
        check_lines_up(fused, pair.bright_short, pair.aligned_long, MIN_PSNR["dng"])


# --------------------------------------------------------------------- the virtual camera: shoot


SHOOT = """
import sys
from burstcap.cli import main
for model in ("standin-short", "standin-long"):
    code = main(["shoot", "--backend", "vcam-exposing", "--ratio", "1/8", "--long", "1/15",
                 "--model", model, "--device", "cpu", "--out", "shots-" + model])
    if code:
        sys.exit(code)
"""


@pytest.mark.camera
def test_shoot_command_on_the_virtual_camera(standins: Path, tmp_path: Path) -> None:
    """``burstcap shoot`` through libgphoto2's virtual camera (real PTP path), whose two captures show
    the known pair at their exposure times' brightness; fused with each stand-in."""
    pytest.importorskip("gphoto2")
    env = plugin_env(standins, **prepare_virtual_camera(tmp_path, PAIR))
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(SHOOT)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=150)
    assert run.returncode == 0, run.stderr
    for model in ("standin-short", "standin-long"):
        (session,) = (tmp_path / f"shots-{model}").iterdir()
        side = json.loads((session / "session.json").read_text())
        ratio = side["long"]["read_back"]["exposure_s"] / side["short"]["read_back"]["exposure_s"]
        assert ratio > 4  # the virtual camera's nearest shutters to 1/8 at 1/15 s
        fused = read_linear(session / "fused.tif").rgb
        long = read_linear(next(session.glob("long_*"))).rgb
        short = read_linear(next(session.glob("short_*"))).rgb
        assert read_report(session / "fused.tif")["ratio"] == pytest.approx(ratio, rel=1e-3)
        assert short.mean() < long.mean() / 4  # two different frames came off the camera
        if model == "standin-short":
            check_brightness(fused, long)
        else:
            check_lines_up(fused, short * np.float32(ratio))


# ------------------------------------------------------------------ the virtual camera: the service


@pytest.mark.camera
def test_service_fuses_a_real_pair(standins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTTP service shoots two pairs on the virtual camera (two different frames each: short and
    long) and fuses them with the real fusion step: the first with ``standin-short``, the second with
    ``standin-long``; the results fetched over HTTP are checked pixel by pixel."""
    gphoto2 = pytest.importorskip("gphoto2")

    from burstcap.fuse import FuseOptions
    from burstcap.service.steps import fuse_step, shoot_pairs
    from deblurnet.inference import prepare_model
    from standins import ExposingVirtualCamera
    from test_service import running_service

    for key, value in prepare_virtual_camera(tmp_path, PAIR).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("IOLIBS", str(Path(gphoto2.__file__).parent / "libgphoto2" / "vusb"))
    options = FuseOptions(device="cpu", threads=1)
    steps = {"fused_00": fuse_step(options, "png", prepare_model(ShortNet(), "cpu", 1)),
             "fused_01": fuse_step(options, "png", prepare_model(LongNet(), "cpu", 1))}

    def process(pair, ratio, out_path, progress):
        return steps[out_path.stem](pair, ratio, out_path, progress)

    with running_service(tmp_path / "out", capture=shoot_pairs, process=process,
                         open_camera=ExposingVirtualCamera) as svc, svc.client() as client:
        job = client.post("/api/shoot", json={"ratio": 8, "count": 2}).raise_for_status().json()
        done = svc.wait(job["id"], timeout_s=60)
        assert done["state"] == "done", done["error"]
        results = []
        for pair in done["pairs"]:
            response = client.get(pair["result_url"])
            assert response.status_code == 200
            encoded = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
            results.append(srgb_decode(cv2.cvtColor(encoded, cv2.COLOR_BGR2RGB).astype(np.float32) / 255))
    sessions = sorted(p.parent for p in (svc.out_dir / "jobs" / job["id"]).glob("*/session.json"))
    assert len(sessions) == 2 and len(results) == 2
    frames = [(read_linear(next(s.glob("short_*"))).rgb, read_linear(next(s.glob("long_*"))).rgb)
              for s in sessions]
    assert all(short.mean() < long.mean() / 4 for short, long in frames)  # a real pair, not one JPEG twice
    check_brightness(results[0], frames[0][1])
    side = json.loads((sessions[1] / "session.json").read_text())
    ratio = side["long"]["read_back"]["exposure_s"] / side["short"]["read_back"]["exposure_s"]
    check_lines_up(results[1], frames[1][0] * np.float32(ratio))
    # the fusion step takes the ratio from the shot's sidecar (the camera's read-back settings), as
    # burstcap process does, not from the JPEGs' metadata
    reports = sorted((svc.out_dir / "jobs" / job["id"]).rglob("fused_*.png.json"))
    assert len(reports) == 2
    for path in reports:
        report = json.loads(path.read_text())
        assert report["ratio_source"] == "sidecar" and report["ratio"] == pytest.approx(ratio, rel=1e-3)

"""The plugin surface: the Pipeline API with progress callbacks, and a third-party package that adds
a camera backend and a fusion model through entry points without touching this repository.

The third-party package is made discoverable the way an installed package is: a ``.dist-info``
folder with ``entry_points.txt`` on ``sys.path`` (what ``pip install`` writes and what
``importlib.metadata`` reads), in a subprocess so it never leaks into other tests. Its camera is the
scripted backend (a fake at the camera boundary) serving project-written DNGs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from burstcap.camera.scripted import CameraScript, ScriptedBackend
from burstcap.fuse import FuseOptions
from burstcap.pipeline import Pipeline, PipelineConfig
from burstcap.process import ProcessOptions
from burstcap.shoot import ShootEvent, ShootRequest
from deblurnet.checkpoint import save_weights
from deblurnet.models import create_model
from isp.dng import write_dng
from isp.metadata import CaptureMetadata

pytestmark = pytest.mark.timeout(120)


def dng_bytes(tmp: Path, name: str, level: float, exposure_s: float) -> bytes:
    """A 48x64 RGGB DNG of a textured scene (the same scene at every level)."""
    rng = np.random.default_rng(7)
    scene = cv2.resize(rng.uniform(0.2, 1.0, (6, 8)), (64, 48), interpolation=cv2.INTER_CUBIC)
    adu = (512 + scene * level * (16383 - 512)).astype(np.uint16)
    meta = CaptureMetadata(make="Plug", model="Cam", exposure_time_s=exposure_s, iso=100.0,
                           timestamp=datetime(2026, 5, 1, 12))
    return write_dng(tmp / name, adu, "RGGB", 512, 16383, metadata=meta).read_bytes()


def test_pipeline_shoots_and_fuses_with_progress(tmp_path: Path) -> None:
    torch.manual_seed(0)
    weights = save_weights(create_model("deblur-rnn", "compact", widths=(4, 8), disc_widths=(4, 8)),
                           tmp_path / "w.safetensors")
    script = CameraScript(captures=[[("IMG_1.DNG", dng_bytes(tmp_path, "s.dng", 0.06, 1 / 125))],
                                    [("IMG_2.DNG", dng_bytes(tmp_path, "l.dng", 0.5, 1 / 15))]])
    seen: list[ShootEvent] = []
    config = PipelineConfig(out_root=tmp_path / "sessions",
                            process=ProcessOptions(fuse=FuseOptions(weights=weights, device="cpu")))
    pipeline = Pipeline(config, progress=seen.append, backend=ScriptedBackend(script=script))
    (result,) = pipeline.run(ShootRequest(ratio=1 / 8, long_exposure_s=1 / 15, iso_long=100))
    assert result.fused == result.session.folder / "fused.tif"
    assert cv2.imread(str(result.fused), cv2.IMREAD_UNCHANGED).shape == (48, 64, 3)
    stages = [p.stage for p in seen]
    assert stages[0] == "shoot:plan" and "shoot:capture-short" in stages and stages[-1] == "fuse"
    shoot_fractions = [p.fraction for p in seen if p.stage.startswith("shoot:")]
    assert shoot_fractions == sorted(shoot_fractions) and shoot_fractions[-1] == 1.0


PLUGIN = '''
"""A third-party camera and model for burstcap (test fixture)."""
from pathlib import Path

from burstcap.camera.scripted import CameraScript, ScriptedBackend
from deblurnet.models import create_model

HERE = Path(__file__).parent


class PlugCamera(ScriptedBackend):
    name = "plugcam"

    def __init__(self, camera=None, port=None):
        frames = [[("PLG_0001.DNG", (HERE / "short.dng").read_bytes())],
                  [("PLG_0002.DNG", (HERE / "long.dng").read_bytes())]]
        super().__init__(camera, port, CameraScript(model="Plug Camera", port="plug:0", captures=frames))


def tiny_model(preset="compact"):
    return create_model("deblur-rnn", preset, widths=(4, 8), disc_widths=(4, 8))
'''


def test_third_party_backend_and_model_are_discovered(tmp_path: Path) -> None:
    site = tmp_path / "site"
    package = site / "burstcap_plug"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN)
    (package / "short.dng").write_bytes(dng_bytes(tmp_path, "s.dng", 0.06, 1 / 125))
    (package / "long.dng").write_bytes(dng_bytes(tmp_path, "l.dng", 0.5, 1 / 15))
    info = site / "burstcap_plug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: burstcap-plug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [burstcap.backends]
        plugcam = burstcap_plug:PlugCamera

        [deblurnet.models]
        plug-tiny = burstcap_plug:tiny_model
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}

    def burstcap(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "burstcap.cli", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=100)

    result = burstcap("shoot", "--backend", "plugcam", "--ratio", "1/8", "--long", "1/15", "--iso-long",
                      "100", "--model", "plug-tiny", "--device", "cpu", "--out", "shots")
    assert result.returncode == 0, result.stderr
    (session,) = (tmp_path / "shots").iterdir()
    assert (session / "fused.tif").exists() and (session / "short_PLG_0001.DNG").exists()
    side = json.loads((session / "session.json").read_text())
    assert side["camera"] == {"model": "Plug Camera", "port": "plug:0", "backend": "plugcam",
                              "battery": "100%"}
    unknown = burstcap("shoot", "--backend", "nosuch")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == ("burstcap: error: unknown camera backend 'nosuch' (installed: "
                                      "gphoto2, plugcam; entry-point group 'burstcap.backends')")

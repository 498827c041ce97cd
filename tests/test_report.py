"""The report per shot (burstcap.report): the JSON beside every output of `fuse`, `shoot` (Pipeline),
`serve` (the fusion step) and `process` (tests/test_pairing_rules.py and test_process.py check its
summary); `fuse --confidence` and `--no-ghost-guard`. Networks are untrained stand-ins: the tests are
about what is reported, not the weights."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from burstcap.camera.scripted import CameraScript, ScriptedBackend
from burstcap.cli import main
from burstcap.fuse import FuseOptions, write_output
from burstcap.pipeline import Pipeline, PipelineConfig
from burstcap.process import ProcessOptions, sidecar_ratio
from burstcap.report import REPORT_VERSION, report_path
from burstcap.shoot import ShootRequest
from conftest import settled
from deblurnet.checkpoint import save_weights
from isp.color import srgb_decode
from isp.metadata import CaptureMetadata
from skimage import data
from test_plugin import dng_bytes
from test_service import running_service, virtual_camera  # noqa: F401

KEYS = {"burstcap_report", "output", "inputs", "size", "ratio", "ratio_source", "alignment",
        "exposure_gain", "ghost_guard", "noise_profile", "model", "device", "seconds", "warnings"}


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return save_weights(settled(gain=0.0), tmp_path_factory.mktemp("w") / "standin.safetensors")


def png_pair(folder: Path) -> tuple[Path, Path]:
    """short.png (1/400 s, dark, noisy) and long.png (1/50 s, blurred), 96x64 with EXIF."""
    sharp = srgb_decode(cv2.resize(data.astronaut().astype(np.float32) / 255.0, (96, 64)))
    rng = np.random.default_rng(0)
    when = datetime(2025, 5, 4, 10, 11, 12)
    short, long = folder / "short.png", folder / "long.png"
    write_output(short, sharp / 8 + rng.normal(0, 0.003, sharp.shape).astype(np.float32),
                 CaptureMetadata("Nikon", "D850", 1 / 400, 800, 4.0, when), 16)
    write_output(long, cv2.blur(sharp, (5, 1)), CaptureMetadata("Nikon", "D850", 1 / 50, 800, 4.0, when), 16)
    return short, long


def test_fuse_writes_the_report_and_the_confidence_map(tmp_path: Path, weights: Path, capsys) -> None:
    short, long = png_pair(tmp_path)
    out, confidence = tmp_path / "fused.png", tmp_path / "guard.png"
    assert main(["fuse", str(short), str(long), "-o", str(out), "--weights", str(weights), "--device", "cpu",
                 "--threads", "1", "--confidence", str(confidence)]) == 0
    printed = capsys.readouterr().out
    assert "ghost guard took" in printed and "on cpu" in printed and str(report_path(out)) in printed
    report = json.loads(report_path(out).read_text())
    assert set(report) == KEYS and report["burstcap_report"] == REPORT_VERSION
    assert report["output"] == "fused.png" and report["inputs"] == {"short": str(short), "long": str(long)}
    assert report["size"] == [96, 64] and report["ratio"] == pytest.approx(8) and report["ratio_source"] == "metadata"
    assert set(report["alignment"]) == {"method", "shift_px", "correlation", "residual"}
    assert report["ghost_guard"]["enabled"] and 0 <= report["ghost_guard"]["short_share"] <= 1
    assert report["device"].startswith("cpu") and report["noise_profile"] is None  # sRGB input
    assert report["seconds"]["total"] >= report["seconds"]["network"] > 0
    grey = cv2.imread(str(confidence), cv2.IMREAD_UNCHANGED)
    assert grey.shape == (64, 96) and grey.dtype == np.uint8

    assert main(["fuse", str(short), str(long), "-o", str(out), "--weights", str(weights), "--device", "cpu",
                 "--no-ghost-guard"]) == 0
    assert json.loads(report_path(out).read_text())["ghost_guard"] == {"enabled": False, "short_share": 0.0}
    assert "ghost guard off" in capsys.readouterr().out
    assert main(["fuse", str(short), str(long), "-o", str(out), "--weights", str(weights), "--device", "cpu",
                 "--no-ghost-guard", "--confidence", str(confidence)]) == 2
    assert "needs the ghost guard" in capsys.readouterr().err


def test_shoot_reports_beside_the_session_output(tmp_path: Path, weights: Path) -> None:
    """`burstcap shoot` (the Pipeline): fused.tif in the session folder, fused.tif.json beside it,
    the ratio (brightness: exposure time x ISO) from the session's sidecar."""
    script = CameraScript(captures=[[("IMG_1.DNG", dng_bytes(tmp_path, "s.dng", 0.06, 1 / 120))],
                                    [("IMG_2.DNG", dng_bytes(tmp_path, "l.dng", 0.5, 1 / 15))]])
    config = PipelineConfig(out_root=tmp_path / "sessions",
                            process=ProcessOptions(fuse=FuseOptions(weights=weights, device="cpu"),
                                                   contact_sheet=False))
    (result,) = Pipeline(config, backend=ScriptedBackend(script=script)).run(
        ShootRequest(ratio=1 / 8, long_exposure_s=1 / 15, iso_long=100))
    report = json.loads(report_path(result.fused).read_text())
    assert set(report) == KEYS and report["output"] == "fused.tif"
    assert Path(report["inputs"]["short"]) == result.session.short
    side = json.loads((result.session.folder / "session.json").read_text())
    assert report["ratio_source"] == "sidecar" and report["ratio"] == pytest.approx(sidecar_ratio(side), rel=1e-3)
    assert report["device"].startswith("cpu") and report["model"] == "deblur-rnn"


def test_serve_shows_each_result_with_its_report(tmp_path: Path, virtual_camera: Path) -> None:  # noqa: F811
    """The service's fusion step writes the report beside the result and the job API carries it
    under each pair (the phone page shows its key figures)."""
    with running_service(tmp_path / "out") as svc, svc.client() as client:
        job = svc.wait(client.post("/api/shoot", json={"ratio": 8}).json()["id"])
    assert job["state"] == "done", job
    (pair,) = job["pairs"]
    report = pair["report"]
    assert set(report) == KEYS and Path(report["inputs"]["short"]).is_file()
    assert report["output"] == "fused_00.jpg" and report["device"].startswith("cpu")
    result = next((tmp_path / "out" / "jobs" / job["id"]).glob("fused_00.*"))
    assert json.loads(report_path(result).read_text()) == report

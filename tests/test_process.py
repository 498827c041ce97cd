"""``burstcap process`` on project-written DNG pairs (isp.dng.write_dng) mixed with junk and the real
truncated raw files of ../shared/data: pairing with reasons, outputs, resume, shards, failures.

The fusion model is an untrained, very narrow DeblurRNN saved as weights (so the tests stay fast).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from burstcap.process import (CONTACT_SHEET, PairingOptions, ProcessOptions, find_pairs,
                              output_path, process_folder)
from deblurnet.checkpoint import save_weights
from deblurnet.models import create_model
from isp.dng import write_dng
from isp.metadata import CaptureMetadata

pytestmark = pytest.mark.timeout(120)
T0 = datetime(2026, 5, 1, 12, 0, 0)
BLACK, WHITE = 512, 16383


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = create_model("deblur-rnn", "compact", widths=(4, 8), disc_widths=(4, 8))
    return save_weights(model, tmp_path_factory.mktemp("weights") / "tiny.safetensors")


def write_frame(path: Path, level: float, exposure_s: float, when: datetime, model: str = "TestCam",
                seed: int = 0) -> Path:
    """A 48x64 RGGB DNG of a textured scene at ``level`` of the white level, with EXIF."""
    rng = np.random.default_rng(seed)
    scene = cv2.resize(rng.uniform(0.2, 1.0, (6, 8)), (64, 48), interpolation=cv2.INTER_CUBIC)
    noisy = scene * level + rng.normal(0, 0.002, scene.shape)
    adu = np.clip(BLACK + noisy * (WHITE - BLACK), 0, WHITE).astype(np.uint16)
    meta = CaptureMetadata(make="Burstcap", model=model, exposure_time_s=exposure_s, iso=100.0,
                           f_number=4.0, timestamp=when)
    return write_dng(path, adu, "RGGB", BLACK, WHITE, metadata=meta)


def write_pair(folder: Path, stem: str, when: datetime, seed: int) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    short = write_frame(folder / f"{stem}a.dng", 0.5 / 8, 1 / 120, when, seed=seed)
    long = write_frame(folder / f"{stem}b.dng", 0.5, 1 / 15, when + timedelta(seconds=1), seed=seed)
    return short, long


@pytest.fixture
def shots(tmp_path: Path, shared_data: Path) -> Path:
    """Two good pairs, a lone frame, a too-similar pair, a JPEG companion, junk and truncated raws."""
    root = tmp_path / "card"
    write_pair(root, "IMG_01", T0, seed=1)
    write_pair(root, "IMG_02", T0 + timedelta(minutes=1), seed=2)
    write_frame(root / "IMG_03.dng", 0.5, 1 / 15, T0 + timedelta(minutes=2))  # nothing near it
    write_frame(root / "IMG_04.dng", 0.5, 1 / 15, T0 + timedelta(minutes=3))  # same exposure
    write_frame(root / "IMG_05.dng", 0.4, 1 / 20, T0 + timedelta(minutes=3, seconds=2))
    cv2.imwrite(str(root / "IMG_01a.jpg"), np.zeros((8, 8, 3), np.uint8))  # companion of IMG_01a.dng
    (root / "notes.txt").write_text("not an image")
    (root / "junk.dng").write_bytes(b"\x00garbage" * 64)
    for name in ("exiftool_Nikon.nef", "filetype_sony-zv-e10.arw", "exiftool_CanonRaw.cr3"):
        shutil.copy(shared_data / "raw" / "truncated" / name, root / name)
    return root


def test_pairs_and_every_skip_explained(shots: Path) -> None:
    found = find_pairs(shots)
    assert [(p.short.name, p.long.name) for p in found.pairs] == [
        ("IMG_01a.dng", "IMG_01b.dng"), ("IMG_02a.dng", "IMG_02b.dng")]
    assert "exposure ratio 8" in found.pairs[0].reason
    reasons = {s.path.name: s.reason for s in found.skipped}
    assert set(reasons) == {"IMG_03.dng", "IMG_04.dng", "IMG_05.dng", "IMG_01a.jpg", "notes.txt", "junk.dng",
                            "exiftool_Nikon.nef", "filetype_sony-zv-e10.arw", "exiftool_CanonRaw.cr3"}
    assert "60 s later" in reasons["IMG_03.dng"]
    assert "exposure ratio 1.33 with IMG_05.dng is below 2" in reasons["IMG_04.dng"]
    assert reasons["IMG_05.dng"] == "no later capture to pair with"
    assert "companion of RAW IMG_01a.dng" in reasons["IMG_01a.jpg"]
    assert reasons["notes.txt"] == "not an image file"
    assert "no capture time" in reasons["junk.dng"]
    for truncated in ("exiftool_Nikon.nef", "filetype_sony-zv-e10.arw", "exiftool_CanonRaw.cr3"):
        assert reasons[truncated]  # each is explained (metadata-only files never pair here)


def burstcap(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "burstcap.cli", *args], capture_output=True, text=True,
                          timeout=100)


def test_cli_fuses_pairs_then_second_run_does_no_work(shots: Path, weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "fused"
    before = {p: p.read_bytes() for p in shots.iterdir()}
    first = burstcap("process", str(shots), "--out", str(out), "--weights", str(weights), "--device", "cpu")
    assert first.returncode == 0, first.stderr
    assert "pair  IMG_01a.dng + IMG_01b.dng" in first.stdout
    assert "skip  junk.dng: no capture time" in first.stdout
    assert "2 fused, 0 already done, 0 failed, 9 files skipped" in first.stdout
    fused = sorted(p.name for p in out.iterdir())
    assert fused == [".thumbs", "IMG_01a_fused.tif", "IMG_01a_fused.tif.json", "IMG_02a_fused.tif",
                     "IMG_02a_fused.tif.json", CONTACT_SHEET, "process-summary.json"]
    image = cv2.imread(str(out / "IMG_01a_fused.tif"), cv2.IMREAD_UNCHANGED)
    assert image.shape == (48, 64, 3) and image.dtype == np.uint16
    sheet = cv2.imread(str(out / CONTACT_SHEET))
    assert sheet.shape[0] == 2 * (160 + 22) and sheet.shape[1] == 3 * round(64 * 160 / 48)
    assert {p: p.read_bytes() for p in shots.iterdir()} == before  # inputs untouched
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != "process-summary.json"}
    second = burstcap("process", str(shots), "--out", str(out), "--weights", str(weights), "--quiet")
    assert second.returncode == 0, second.stderr
    assert "0 fused, 2 already done, 0 failed" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != "process-summary.json"} == mtimes
    summary = json.loads((out / "process-summary.json").read_text())  # this run's: both done, reported
    assert summary["done"] == 2 and all(p["report"]["output"] for p in summary["pairs"])


def test_bad_pair_is_reported_and_the_batch_goes_on(tmp_path: Path, weights: Path) -> None:
    root = tmp_path / "in"
    short, _ = write_pair(root, "A", T0, seed=3)
    write_pair(root, "B", T0 + timedelta(minutes=5), seed=4)
    meta = CaptureMetadata(make="Burstcap", model="TestCam", exposure_time_s=1 / 120, iso=100.0,
                           f_number=4.0, timestamp=T0)
    write_dng(short, np.full((32, 48), 600, np.uint16), "RGGB", BLACK, WHITE, metadata=meta)  # flat: bad
    result = burstcap("process", str(root), "--weights", str(weights), "--quiet")
    assert result.returncode == 1
    assert "1 fused, 0 already done, 1 failed" in result.stdout
    (failure,) = [line for line in result.stdout.splitlines() if line.startswith("  failed:")]
    assert "Aa.dng: no image data" in failure  # names the file and what is wrong with it
    assert (root / "burstcap-fused" / "Ba_fused.tif").exists()
    assert not (root / "burstcap-fused" / "Aa_fused.tif").exists()


def test_truncated_raw_in_a_pair_fails_alone(tmp_path: Path, weights: Path, shared_data: Path) -> None:
    """A real truncated raw (metadata, no pixels) in a pair: a clear failure, the next pair still runs."""
    from burstcap.process import Pair, process_pairs
    from deblurnet.inference import load_model

    root = tmp_path / "in"
    good = write_pair(root, "G", T0, seed=5)
    bad = root / "cut.nef"
    shutil.copy(shared_data / "raw" / "truncated" / "exiftool_Nikon.nef", bad)
    pairs = [Pair(root, bad, good[1], None, "test"), Pair(root, *good, None, "test")]
    model = load_model("deblur-rnn", weights, "cpu", threads=1)
    report = process_pairs(pairs, root, tmp_path / "out", model=model, progress_bar=False)
    assert [o.status for o in report.outcomes] == ["failed", "fused"]
    assert "cut.nef" in report.outcomes[0].error and "Traceback" not in report.outcomes[0].error
    assert report.outcomes[1].out_path.exists()


class InterruptAt(torch.nn.Module):
    """Wraps a model; raises KeyboardInterrupt (Ctrl-C) when called for the ``at``-th time."""

    def __init__(self, inner: torch.nn.Module, at: int) -> None:
        super().__init__()
        self.inner, self.at, self.calls = inner, at, 0
        self.multiple = getattr(inner, "multiple", 1)

    def forward(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.inner(*args, **kwargs)


def test_interrupted_batch_resumes(tmp_path: Path, weights: Path) -> None:
    from deblurnet.inference import load_model

    root = tmp_path / "in"
    for k in range(3):
        write_pair(root, f"P{k}", T0 + timedelta(minutes=k), seed=k)
    out = tmp_path / "out"
    model = load_model("deblur-rnn", weights, "cpu", threads=1)
    with pytest.raises(KeyboardInterrupt):
        process_folder(root, out, model=InterruptAt(model, at=2), progress_bar=False)
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".tif") == ["P0a_fused.tif"]
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.is_file()]  # no temp files
    report = process_folder(root, out, model=model, progress_bar=False)
    assert [o.status for o in report.outcomes] == ["done", "fused", "fused"]
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".tif") == [
        "P0a_fused.tif", "P1a_fused.tif", "P2a_fused.tif"]
    assert (out / CONTACT_SHEET).exists()


def test_fuse_options_reach_alignment_and_model_loading(tmp_path: Path, weights: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """[fuse] motion and threads are used by process_folder and Pipeline (spies wrap the real calls),
    and the model is loaded once and shared (burstcap.fuse.fusion_model, the one model cache)."""
    import burstcap.fuse
    from burstcap.fuse import FuseOptions, fusion_model
    from burstcap.pipeline import Pipeline, PipelineConfig

    motions: list[str] = []
    threads: list[int | None] = []
    real_estimate, real_load = burstcap.fuse.estimate_alignment, burstcap.fuse.load_model
    burstcap.fuse._loaded_model.cache_clear()

    def estimate(short, long, options):
        motions.append(options.motion)
        return real_estimate(short, long, options)

    def load(name, weights=None, device="auto", threads_=None, **kwargs):
        threads.append(kwargs.get("threads", threads_))
        return real_load(name, weights, device, threads=1)

    monkeypatch.setattr(burstcap.fuse, "estimate_alignment", estimate)
    monkeypatch.setattr(burstcap.fuse, "load_model", load)
    write_pair(tmp_path / "in", "M", T0, seed=5)
    fuse = FuseOptions(weights=weights, device="cpu", motion="translation", threads=3)
    report = process_folder(tmp_path / "in", tmp_path / "out", options=ProcessOptions(fuse=fuse),
                            progress_bar=False)
    assert [o.status for o in report.outcomes] == ["fused"]
    assert motions == ["translation"] and threads == [3]
    model = Pipeline(PipelineConfig(process=ProcessOptions(fuse=fuse))).load_model()
    assert threads == [3] and model is fusion_model(fuse)  # the same network, not loaded again
    burstcap.fuse._loaded_model.cache_clear()


def test_shards_split_the_work(tmp_path: Path, weights: Path) -> None:
    from deblurnet.inference import load_model

    root = tmp_path / "in"
    for k in range(3):
        write_pair(root / f"day{k % 2}", f"S{k}", T0 + timedelta(minutes=k), seed=k)
    model = load_model("deblur-rnn", weights, "cpu", threads=1)
    pairing = PairingOptions(recursive=True)
    reports = [process_folder(root, tmp_path / "out", pairing, ProcessOptions(shard=(i, 2)),
                              model=model, progress_bar=False) for i in range(2)]
    done = [o.out_path for r in reports for o in r.outcomes if o.status == "fused"]
    assert len(done) == 3 and len(set(done)) == 3
    assert [len(r.outcomes) for r in reports] == [2, 1]
    pairs = find_pairs(root, pairing).pairs
    assert {output_path(p, root, tmp_path / "out") for p in pairs} == set(done)
    assert (tmp_path / "out" / "day0" / CONTACT_SHEET).exists()


def test_torchrun_splits_the_batch_across_processes(tmp_path: Path, weights: Path) -> None:
    """The documented multi-GPU recipe (docs/scaling.md), on CPU: torchrun starts 2 ranks, each
    takes its shard from $RANK/$WORLD_SIZE; together they fuse every pair exactly once."""
    root = tmp_path / "in"
    for k in range(3):
        write_pair(root, f"R{k}", T0 + timedelta(minutes=k), seed=k)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "--no-python", sys.executable, "-m", "burstcap.cli", "process", str(root), "--out", str(out),
         "--shard", "env", "--weights", str(weights), "--device", "cpu", "--quiet"],
        capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(shard 0/2: 2 of 3 pairs)" in result.stdout and "(shard 1/2: 1 of 3 pairs)" in result.stdout
    assert sorted(p.name for p in out.glob("*.tif")) == ["R0a_fused.tif", "R1a_fused.tif", "R2a_fused.tif"]
    sheet = cv2.imread(str(out / CONTACT_SHEET))
    assert sheet is not None and sheet.shape[0] >= 2 * (160 + 22)  # the last shard saw at least 2 rows


def test_shard_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from burstcap.commands.process import parse_shard

    assert parse_shard("1/4") == (1, 4)
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert parse_shard("env") == (2, 3)
    for bad in ("4/4", "x", "1/0"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_shard(bad)


def test_session_folders_pair_by_sidecar(tmp_path: Path) -> None:
    """A session shot by shoot_pair (scripted camera, RAW+JPEG) pairs by its sidecar, JPEGs skipped."""
    from burstcap.camera.scripted import CameraScript, ScriptedBackend
    from burstcap.shoot import ShootRequest, shoot_pair

    frames = []
    for k, (level, exposure) in enumerate(((0.5 / 8, 1 / 125), (0.5, 1 / 15))):
        dng = write_frame(tmp_path / f"f{k}.dng", level, exposure, T0)
        frames.append([(f"IMG_{k}.JPG", b"jpeg"), (f"IMG_{k}.DNG", dng.read_bytes())])
    with ScriptedBackend(script=CameraScript(captures=frames)) as camera:
        session = shoot_pair(camera, ShootRequest(ratio=1 / 8, long_exposure_s=1 / 15, iso_long=100),
                             tmp_path / "shots")
    found = find_pairs(tmp_path / "shots", PairingOptions(recursive=True))
    (pair,) = found.pairs
    assert (pair.short, pair.long) == (session.folder / "short_IMG_0.DNG", session.folder / "long_IMG_1.DNG")
    assert pair.ratio == pytest.approx((1 / 15 * 100) / (1 / 125 * 800))  # from the read-back settings
    assert sorted(s.path.name for s in found.skipped) == ["long_IMG_1.JPG", "short_IMG_0.JPG"]
    assert all("companion" in s.reason for s in found.skipped)


def test_dry_run_lists_the_shard_and_fuses_nothing(shots: Path, capsys: pytest.CaptureFixture) -> None:
    from burstcap.cli import main

    assert main(["process", str(shots), "--dry-run", "--shard", "1/2"]) == 0
    out = capsys.readouterr().out
    assert "pair  IMG_02a.dng + IMG_02b.dng" in out and "IMG_01a.dng +" not in out
    assert "skip  notes.txt: not an image file" in out
    assert not (shots / "burstcap-fused").exists()

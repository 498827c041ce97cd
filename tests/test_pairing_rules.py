"""`burstcap process` on PNG pairs without any EXIF: each pairing rule (file names, short/ + long/
folders, --sequence) finds the pairs and the batch fuses them, with a report per output and a summary;
a folder that does not pair exits 2 with the hint. The network is a stand-in (an untrained model whose
residual gain is 0: it returns its short input); the tests are about pairing and the batch."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from burstcap.cli import main
from burstcap.fuse import write_output
from burstcap.pairing_rules import name_pairs, sequence_pairs
from burstcap.process import PairingOptions, find_pairs
from conftest import settled
from deblurnet.checkpoint import save_weights
from isp.color import srgb_decode


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return save_weights(settled(gain=0.0), tmp_path_factory.mktemp("w") / "standin.safetensors")


def write_pair(short: Path, long: Path, seed: int = 0) -> None:
    """A short (1/8 brightness, noisy) and a long (bright, blurred) 8-bit PNG, no metadata at all."""
    sharp = srgb_decode(cv2.resize(data.astronaut().astype(np.float32) / 255.0, (96, 64)))
    rng = np.random.default_rng(seed)
    for path, rgb in ((short, sharp / 8 + rng.normal(0, 0.003, sharp.shape).astype(np.float32)),
                      (long, cv2.blur(sharp, (5, 1)))):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_output(path, rgb, None, 8)


def run(folder: Path, weights: Path, *extra: str) -> int:
    return main(["process", str(folder), "--weights", str(weights), "--device", "cpu", "--tile", "0",
                 "--quiet", *extra])


def check_outputs(out: Path, expected: dict[str, str]) -> None:
    """Every expected output (name -> pairing words) exists with its report; the summary has them."""
    summary = json.loads((out / "process-summary.json").read_text())
    assert summary["fused"] == len(expected) and summary["failed"] == 0
    by_output = {Path(p["output"]).name: p for p in summary["pairs"]}
    assert set(by_output) == set(expected)
    for name, words in expected.items():
        assert cv2.imread(str(out / name)) is not None
        report = json.loads((out / f"{name}.json").read_text())
        assert report == by_output[name]["report"]
        assert report["ratio_source"] == "image" and report["ratio"] == pytest.approx(8, rel=0.1)
        assert words in by_output[name]["pairing"]


def test_file_names_pair(tmp_path: Path, weights: Path) -> None:
    write_pair(tmp_path / "beach_short.png", tmp_path / "beach_long.png")
    write_pair(tmp_path / "Hall-SHORT.png", tmp_path / "hall-long.png", seed=1)
    assert run(tmp_path, weights) == 0
    check_outputs(tmp_path / "burstcap-fused", {"beach_short_fused.tif": "file names",
                                                "Hall-SHORT_fused.tif": "file names"})


def test_short_and_long_folders_pair(tmp_path: Path, weights: Path) -> None:
    for name in ("001", "002"):
        write_pair(tmp_path / "short" / f"{name}.png", tmp_path / "long" / f"{name}.png")
    write_pair(tmp_path / "short" / "lonely.png", tmp_path / "elsewhere" / "lonely.png")
    found = find_pairs(tmp_path, PairingOptions(recursive=True))
    assert [(p.short.parent.name, p.long.parent.name) for p in found.pairs] == [("short", "long")] * 2
    assert any(s.path.name == "lonely.png" and "no file named lonely" in s.reason for s in found.skipped)
    assert run(tmp_path, weights) == 0
    check_outputs(tmp_path / "burstcap-fused", {"001_fused.tif": "folders", "002_fused.tif": "folders"})


def test_sequence_pairs_consecutive_files_darker_first(tmp_path: Path, weights: Path) -> None:
    write_pair(tmp_path / "IMG_0002.png", tmp_path / "IMG_0001.png")  # the long frame comes first
    write_pair(tmp_path / "IMG_0003.png", tmp_path / "IMG_0004.png", seed=1)
    write_pair(tmp_path / "IMG_0005.png", tmp_path / "spare" / "x.png")
    found = find_pairs(tmp_path, PairingOptions(sequence=True))
    assert [(p.short.name, p.long.name) for p in found.pairs] == [("IMG_0002.png", "IMG_0001.png"),
                                                                  ("IMG_0003.png", "IMG_0004.png")]
    assert [s.path.name for s in found.skipped] == ["IMG_0005.png"]
    assert run(tmp_path, weights, "--sequence") == 0
    check_outputs(tmp_path / "burstcap-fused", {"IMG_0002_fused.tif": "sequence",
                                                "IMG_0003_fused.tif": "sequence"})


def test_a_folder_that_does_not_pair_exits_2_with_the_hint(tmp_path: Path, weights: Path, capsys) -> None:
    write_pair(tmp_path / "a.png", tmp_path / "b.png")
    assert main(["process", str(tmp_path), "--weights", str(weights), "--device", "cpu"]) == 2
    captured = capsys.readouterr()
    assert "no capture time" in captured.out  # each file says why it was skipped
    hint = [line for line in captured.err.splitlines() if line.strip()]
    assert len(hint) == 1 and "no pairs found" in hint[0] and "--sequence" in hint[0] and "short/" in hint[0]
    assert not (tmp_path / "burstcap-fused").exists()


def test_name_rule_needs_one_word_and_one_partner() -> None:
    files = [Path(n) for n in ("a_short.png", "a_long.png", "b_short.png", "shortlist.png",
                               "c_short_long.png", "d_short.png", "d_short.jpg", "d_long.png")]
    pairs, rest = name_pairs(files)
    assert [(s.name, l.name) for s, l, _ in pairs] == [("a_short.png", "a_long.png")]
    assert [p.name for p in rest] == ["b_short.png", "shortlist.png", "c_short_long.png", "d_short.png",
                                      "d_short.jpg", "d_long.png"]


def test_sequence_rule_orders_by_brightness() -> None:
    level = {"1.png": 5.0, "2.png": 1.0, "3.png": 2.0}
    pairs, skips = sequence_pairs([Path(n) for n in level], brightness=lambda p: level[p.name])
    assert [(s.name, l.name) for s, l, _ in pairs] == [("2.png", "1.png")]
    assert [p.name for p, _ in skips] == ["3.png"]

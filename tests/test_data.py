"""deblurnet.data datasets and the `deblurnet synth` command: folders written, read back, resumed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from deblurnet.cli import main
from deblurnet.data import (SynthDataset, TripletFolder, list_triplets, read_noise_map, read_triplet,
                            write_triplet)
from deblurnet.noise_map import estimated_noise_map
from deblurnet.errors import DeblurnetError
from deblurnet.synth import SynthConfig, Triplet


def write_frames(folder: Path, count: int, height: int = 72, width: int = 96) -> Path:
    """Consecutive frames of a smooth random texture moving 2 px per frame."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    big = cv2.resize(rng.uniform(0, 255, (height // 4 + 2, (width + 2 * count) // 4 + 2, 3)).astype(np.float32),
                     None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    big = np.clip(big, 0, 255).astype(np.uint8)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i + 1:06d}.png"), big[:height, 2 * i:2 * i + width])
    return folder


@pytest.fixture()
def config(tmp_path: Path) -> SynthConfig:
    frames = write_frames(tmp_path / "frames", 20)
    return SynthConfig(gopro_dir=frames, stills_dir=frames, frames=None, images=None, size=48)


def test_synth_dataset_yields_network_domain_tensors(config: SynthConfig) -> None:
    ds = SynthDataset(config, length=6, seed=1)
    assert len(ds) == 6
    item = ds[2]
    assert set(item) == {"short", "long", "sharp", "noise"}
    for key, x in item.items():
        assert x.shape == ((1 if key == "noise" else 3), 48, 48) and x.dtype == torch.float32
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    again = SynthDataset(config, length=6, seed=1)[2]
    assert all(torch.equal(item[k], again[k]) for k in item)
    assert not torch.equal(item["short"], SynthDataset(config, length=6, seed=2)[2]["short"])
    ds.set_epoch(1)
    assert not torch.equal(item["short"], ds[2]["short"])
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["long"].shape == (3, 3, 48, 48)
    with pytest.raises(IndexError):
        ds[6]


def test_triplet_folder_written_and_read_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    imgs = [rng.uniform(0, 1, (40, 56, 3)).astype(np.float32) for _ in range(3)]
    noise = rng.uniform(0, 0.2, (40, 56, 1)).astype(np.float32)
    write_triplet(tmp_path / "set", "a.png", Triplet(*imgs, ratio=4.0, noise=noise))
    write_triplet(tmp_path / "set", "b.png", Triplet(*imgs[::-1], ratio=2.0, noise=noise))
    assert list_triplets(tmp_path / "set") == ["a.png", "b.png"]
    back = read_triplet(tmp_path / "set", "a.png")
    for got, want in zip(back, imgs):
        assert np.abs(got - want).max() <= 0.5 / 255 + 1e-6
    ds = TripletFolder(tmp_path / "set", crop=32)
    item = ds[1]
    assert len(ds) == 2 and item["short"].shape == (3, 32, 32)
    full = TripletFolder(tmp_path / "set")[0]
    assert torch.allclose(full["sharp"], torch.from_numpy(back[2]).permute(2, 0, 1))
    assert np.abs(read_noise_map(tmp_path / "set", "a.png", back[0]) - noise).max() < 1e-4  # 16-bit
    assert item["noise"].shape == (1, 32, 32)
    # a folder made elsewhere (no noise/): the map fusion would estimate for an sRGB file
    shutil.rmtree(tmp_path / "set" / "noise")
    estimated = TripletFolder(tmp_path / "set")[0]["noise"]
    assert torch.allclose(estimated, torch.from_numpy(estimated_noise_map(back[0])).permute(2, 0, 1))


def test_triplet_folder_rejects_bad_layouts(tmp_path: Path) -> None:
    with pytest.raises(DeblurnetError, match="no such folder"):
        TripletFolder(tmp_path / "nope")
    (tmp_path / "bad" / "short").mkdir(parents=True)
    with pytest.raises(DeblurnetError, match="missing sub-folder"):
        TripletFolder(tmp_path / "bad")
    img = np.zeros((8, 8, 3), np.float32)
    flat = np.zeros((8, 8, 1), np.float32)
    write_triplet(tmp_path / "odd", "x.png", Triplet(img, img, img, 1.0, flat))
    (tmp_path / "odd" / "sharp" / "x.png").unlink()
    with pytest.raises(DeblurnetError, match="no matching sharp/x.png"):
        TripletFolder(tmp_path / "odd")
    write_triplet(tmp_path / "sizes", "y.png", Triplet(img, np.zeros((8, 9, 3), np.float32), img, 1.0, flat))
    with pytest.raises(DeblurnetError, match="different sizes"):
        TripletFolder(tmp_path / "sizes")[0]


def test_synth_command_writes_resumes_and_matches_dataset(tmp_path: Path, config: SynthConfig,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["synth", "--protocol", "gopro2", "--source", str(config.gopro_dir), "--out", str(out),
            "--count", "3", "--seed", "5", "--size", "48"]
    assert main(args) == 0
    assert list_triplets(out) == ["000000.png", "000001.png", "000002.png"]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["protocol"] == "gopro2" and meta["seed"] == 5 and meta["count"] == 3
    assert meta["samples"]["000001.png"]["ratio"] > 1

    # The same sample in memory (up to 8-bit quantisation of the files).
    config.weight_camera = config.weight_stills = 0.0
    mem = SynthDataset(config, length=3, seed=5)[1]
    disk = TripletFolder(out)[1]
    assert all(float((mem[k] - disk[k]).abs().max()) <= 0.5 / 255 + 1e-6 for k in mem)

    stamp = (out / "short" / "000000.png").stat().st_mtime_ns
    (out / "sharp" / "000002.png").unlink()  # an interrupted sample
    capsys.readouterr()
    assert main(args[:-4] + ["--count", "4", "--seed", "5", "--size", "48"]) == 0
    assert "2 triplet(s) written, 2 already there" in capsys.readouterr().out
    assert (out / "short" / "000000.png").stat().st_mtime_ns == stamp
    assert len(list_triplets(out)) == 4


def test_synth_command_extends_a_set_made_before_an_option_existed(tmp_path: Path, config: SynthConfig,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A set whose header lacks an option added later (here camera.grain and camera.fine_nr, as in
    every set made before they existed) is still the same set while the option is at its default, and
    is extended; a set made with a different value of an option is refused, naming the folder."""
    out = tmp_path / "out"
    args = ["synth", "--protocol", "camera", "--source", str(config.gopro_dir), "--out", str(out),
            "--count", "1", "--seed", "5", "--size", "32"]
    assert main(args) == 0
    meta_path = out / "meta.json"
    meta = json.loads(meta_path.read_text())
    for option in ("grain", "fine_nr"):
        del meta["config"]["camera"][option]
    meta_path.write_text(json.dumps(meta))
    assert main(args[:-6] + ["--count", "2", "--seed", "5", "--size", "32"]) == 0
    assert len(list_triplets(out)) == 2

    meta = json.loads(meta_path.read_text())
    meta["config"]["camera"]["grain"] = [0.5, 1.0]  # made with the option on: not the same set
    meta_path.write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(args) == 2
    assert f"{out}: holds a dataset made with other options" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--source", "/nonexistent/frames"], "/nonexistent/frames: no such folder"),
    (["--count", "0"], "--count must be positive"),
    (["--frames", "1-500"], "outside the 20 images"),
])
def test_synth_command_bad_input_one_line_exit_2(tmp_path: Path, config: SynthConfig, extra: list[str],
                                                 message: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["synth", "--protocol", "camera", "--source", str(config.gopro_dir), "--out",
            str(tmp_path / "o"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err

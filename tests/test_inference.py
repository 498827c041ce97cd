"""deblurnet.inference: loading models (shipped weights, files, entry points) and tiled fusion."""

from __future__ import annotations

import logging
import os
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from conftest import settled
from deblurnet.checkpoint import save_weights
from deblurnet.errors import DeblurnetError
from deblurnet.noise_map import estimated_noise_map
from deblurnet.inference import (available_models, fuse, load_model, physical_cores, resolve_device,
                                 shipped_weights, tile_starts, tile_weights)


def noise_of(short: np.ndarray) -> np.ndarray:
    """The noise map fusion would give an sRGB short frame (H, W, 3): (H, W, 1)."""
    return estimated_noise_map(short)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def strong_model() -> torch.nn.Module:
    return settled(gain=1.0)


@pytest.fixture(scope="module")
def pair_1024() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(short, long, sharp) 1024x768 network-domain images: noisy sharp, horizontally blurred."""
    sharp = cv2.resize(data.astronaut().astype(np.float32) / 255.0, (1024, 768))
    rng = np.random.default_rng(0)
    short = np.clip(sharp + rng.normal(0, 0.06, sharp.shape), 0, 1).astype(np.float32)
    long = cv2.blur(sharp, (17, 1))
    return short, long, sharp


# ----------------------------------------------------------------------------------------- tiling


def test_tiled_equals_whole_image(strong_model, pair_1024) -> None:
    """1024x768 in 256-pixel tiles vs one pass: seams invisible, PSNR unchanged within 0.05 dB."""
    short, long, sharp = pair_1024
    whole = fuse(strong_model, short, long, noise_of(short), tile=None)
    assert psnr(whole, short) < 30  # the (untrained, gain 1) network really changes the image
    calls: list[tuple[int, int]] = []
    tiled = fuse(strong_model, short, long, noise_of(short), tile=256, overlap=64,
                 progress=lambda done, total: calls.append((done, total)))
    assert tiled.shape == whole.shape == (768, 1024, 3) and tiled.dtype == np.float32
    assert abs(psnr(tiled, sharp) - psnr(whole, sharp)) < 0.05
    assert psnr(tiled, whole) > 60.0
    # No seam: along tile borders the difference is no larger than elsewhere (and tiny).
    assert float(np.abs(tiled - whole).max()) < 0.01
    assert calls[-1] == (calls[-1][1], calls[-1][1]) and calls[-1][1] == 5 * 4


def test_tiles_without_context_would_show_seams(strong_model, pair_1024) -> None:
    """The overlap matters: with none, tile borders differ clearly from the whole-image result."""
    short, long, _ = pair_1024
    crop = (slice(0, 512), slice(0, 512))
    whole = fuse(strong_model, short[crop], long[crop], noise_of(short[crop]), tile=None)
    blended = fuse(strong_model, short[crop], long[crop], noise_of(short[crop]), tile=256, overlap=64, progress=False)
    butted = fuse(strong_model, short[crop], long[crop], noise_of(short[crop]), tile=256, overlap=0, progress=False)
    assert psnr(butted, whole) < psnr(blended, whole) - 15


@pytest.mark.parametrize("shape", [(97, 131), (300, 17), (16, 16)])
def test_any_size(shape: tuple[int, int]) -> None:
    model = settled()
    rng = np.random.default_rng(3)
    short = rng.random((*shape, 3), dtype=np.float32)
    long = rng.random((*shape, 3), dtype=np.float32)
    for tile in (None, 64):
        out = fuse(model, short, long, noise_of(short), tile=tile, overlap=32, progress=False)
        assert out.shape == (*shape, 3) and np.isfinite(out).all()


def test_merger_model_and_zero_gain_identity() -> None:
    short = np.random.default_rng(5).random((80, 120, 3), dtype=np.float32)
    long = np.full_like(short, 0.5)
    # With zero residual gains the real networks return their short input exactly.
    for name in ("deblur-rnn", "deblur-merger"):
        out = fuse(settled(name, gain=0.0), short, long, noise_of(short), tile=64, overlap=16, progress=False)
        assert np.allclose(out, short, atol=1e-6)


def test_tile_weights_cross_fade_to_one() -> None:
    tile, overlap = 256, 64
    first = tile_weights(tile, overlap, first=True, last=False)
    second = tile_weights(tile, overlap, first=False, last=True)
    step = tile - overlap
    total = np.zeros(tile + step)
    total[:tile] += first
    total[step:] += second
    assert np.allclose(total, 1.0, atol=1e-6)
    assert first[0] == 1.0 and first[-1] == 0.0 and second[0] == 0.0  # tile edges are discarded


def test_tile_starts_are_stride_aligned_and_cover() -> None:
    starts = tile_starts(784, 256, 192)
    assert starts == [0, 192, 384, 528]
    assert all(s % 16 == 0 for s in starts) and starts[-1] + 256 == 784
    assert tile_starts(200, 256, 192) == [0]


def test_bad_inputs() -> None:
    model = settled()
    with pytest.raises(DeblurnetError, match="one shape"):
        fuse(model, np.zeros((8, 8, 3), np.float32), np.zeros((8, 9, 3), np.float32),
             np.zeros((8, 8, 1), np.float32))
    with pytest.raises(DeblurnetError, match="overlap"):
        fuse(model, np.zeros((300, 300, 3), np.float32), np.zeros((300, 300, 3), np.float32),
             np.zeros((300, 300, 1), np.float32), tile=64, overlap=64)
    with pytest.raises(DeblurnetError, match="noise map"):
        fuse(model, np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 3), np.float32),
             np.zeros((8, 8, 3), np.float32))


# ---------------------------------------------------------------------------------------- loading


def test_load_model_from_weights_file(tmp_path: Path, caplog) -> None:
    model = settled()
    path = save_weights(model, tmp_path / "w.safetensors", card={"steps": 0})
    with caplog.at_level(logging.INFO, logger="deblurnet.inference"):
        loaded = load_model("deblur-rnn", weights=path,
                            device="auto" if not torch.cuda.is_available() else "cpu", threads=1)
    assert "runs on cpu" in caplog.text
    assert not loaded.training
    x = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32)
    # fp16 storage: the loaded model agrees with the original to fp16 precision.
    assert np.abs(fuse(loaded, x, x, noise_of(x)) - fuse(model, x, x, noise_of(x))).max() < 2e-2
    with pytest.raises(DeblurnetError, match="for model 'deblur-rnn', not 'deblur-merger'"):
        load_model("deblur-merger", weights=path, device="cpu")


def test_missing_and_corrupt_weights_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DeblurnetError, match="not found"):
        load_model("deblur-rnn", weights=tmp_path / "nothing.safetensors", device="cpu")
    path = save_weights(settled(), tmp_path / "w.safetensors")
    path.write_bytes(path.read_bytes()[:1000])  # truncated
    with pytest.raises(DeblurnetError, match=str(path.name)):
        load_model("deblur-rnn", weights=path, device="cpu")
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(DeblurnetError, match="JSON"):
        load_model("deblur-rnn", weights=path, device="cpu")


@pytest.mark.parametrize("name", ["deblur-rnn", "deblur-merger"])
def test_shipped_weights_are_in_the_package_and_restore(name: str) -> None:
    """Both networks ship trained fp16 weights (<= 30 MB) with a card, loaded by default, and they do
    restore a noisy/blurred pair far better than its inputs (an untrained net would not)."""
    import json

    path = shipped_weights(name)
    assert path.parent.name == "weights" and path.parent.parent.name == "deblurnet"
    assert path.is_file() and path.stat().st_size <= 30 * 2**20
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["steps"] >= 1000 and card["bn_recalibrated_batches"] > 0
    trained_on = {source["folder"] for source in card["training_data"]}
    assert {"cbsd432", "imagenet", "sun_hays80", "kodak24"} <= trained_on  # the diverse stills
    assert not trained_on & {"lsd2_train", "polyu", "real_pairs"}  # evaluation-only material
    assert "research" in card["terms"]
    model = load_model(name, device="cpu", threads=1)
    assert next(model.parameters()).dtype == torch.float32  # fp16 on disk, float32 on the CPU
    sharp = cv2.resize(data.astronaut().astype(np.float32) / 255.0, (256, 192))
    rng = np.random.default_rng(1)
    short = np.clip(sharp + rng.normal(0, 0.08, sharp.shape), 0, 1).astype(np.float32)
    long = cv2.blur(sharp, (9, 1))
    fused = fuse(model, short, long, noise_of(short), tile=0, progress=False)
    assert psnr(fused, sharp) > max(psnr(short, sharp), psnr(long, sharp)) + 3


def test_missing_weights_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DeblurnetError, match="weights"):
        load_model("deblur-rnn", weights=tmp_path / "none.safetensors", device="cpu")


def test_unknown_name_and_device() -> None:
    with pytest.raises(DeblurnetError, match="unknown model 'nope'.*deblur-merger"):
        load_model("nope")
    with pytest.raises(DeblurnetError, match="unknown device"):
        resolve_device("tpu:0:x")
    if not torch.cuda.is_available():
        with pytest.raises(DeblurnetError, match="no CUDA"):
            resolve_device("cuda")
        assert resolve_device("auto").type == "cpu"
    assert 1 <= physical_cores() <= (os.cpu_count() or 1)


def test_plugin_model_from_entry_point(tmp_path: Path, monkeypatch) -> None:
    """A third-party package registers a model in the ``deblurnet.models`` entry-point group: write a
    real (installed-layout) distribution onto sys.path and load the model by name."""
    (tmp_path / "toy_fusion_plugin.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        class Average(nn.Module):
            multiple = 1
            def __init__(self):
                super().__init__()
                self.mix = nn.Parameter(torch.tensor(0.5))
            def forward(self, short, long, noise):
                return self.mix * short + (1 - self.mix) * long

        def build():
            return Average()
    """))
    info = tmp_path / "toy_fusion_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-fusion-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[deblurnet.models]\ntoy-average = toy_fusion_plugin:build\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "toy-average" in available_models()
    model = load_model("toy-average", device="cpu", threads=1)
    out = fuse(model, np.zeros((8, 8, 3), np.float32), np.ones((8, 8, 3), np.float32),
               np.zeros((8, 8, 1), np.float32))
    assert np.allclose(out, 0.5)
    # Weights for a plugin: a plain safetensors state dict.
    from safetensors.torch import save_file

    save_file({"mix": torch.tensor(0.25)}, str(tmp_path / "toy.safetensors"))
    model = load_model("toy-average", weights=tmp_path / "toy.safetensors", device="cpu", threads=1)
    out = fuse(model, np.zeros((8, 8, 3), np.float32), np.ones((8, 8, 3), np.float32),
               np.zeros((8, 8, 1), np.float32))
    assert np.allclose(out, 0.75)


def test_dihedral_transforms_invert_exactly() -> None:
    from deblurnet.inference import dihedral

    x = torch.rand(1, 3, 5, 7)
    outs = [dihedral(x, k) for k in range(8)]
    assert all(torch.equal(dihedral(o, k, inverse=True), x) for k, o in enumerate(outs))
    assert len({tuple(o.flatten().tolist()) for o in outs}) == 8  # eight different transforms


def test_self_ensemble_is_the_mean_over_transformed_pairs(strong_model: torch.nn.Module) -> None:
    """ensemble=8 equals the hand-computed mean of the network over the 8 transformed pairs (each
    transform undone), differs from the plain output, and a short-returning net is left unchanged."""
    from deblurnet.inference import dihedral

    rng = np.random.default_rng(3)
    short, long = (rng.random((48, 64, 3), dtype=np.float32) for _ in range(2))
    plain = fuse(strong_model, short, long, noise_of(short), tile=0, progress=False)
    ens = fuse(strong_model, short, long, noise_of(short), tile=0, progress=False, ensemble=8)
    short_t, long_t, noise_t = (torch.from_numpy(a).permute(2, 0, 1)[None]
                                for a in (short, long, noise_of(short)))
    with torch.inference_mode():
        manual = sum(dihedral(strong_model(dihedral(short_t, k), dihedral(long_t, k), dihedral(noise_t, k))[0],
                              k, inverse=True) for k in range(8)) / 8
    assert np.allclose(ens, manual[0].permute(1, 2, 0).numpy(), atol=1e-5)
    assert np.abs(ens - plain).max() > 1e-3
    identity = settled(gain=0.0)
    assert np.allclose(fuse(identity, short, long, noise_of(short), tile=32, overlap=16, progress=False, ensemble=8),
                       short, atol=1e-5)
    with pytest.raises(DeblurnetError, match="ensemble"):
        fuse(strong_model, short, long, noise_of(short), tile=0, progress=False, ensemble=3)

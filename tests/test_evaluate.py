"""deblurnet.evaluate, deblurnet.baselines and the `deblurnet evaluate` command on a tiny generated set."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from deblurnet import baselines as B
from deblurnet.cli import main
from deblurnet.data import write_triplet
from deblurnet.evaluate import Report, psnr_ssim, score_folder
from deblurnet.synth import Triplet


def texture(size: int, seed: int) -> np.ndarray:
    """A smooth random colour texture (size, size, 3) float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 1, (size // 6 + 1, size // 6 + 1, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC), 0, 1)


def line_kernel(length: int = 9) -> np.ndarray:
    k = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1.0
    return k / k.sum()


@pytest.fixture(scope="module")
def triplet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 triplets of 96x96: sharp texture, noisy short (sigma 0.08), horizontally line-blurred long."""
    root = tmp_path_factory.mktemp("triplets")
    for i in range(3):
        sharp = texture(96, i)
        rng = np.random.default_rng(100 + i)
        short = np.clip(sharp + 0.08 * rng.standard_normal(sharp.shape).astype(np.float32), 0, 1)
        long = cv2.filter2D(sharp, -1, line_kernel(), borderType=cv2.BORDER_REFLECT_101)
        write_triplet(root, f"{i:03d}.png", Triplet(short, long, sharp, ratio=4.0,
                                                    noise=np.full((96, 96, 1), 0.08, np.float32)))
    return root


def test_psnr_ssim_on_0_255_values() -> None:
    sharp = texture(64, 0)
    noisy = np.clip(sharp + 10 / 255, 0, 1)
    psnr, ssim = psnr_ssim(noisy, sharp)
    mse = np.mean((noisy.astype(np.float64) - sharp) ** 2) * 255 ** 2
    assert psnr == pytest.approx(10 * np.log10(255 ** 2 / mse), abs=1e-4)
    assert 0.9 < ssim < 1.0
    assert psnr_ssim(sharp.copy(), sharp)[1] == pytest.approx(1.0)


def test_kernel_estimate_recovers_a_known_blur() -> None:
    """An L-shaped motion path is found (in place and shape) from a sharp/blurred pair of an edgy image."""
    rng = np.random.default_rng(5)
    sharp = cv2.resize(rng.uniform(0, 1, (32, 32)).astype(np.float32), (128, 128),
                       interpolation=cv2.INTER_NEAREST)
    sharp = cv2.GaussianBlur(sharp, (0, 0), 0.7)
    k = np.zeros((11, 11), np.float32)
    k[5, 2:9] = 1.0
    k[2:5, 8] = 1.0
    k /= k.sum()
    blurry = cv2.filter2D(sharp, -1, k[::-1, ::-1], borderType=cv2.BORDER_REFLECT_101)
    est = B.estimate_kernel(sharp, blurry, B.ClassicalParams(kernel_size=21))
    c = est.shape[0] // 2
    assert est.sum() == pytest.approx(1.0)
    assert np.abs(est[c - 5:c + 6, c - 5:c + 6] - k).sum() < 0.25


def test_deconvolution_with_the_true_kernel_sharpens() -> None:
    sharp = texture(96, 6)
    blurry = cv2.filter2D(sharp, -1, line_kernel(), borderType=cv2.BORDER_REFLECT_101)
    restored = np.clip(B.deconvolve(blurry, line_kernel(), B.ClassicalParams().deconv_reg), 0, 1)
    assert psnr_ssim(restored, sharp)[0] > psnr_ssim(blurry, sharp)[0] + 3


def test_noise_estimate_and_denoiser() -> None:
    flat = np.full((96, 96, 3), 0.5, np.float32)
    noisy = flat + 0.05 * np.random.default_rng(0).standard_normal(flat.shape).astype(np.float32)
    assert B.estimate_noise_sigma(noisy) == pytest.approx(0.05 / np.sqrt(3), rel=0.1)  # of the grey mean
    assert B.estimate_noise_sigma_rgb(noisy) == pytest.approx(0.05, rel=0.1)
    # Noise smoothed by a 3x3 binomial filter (like demosaicing): the half-resolution estimate still
    # sees most of it, the full-resolution one hardly any.
    smooth = cv2.GaussianBlur(noisy - 0.5, (3, 3), 0) + 0.5
    true = float((smooth - 0.5).std())
    assert B.estimate_noise_sigma_rgb(smooth) > 0.6 * true > 2 * B.estimate_noise_sigma(smooth[..., 0])
    sharp = texture(96, 7)
    noisy = np.clip(sharp + 0.08 * np.random.default_rng(1).standard_normal(sharp.shape).astype(np.float32), 0, 1)
    assert psnr_ssim(B.denoise_nlm(noisy), sharp)[0] > psnr_ssim(noisy, sharp)[0] + 3


def test_score_folder_scores_baselines_and_an_injected_network(triplet_dir: Path) -> None:
    calls: list[tuple[int, ...]] = []

    def oracle_ish(short: np.ndarray, long: np.ndarray, noise: np.ndarray) -> np.ndarray:
        calls.append(short.shape)
        assert noise.shape == (96, 96, 1) and np.allclose(noise, 0.08, atol=1e-4)  # the stored map
        return cv2.GaussianBlur(short, (5, 5), 1.0)

    report = score_folder(triplet_dir, {"blurred-short": oracle_ish}, progress=False,
                          fingerprints={"blurred-short": "v1"})
    assert list(report.results) == ["blurred-short", "long", "short", "short-denoised", "pair-classical"]
    assert len(calls) == 3 and calls[0] == (96, 96, 3)
    r = report.results
    assert all(len(m.scores) == 3 for m in r.values())
    assert r["short-denoised"].mean("psnr") > r["short"].mean("psnr")
    assert r["pair-classical"].mean("psnr") > r["long"].mean("psnr")
    # "worse than the best input": per image, below max(long, short-denoised); here the denoised
    # short frame is the best input of every image, so it is never worse, the long frame always is,
    # and so is the noisy short frame (denoising helps every image)
    assert report.worse_than_inputs("short-denoised") == 0.0
    assert report.worse_than_inputs("long") == report.worse_than_inputs("short") == 1.0
    assert report.to_dict()["methods"]["short"]["worse_than_best_input"] == 1.0

    # Resume: everything is reused, nothing runs again; a changed fingerprint runs again.
    again = score_folder(triplet_dir, {"blurred-short": oracle_ish},
                         previous=Report.from_dict(report.to_dict()), progress=False, fingerprints={"blurred-short": "v1"})
    assert len(calls) == 3 and again.to_dict() == report.to_dict()
    score_folder(triplet_dir, {"blurred-short": oracle_ish}, previous=report, progress=False,
                 fingerprints={"blurred-short": "v2"})
    assert len(calls) == 6
    # Another network scored into the same file: the earlier rows stay, in their order, untouched.
    saved: list[list[str]] = []
    other = score_folder(triplet_dir, {"long-copy": lambda s, lg, n: lg}, previous=report, progress=False,
                         fingerprints={"long-copy": "a"}, on_update=lambda r: saved.append(list(r.results)))
    assert saved and all("blurred-short" in names for names in saved)  # an interruption loses nothing
    assert list(other.results) == [*report.results, "long-copy"] and len(calls) == 6
    assert other.results["blurred-short"].scores == report.results["blurred-short"].scores


def test_a_rebuilt_folder_is_scored_again(triplet_dir: Path, tmp_path: Path) -> None:
    """Scores made on a folder are not reused once the folder holds other files (same path); a report
    from before the folder id ("" contents) is still reused."""
    import shutil

    from deblurnet.evaluate import folder_contents

    root = tmp_path / "set"
    shutil.copytree(triplet_dir, root)
    calls: list[int] = []

    def net(short: np.ndarray, long: np.ndarray, noise: np.ndarray) -> np.ndarray:
        calls.append(1)
        return long
    first = score_folder(root, {"net": net}, progress=False, fingerprints={"net": "a"})
    assert first.contents == folder_contents(root) and len(calls) == 3
    legacy = Report.from_dict({**first.to_dict(), "contents": ""})
    score_folder(root, {"net": net}, previous=legacy, progress=False, fingerprints={"net": "a"})
    assert len(calls) == 3  # reused
    sharp = cv2.imread(str(root / "sharp" / "000.png"))
    cv2.imwrite(str(root / "sharp" / "000.png"), np.ascontiguousarray(sharp[:, ::-1]))  # rebuilt: other content
    if folder_contents(root) == first.contents:  # same PNG size by chance: change the metadata too
        (root / "meta.json").write_text('{"rebuilt": true}')
    again = score_folder(root, {"net": net}, previous=first, progress=False, fingerprints={"net": "a"})
    assert len(calls) == 6 and again.contents != first.contents


def test_evaluate_command_with_a_tiny_untrained_network(triplet_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from deblurnet.checkpoint import save_weights
    from deblurnet.models import create_model

    torch.manual_seed(0)
    model = create_model("deblur-merger", widths=(4, 8), disc_widths=(4, 8))
    weights = save_weights(model, tmp_path / "tiny.safetensors")
    out = tmp_path / "results.json"
    assert main(["evaluate", str(triplet_dir), "--weights", str(weights), "--json", str(out),
                 "--device", "cpu"]) == 0
    table = capsys.readouterr().out
    lines = table.strip().splitlines()
    assert lines[1].split()[:5] == ["method", "PSNR", "SSIM", "s/pair", "worse"]
    for method in ("deblur-merger:tiny", "long", "short", "short-denoised", "pair-classical"):
        assert any(line.split()[0] == method for line in lines[3:]), method
    assert len({len(line) for line in lines[1:]}) == 1  # aligned columns
    data = json.loads(out.read_text())
    assert data["images"] == 3 and set(data["methods"]["pair-classical"]["per_image"]) == {
        "000.png", "001.png", "002.png"}
    entry = data["methods"]["deblur-merger:tiny"]
    assert np.isfinite(entry["psnr"]) and 0 < entry["ssim"] <= 1 and entry["seconds_per_pair"] > 0


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "no such folder"),
    (lambda p: (p / "plain").mkdir() or p / "plain", "not a triplet folder"),
])
def test_evaluate_command_bad_folder_one_line_exit_2(tmp_path: Path, make, message: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(make(tmp_path))]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_evaluate_command_missing_weights(triplet_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(triplet_dir), "--weights", str(tmp_path / "none.safetensors")]) == 2
    assert "weights file not found" in capsys.readouterr().err


def test_results_table_puts_networks_first_and_names_the_best_baseline(triplet_dir: Path) -> None:
    from deblurnet.results_table import margins, table

    def short_median(short: np.ndarray, long: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return cv2.medianBlur((short * 255).astype(np.uint8), 3).astype(np.float32) / 255

    report = score_folder(triplet_dir, {"deblur-rnn": short_median}, progress=False).to_dict()
    text = table({"setA": report, "setB": report})
    lines = text.splitlines()
    assert lines[0].count("setA") == 4 and lines[0].count("setB") == 4
    assert lines[2].startswith("| **DeblurRNN** |") and lines[-1].startswith("| pair, kernel")
    best = max(("long", "short", "short-denoised", "pair-classical"), key=lambda m: report["methods"][m]["psnr"])
    margin = report["methods"]["deblur-rnn"]["psnr"] - report["methods"][best]["psnr"]
    assert f"{margin:+.2f} dB" in margins({"setA": report})


def test_kernel_estimate_of_a_flat_tile_is_the_identity() -> None:
    """A tile without any gradient (flat, or clipped white) tells nothing about blur: the estimate is
    a delta, not NaN (which crashed pair-classical on a clipped sky)."""
    flat = np.full((64, 64), 1.0, np.float32)
    kernel = B.estimate_kernel(flat, flat)
    assert np.isfinite(kernel).all() and kernel.sum() == pytest.approx(1.0)
    assert kernel[kernel.shape[0] // 2, kernel.shape[1] // 2] == 1.0

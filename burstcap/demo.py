"""The demo behind `burstcap demo`: synthesise a short/long pair from a bundled image, fuse it, show the result.

The sharp original is ``skimage.data.astronaut()`` (512x512, public domain, shipped with scikit-image,
so the demo needs no download and no data folder). The pair is synthesised in scene-linear light:

* short: 1/8 of the exposure (ratio 8) with sensor noise of a high-ISO shot (Poisson-Gaussian,
  variance = a x + b with a = 4e-3, b = 2e-5 in normalised raw units, via
  ``hardware_profiles.sample_noisy``), so after scaling by 8 it is sharp but noisy;
* long: the full exposure blurred by a camera-shake kernel (a curved 25-pixel stroke) with light noise
  (a = 5e-4, b = 1e-6), and moved by a small hand-held shift (2.5 px, 0.3 degree) that alignment undoes.

Writes short.png and long.png (16-bit, with EXIF exposure times 1/400 s and 1/50 s, so
``burstcap fuse short.png long.png -o x.png`` finds the ratio in the metadata; short.png is nearly
black, as a 1/8 exposure is), short_x8.png (the short frame times 8, at the long frame's brightness,
as the comparison shows it), fused.png (made from short.png and long.png by ``burstcap.fuse.fuse_frames``,
the path every command takes, with its report beside it), sharp.png and comparison.jpg (short x 8 | long | fused,
labelled with PSNR against the original).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from torch import nn

from burstcap.compare import comparison, write_jpeg
from burstcap.errors import BurstcapError
from burstcap.fuse import FuseOptions, fuse_frames, write_output
from deblurnet.inference import describe_device, load_model, shipped_weights, untrained_model
from isp.color import srgb_decode, srgb_encode
from isp.io import read_linear
from isp.metadata import CaptureMetadata

RATIO = 8.0
SHORT_NOISE = (4e-3, 2e-5)
LONG_NOISE = (5e-4, 1e-6)
SHAKE_PX = 25
SEED = 2024


# -------------------------------------------------------------------------------------- synthesis


def sharp_image() -> np.ndarray:
    """The sharp original: (512, 512, 3) float32 scene-linear (skimage's astronaut)."""
    from skimage import data

    return np.asarray(srgb_decode(data.astronaut().astype(np.float32) / np.float32(255.0)), np.float32)


def shake_kernel(length: int = SHAKE_PX) -> np.ndarray:
    """(length, length) float32 camera-shake kernel summing to 1: a curved stroke (a quarter arc)."""
    kernel = np.zeros((length, length), np.float32)
    t = np.linspace(0.0, 1.0, 8 * length)
    c = (length - 1) / 2
    x = c + c * 0.9 * np.cos(np.pi * (0.75 + 0.5 * t))
    y = c + c * 0.5 * np.sin(np.pi * (0.75 + 0.5 * t)) - c * 0.25
    for xi, yi in zip(np.round(x).astype(int), np.round(y).astype(int)):
        kernel[np.clip(yi, 0, length - 1), np.clip(xi, 0, length - 1)] += 1.0
    kernel /= kernel.sum()
    # Centre of mass in the middle, so the blur does not move the image.
    ys, xs = np.indices(kernel.shape)
    shift = np.float32([[1, 0, c - (xs * kernel).sum()], [0, 1, c - (ys * kernel).sum()]])
    kernel = cv2.warpAffine(kernel, shift, kernel.shape[::-1], flags=cv2.INTER_LINEAR)
    return kernel / kernel.sum()


def synthesise_pair(sharp: np.ndarray, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(short, long) scene-linear float32 (H, W, 3) each at its own exposure (short = 1/8 of long)."""
    from hardware_profiles import sample_noisy

    rng = np.random.default_rng(seed)
    short = sample_noisy(sharp / RATIO, SHORT_NOISE[0], SHORT_NOISE[1], rng)
    blurred = cv2.filter2D(sharp, -1, shake_kernel(), borderType=cv2.BORDER_REFLECT)
    h, w = sharp.shape[:2]
    hand = cv2.getRotationMatrix2D((w / 2, h / 2), 0.3, 1.0)
    hand[:, 2] += (2.5, -1.5)
    moved = cv2.warpAffine(blurred, hand, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    long = sample_noisy(np.clip(moved, 0.0, 1.0), LONG_NOISE[0], LONG_NOISE[1], rng)
    return short.astype(np.float32), long.astype(np.float32)


# ------------------------------------------------------------------------------------------ model


def demo_model(name: str, weights: Path | None, device: str,
               threads: int | None = None) -> tuple[nn.Module, bool]:
    """(model, trained): the given or shipped weights, else an untrained model (the caller warns)."""
    if weights is not None or shipped_weights(name).is_file():
        return load_model(name, weights, device, threads), True
    return untrained_model(name, device=device, threads=threads), False


# ----------------------------------------------------------------------------------------- output


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """PSNR (dB) of two sRGB-encoded [0, 1] images."""
    mse = float(np.mean((np.clip(image, 0, 1) - np.clip(reference, 0, 1)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def run_demo(out: Path, model_name: str = "deblur-rnn", weights: Path | None = None,
             device: str = "auto", threads: int | None = None) -> int:
    """Write the demo images into ``out`` and print PSNR figures; returns the exit status (0)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BurstcapError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    sharp = sharp_image()
    short, long = synthesise_pair(sharp)
    if threads is not None and threads < 1:
        raise BurstcapError(f"--threads must be >= 1, got {threads}")
    model, trained = demo_model(model_name, weights, device, threads)
    if not trained:
        print(f"burstcap: warning: no trained weights ({shipped_weights(model_name)} is missing): "
              f"using an UNTRAINED {model_name}; the fused image shows the pipeline, not the quality")
    print(f"fusing with {model_name} on {describe_device(next(model.parameters()).device)}")
    when = datetime(2024, 1, 1, 12, 0, 0)
    write_output(out / "short.png", short, CaptureMetadata("burstcap", "demo", 1 / 400, 1600, 2.8, when), 16)
    write_output(out / "long.png", long, CaptureMetadata("burstcap", "demo", 1 / 50, 1600, 2.8, when), 16)
    # the files just written go through the one fuse path, as `burstcap fuse short.png long.png` would:
    # the ratio comes from their EXIF exposure times
    _, arrays = fuse_frames(read_linear(out / "short.png"), read_linear(out / "long.png"), out / "fused.png",
                            FuseOptions(model=model_name, device=device, threads=threads), model)
    fused = arrays.rgb
    write_output(out / f"short_x{RATIO:g}.png", short * np.float32(RATIO), None, 8)  # as the comparison shows it
    write_output(out / "sharp.png", sharp, None, 8)

    reference = srgb_encode(sharp)
    shown = {"short x8": srgb_encode(np.clip(short * RATIO, 0, 1)), "long": srgb_encode(np.clip(long, 0, 1)),
             "fused": srgb_encode(np.clip(fused, 0, 1))}
    scores = {name: psnr(image, reference) for name, image in shown.items()}
    panels = [(f"{name}  {scores[name]:.2f} dB", image) for name, image in shown.items()]
    write_jpeg(out / "comparison.jpg", comparison(panels))
    print(f"PSNR against the sharp original ({'trained' if trained else 'UNTRAINED'} {model_name}):")
    for name, value in scores.items():
        print(f"  {name:9s} {value:6.2f} dB")
    print(f"wrote {out}/short.png (the short exposure itself: 1/{RATIO:g} of the light, nearly black), "
          f"short_x{RATIO:g}.png (it times {RATIO:g}, at the long frame's brightness), long.png, fused.png, "
          f"sharp.png, comparison.jpg")
    return 0

"""The per-pixel noise-level map the networks take as their third input (after Brooks et al. 2019).

A noise map is (H, W, 1) float32: the standard deviation of the noise of the ratio-scaled short frame
*in the network domain* (sRGB-encoded [0, 1] values), per pixel. It has two sources, and fusion and
training compute it with the same functions, so the network sees at fuse time what it learned from:

* :func:`law_noise_map` from a noise law, for RAW input whose camera has a noise profile
  (``hardware_profiles``): the short frame's raw variance ``a * x + b`` (normalised raw units, x the raw
  level) is carried through the gain ``G`` that brings the short frame to the network domain's linear
  light (exposure ratio times exposure normalisation): ``var(z) = G a z + G^2 b`` for the linear value
  ``z``; then through the sRGB encoding by its slope at ``z`` (delta method), and averaged over the
  three channels. ``z`` is read from the noisy short frame smoothed by a 5x5 box, so the map does not
  carry the noise itself. White balance and the colour matrix are not modelled (they scale channels by
  factors of about 1 to 2.5; the network learns that spread).
* :func:`estimated_noise_map` for everything else (sRGB files, cameras without a profile, a RAW without
  ISO): one level for the whole frame, estimated from the image (:func:`estimate_noise_level`:
  Immerkaer's 1996 estimator per block, the flattest blocks decide, so texture is not taken for noise).
  It is estimated on the *whole* frame before tiling, so every tile of a large image gets the same map.

Why a map (a deviation from the paper, whose networks see only the two frames): one set of weights
then serves every ISO and camera (Brooks et al. 2019; FFDNet, Zhang et al. 2018), and a calibrated
noise profile (``burstcap calibrate``) changes what the network does for that camera without retraining.
"""

from __future__ import annotations

import cv2
import numpy as np
from isp.chunks import map_rows
from isp.color import srgb_decode

_LAPLACE_DIFF = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
_A = 0.055  # sRGB transfer constants (IEC 61966-2-1)
_KNEE = 0.0031308

MAP_SMOOTHING = 5
"""Side of the box filter applied to the linear short frame before the law is evaluated, px."""


def estimate_noise_sigma(img: np.ndarray) -> float:
    """Std of additive white noise in an (H, W, 3) or (H, W) image, same units (Immerkaer 1996)."""
    gray = img.mean(axis=2) if img.ndim == 3 else img
    gray = np.asarray(gray, dtype=np.float32)
    h, w = gray.shape
    if h < 3 or w < 3:
        return 0.0
    resp = cv2.filter2D(gray, cv2.CV_32F, _LAPLACE_DIFF)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2.0) * np.abs(resp).sum() / (6.0 * (w - 2) * (h - 2)))


def estimate_noise_sigma_rgb(img: np.ndarray) -> float:
    """Noise std of an (H, W, 3) image: mean over channels of `estimate_noise_sigma` on every second
    pixel (row and column). Demosaicing and resampling correlate neighbouring pixels' noise, which hides
    it from a 3x3 filter at full resolution; two pixels apart it is nearly independent again."""
    return float(np.mean([estimate_noise_sigma(img[::2, ::2, c]) for c in range(img.shape[2])]))


LEVEL_BLOCK = 16
"""Side of the blocks of :func:`estimate_noise_level`, px of the half-resolution image."""
LEVEL_PERCENTILE = 25.0
"""Which block estimates decide: this percentile over all blocks and channels."""
LEVEL_BIAS = 0.945
"""The LEVEL_PERCENTILE-th percentile of block estimates of pure white noise, over its true std
(measured on 256 and 512 px frames: 0.94; 0.96 on 128 px); the estimate is divided by it."""


def estimate_noise_level(img: np.ndarray) -> float:
    """Noise std of an (H, W, 3) image, same units, robust to texture.

    Immerkaer's estimator (a Laplacian difference that cancels smooth image content) on every second
    pixel (demosaiced noise is correlated between neighbours), averaged over LEVEL_BLOCK-px blocks per
    channel; texture only adds to a block's reading, so a low percentile of the block readings is the
    noise. On a clean 384 px photo with texture it reads 0.009 where the whole-image estimator
    (:func:`estimate_noise_sigma_rgb`) reads 0.021; on white noise of std 0.04 added, 0.041.
    """
    readings = []
    for c in range(img.shape[2]):
        half = np.ascontiguousarray(img[::2, ::2, c], dtype=np.float32)
        resp = np.abs(cv2.filter2D(half, cv2.CV_32F, _LAPLACE_DIFF))[1:-1, 1:-1]
        h, w = (n // LEVEL_BLOCK * LEVEL_BLOCK for n in resp.shape)
        if h == 0 or w == 0:
            return estimate_noise_sigma_rgb(img)
        blocks = resp[:h, :w].reshape(h // LEVEL_BLOCK, LEVEL_BLOCK, w // LEVEL_BLOCK, LEVEL_BLOCK)
        readings.append(blocks.mean(axis=(1, 3)).ravel())
    level = np.sqrt(np.pi / 2.0) / 6.0 * float(np.percentile(np.concatenate(readings), LEVEL_PERCENTILE))
    return level / LEVEL_BIAS


def srgb_slope(z: np.ndarray) -> np.ndarray:
    """Derivative of the sRGB encoding at linear values ``z`` (any shape, float32), finite everywhere."""
    z = np.maximum(z, np.float32(_KNEE))
    return np.float32((1 + _A) / 2.4) * np.power(z, np.float32(1 / 2.4 - 1), dtype=np.float32)


def law_noise_map(short: np.ndarray, shot: np.ndarray | float, read: np.ndarray | float) -> np.ndarray:
    """Noise map (H, W, 1) float32 of a network-domain short frame from a noise law (module docstring).

    short: (H, W, 3) float32 sRGB-encoded [0, 1], ratio-scaled. shot, read: scalar or (3,) R, G, B, the
    law ``var(z) = shot * z + read`` in the network domain's *linear* light (i.e. ``G * a`` and
    ``G ** 2 * b`` for a raw law a, b and gain G, see :func:`network_law`).
    """
    clipped = map_rows(lambda rows: np.clip(rows, 0.0, 1.0), np.empty(short.shape, np.float32), short)
    encoded = cv2.blur(clipped, (MAP_SMOOTHING, MAP_SMOOTHING), borderType=cv2.BORDER_REFLECT_101)
    shot_v = np.asarray(shot, np.float32).reshape(-1)[:3] * np.ones(3, np.float32)
    read_v = np.asarray(read, np.float32).reshape(-1)[:3] * np.ones(3, np.float32)

    def block(rows: np.ndarray) -> np.ndarray:  # a block of rows at a time, on all cores
        lin = np.asarray(srgb_decode(rows), np.float32)
        sigma = np.sqrt(np.maximum(shot_v * lin + read_v, 0.0)) * srgb_slope(lin)
        return np.clip(sigma.mean(axis=2, keepdims=True), 0.0, 1.0)

    return map_rows(block, np.empty((*short.shape[:2], 1), np.float32), encoded)


def matrix_variance_gain(matrix: np.ndarray | None) -> np.ndarray:
    """(3,) float32: how much a colour matrix (3, 3) (e.g. a camera's camera RGB -> linear sRGB) multiplies
    the variance of independent noise per output channel, the sum of its squared row entries (1 for
    the identity and for None)."""
    if matrix is None:
        return np.ones(3, np.float32)
    m = np.asarray(matrix, np.float64).reshape(3, 3)
    return (m ** 2).sum(axis=1).astype(np.float32)


def network_law(a: np.ndarray | float, b: np.ndarray | float, gain: float) -> tuple[np.ndarray, np.ndarray]:
    """(shot, read) for :func:`law_noise_map` from a raw law (a, b) (normalised raw units, scalar or
    (3,) R, G, B) and the gain G from the short frame's raw level to the network's linear light."""
    a_v, b_v = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a_v * np.float32(gain), b_v * np.float32(gain) ** 2


def estimated_noise_map(short: np.ndarray) -> np.ndarray:
    """Noise map (H, W, 1) float32 of a network-domain (H, W, 3) short frame with no known law: one
    level, :func:`estimate_noise_level`, everywhere."""
    sigma = estimate_noise_level(np.asarray(short, np.float32))
    return np.full((*short.shape[:2], 1), np.float32(min(max(sigma, 0.0), 1.0)), np.float32)

"""Classical baselines for a short/long pair, all (H, W, 3) float32 network domain in and out.

- `long`: the blurry frame as is; `short`: the ratio-scaled noisy frame as is;
- `short-denoised`: OpenCV non-local means on the short frame; h = 0.55 x the noise std estimated in
  the image (Immerkaer 1996, per channel on every second pixel) x how correlated the noise is (half-
  over full-resolution estimate, 1..3: demosaiced noise needs a stronger filter than white noise).
  BM3D was considered: the `bm3d` package installs and runs here, but its licence allows
  non-commercial use only and it takes ~8 s per 256x256 crop on this CPU, so it is not used;
- `pair-classical`: after Yuan et al. 2007 ("Image deblurring with blurred/noisy image pairs"): the
  denoised short frame takes the long frame's colour (per-channel gain, linear light); on overlapping
  tiles the blur kernel is estimated from it and the long frame by regularised least squares in the
  Fourier domain (on image gradients), its largest connected part kept; then the residual
  long - kernel * denoised is deconvolved (Tikhonov, gradient prior) and added back, weighted by Yuan's
  gain map (smoothed gradient magnitude of the denoised image; applied once after the deconvolution,
  not inside Richardson-Lucy iterations), which keeps ringing in flat areas small.
  Measured (`deblurnet evaluate`, 20 pairs of 256x256 per protocol, seed 1, GOPRO frames 101-120 /
  Kodak 21-24), PSNR dB long / short / short-denoised / pair-classical: gopro2 25.8 / 22.5 / 37.6 /
  35.6; camera 28.5 / 28.9 / 35.2 / 36.6; stills 21.2 / 23.9 / 26.6 / 26.9. A tiled kernel cannot
  follow moving objects and the frames' time lag everywhere, so on gopro2 the pair method stays below
  the denoised short frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from isp import color as isp_color

from deblurnet.noise_map import estimate_noise_sigma, estimate_noise_sigma_rgb

Method = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""A fusion method: (short, long, noise) -> sharp estimate; short, long and the result (H, W, 3) float32
network domain, noise the (H, W, 1) noise map of the short frame (:mod:`deblurnet.noise_map`)."""

@dataclass
class ClassicalParams:
    """Strengths of the classical baselines (tuned on synthetic GOPRO2 / stills validation pairs)."""

    nlm_strength: float = 0.55     # NLM h as a multiple of the estimated noise std (0..255 units)...
    nlm_max_correlation: float = 3.0  # ...times the noise correlation factor, clipped to [1, this]
    nlm_template: int = 7          # NLM template window, px
    nlm_search: int = 21           # NLM search window, px
    kernel_size: int = 41          # largest blur kernel side, px (odd)
    kernel_reg: float = 1e-2       # kernel least squares: Tikhonov weight, relative to mean energy
    kernel_threshold: float = 0.2  # kernel entries under this fraction of the peak are dropped
    deconv_reg: float = 0.05       # deconvolution: weight of the gradient prior
    detail_gain: float = 0.5       # deconvolved residual x this x the edge gain map is added back
    tile: int = 128                # kernels are estimated per tile of this side, half overlap


def noise_correlation(img: np.ndarray, cap: float) -> float:
    """Half- over full-resolution noise estimate of an (H, W, 3) image, clipped to [1, cap]: about 1
    for white noise, larger for spatially correlated (demosaiced) noise, which needs a stronger NLM."""
    full = float(np.mean([estimate_noise_sigma(img[..., c]) for c in range(img.shape[2])]))
    return float(np.clip(estimate_noise_sigma_rgb(img) / max(full, 1e-6), 1.0, cap))


def denoise_nlm(img: np.ndarray, params: ClassicalParams | None = None) -> np.ndarray:
    """OpenCV colour non-local means on an (H, W, 3) float32 sRGB [0, 1] image (8-bit internally)."""
    params = params or ClassicalParams()
    u8 = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    f = u8.astype(np.float32)
    h = max(1.0, params.nlm_strength * estimate_noise_sigma_rgb(f)
            * noise_correlation(f, params.nlm_max_correlation))
    out = cv2.fastNlMeansDenoisingColored(u8, None, h, h, params.nlm_template, params.nlm_search)
    return out.astype(np.float32) / 255.0


def _gradients(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Circular forward differences (consistent with the FFT)."""
    return img - np.roll(img, 1, axis=1), img - np.roll(img, 1, axis=0)


def estimate_kernel(sharp: np.ndarray, blurry: np.ndarray, params: ClassicalParams | None = None
                    ) -> np.ndarray:
    """Blur kernel (k, k) float32, sum 1, from linear grey (H, W) sharp and blurry images.

    Least squares min ||grad(sharp) * K - grad(blurry)||^2 + reg ||K||^2 in the Fourier domain, then
    cropped to the kernel window, negatives and small values removed, normalised.
    """
    params = params or ClassicalParams()
    h, w = sharp.shape
    k = min(params.kernel_size, (min(h, w) // 2) | 1)
    k = k if k % 2 else k - 1
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    num = np.zeros((h, w), dtype=np.complex128)
    den = np.zeros((h, w), dtype=np.float64)
    for gs, gb in zip(_gradients(sharp), _gradients(blurry)):
        fs, fb = np.fft.fft2(gs * window), np.fft.fft2(gb * window)
        num += np.conj(fs) * fb
        den += np.abs(fs) ** 2
    reg = params.kernel_reg * float(den.mean())
    with np.errstate(invalid="ignore", divide="ignore"):  # a flat tile: 0 / 0, handled below
        kernel = np.real(np.fft.ifft2(num / (den + reg)))
    kernel = np.fft.fftshift(kernel)
    cy, cx = h // 2, w // 2
    kernel = kernel[cy - k // 2:cy + k // 2 + 1, cx - k // 2:cx + k // 2 + 1]
    kernel = np.maximum(kernel, 0.0)
    peak = kernel.max()
    if not np.isfinite(peak) or peak <= 0:  # no gradients in the tile (flat or clipped): no blur to see
        out = np.zeros((k, k), np.float32)
        out[k // 2, k // 2] = 1.0
        return out
    mask = (kernel >= params.kernel_threshold * peak).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    main = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))  # the largest blob: the blur path
    kernel = np.where(labels == main, kernel, 0.0)
    return (kernel / kernel.sum()).astype(np.float32)


def _psf2otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """FFT of `kernel` zero-padded to `shape`, centred at the origin."""
    pad = np.zeros(shape, dtype=np.float64)
    kh, kw = kernel.shape
    pad[:kh, :kw] = kernel
    pad = np.roll(pad, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return np.fft.fft2(pad)


def deconvolve(blurry: np.ndarray, kernel: np.ndarray, reg: float) -> np.ndarray:
    """Non-blind deconvolution of (H, W, C) float32 by `kernel`, with a gradient (Tikhonov) prior.

    The image is padded by reflection (kernel size) so the circular FFT model holds at the borders.
    """
    k = kernel.shape[0]
    padded = cv2.copyMakeBorder(blurry, k, k, k, k, cv2.BORDER_REFLECT_101)
    if padded.ndim == 2:
        padded = padded[..., None]
    shape = padded.shape[:2]
    otf = _psf2otf(kernel, shape)
    dx = _psf2otf(np.array([[0, 0, 0], [0, 1, -1], [0, 0, 0]], np.float64), shape)
    dy = _psf2otf(np.array([[0, 0, 0], [0, 1, 0], [0, -1, 0]], np.float64), shape)
    denom = np.abs(otf) ** 2 + reg * (np.abs(dx) ** 2 + np.abs(dy) ** 2)
    out = np.empty_like(padded)
    for c in range(padded.shape[2]):
        out[..., c] = np.real(np.fft.ifft2(np.conj(otf) * np.fft.fft2(padded[..., c]) / denom))
    out = out[k:-k, k:-k]
    return out if blurry.ndim == 3 else out[..., 0]


def _tile_starts(length: int, tile: int) -> list[int]:
    """Origins of tiles of side `tile` with half overlap covering [0, length)."""
    starts = list(range(0, max(length - tile, 0) + 1, max(tile // 2, 1)))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def _edge_gain(gray: np.ndarray) -> np.ndarray:
    """Yuan's gain map: smoothed gradient magnitude of the denoised image, normalised to [0, 1]."""
    mag = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    mag = cv2.GaussianBlur(mag, (0, 0), 2.0)
    return mag / max(float(mag.max()), 1e-6)


def residual_deblur(denoised: np.ndarray, blurry: np.ndarray, params: ClassicalParams) -> np.ndarray:
    """One tile: kernel from (denoised, blurry), then denoised + gain * deconv(blurry - K * denoised)."""
    kernel = estimate_kernel(denoised.mean(axis=2), blurry.mean(axis=2), params)
    reblurred = cv2.filter2D(denoised, cv2.CV_32F, kernel[::-1, ::-1], borderType=cv2.BORDER_REFLECT_101)
    detail = deconvolve(blurry - reblurred, kernel, params.deconv_reg)
    gain = params.detail_gain * _edge_gain(denoised.mean(axis=2))
    return denoised + detail * gain[..., None]


def pair_classical(short: np.ndarray, long: np.ndarray, params: ClassicalParams | None = None) -> np.ndarray:
    """Yuan et al. 2007 style fusion of a (short, long) pair (module docstring); (H, W, 3) float32.

    The blur varies across real frames (moving objects, rotation), so kernels are estimated and applied
    on overlapping tiles (`tile` px, half overlap) blended with raised-cosine weights.
    """
    params = params or ClassicalParams()
    denoised = np.asarray(isp_color.srgb_decode(denoise_nlm(short, params)), np.float32)
    blurry = np.asarray(isp_color.srgb_decode(np.asarray(long, np.float32)), np.float32)
    gains = blurry.mean(axis=(0, 1)) / np.maximum(denoised.mean(axis=(0, 1)), 1e-6)
    denoised = denoised * gains.astype(np.float32)  # colour and brightness of the long frame

    h, w = denoised.shape[:2]
    th, tw = min(params.tile, h), min(params.tile, w)
    weight = np.outer(np.hanning(th + 2)[1:-1], np.hanning(tw + 2)[1:-1]).astype(np.float32)[..., None]
    acc = np.zeros_like(denoised)
    total = np.zeros((h, w, 1), np.float32)
    for y in _tile_starts(h, th):
        for x in _tile_starts(w, tw):
            window = (slice(y, y + th), slice(x, x + tw))
            acc[window] += weight * residual_deblur(denoised[window], blurry[window], params)
            total[window] += weight
    out = np.clip(acc / total, 0.0, 1.0)
    return np.asarray(isp_color.srgb_encode(out), np.float32)


def short_denoised(short: np.ndarray, long: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
    """The `short-denoised` baseline: non-local means on the short frame (the long one is unused)."""
    return denoise_nlm(short)


BASELINES: dict[str, Method] = {
    "long": lambda short, long, noise: long,
    "short": lambda short, long, noise: short,
    "short-denoised": short_denoised,
    "pair-classical": lambda short, long, noise: pair_classical(short, long),
}
"""The baselines `deblurnet evaluate` always reports, by name."""

"""Could fusion tell, without the truth, when non-local means would have beaten the network? (No.)

"Never worse than the inputs" asks that the fused image not fall below the better input on any pair.
The classical tool for choosing between denoisers without a clean reference is Stein's unbiased risk
estimate with a Monte-Carlo divergence (Ramani, Blu and Unser 2008, "Monte-Carlo SURE"): for a short
frame ``y = x + n``, n zero-mean with covariance S, and any output ``F(y)``,

    E |F(y) - x|^2 = E |F(y) - y|^2 - tr(S) + 2 tr(J_F S),
    tr(J_F S) ~= b . (F(y + eps b) - F(y - eps b)) / (2 eps),   b ~ N(0, S),

and ``tr(S)`` is the same for every candidate, so two outputs can be compared, or blended with the
weight that minimises the estimate, from the short frame alone. This script measures that guard on
triplet folders, between the network (``deblurnet.inference.fuse``, the triplet's noise map, the long
frame held fixed, the output clipped to [0, 1] as ``deblurnet evaluate`` scores it) and non-local
means (``deblurnet.baselines.denoise_nlm``), with b drawn two ways:

- ``white``: independent Gaussian noise at the noise map's level (what fusion knows);
- ``measured``: noise with the colour covariance and power spectrum measured in the flattest quarter
  of the image's 32 px blocks (each block's plane removed), the way camera JPEG grain is correlated;
- ``measured-level``: the same, its std scaled per pixel by a noise level that grows with brightness
  (:func:`level_scale`: shot noise), as the flattest blocks are often the darkest.

Each blend is also computed with the network's output first mapped to the short frame's tone and
colour (:func:`tone_map`, a quadratic per-channel least-squares fit): the risk is estimated against the
short frame's own mean, and a fusion pair's short frame may differ in tone and colour from the truth
the network aims at. The weight found there is applied in the network's domain two ways: with non-local
means mapped to the network's tone by a second fit (a heuristic: that map is not the first one's
inverse, and on its own it changes non-local means' score, printed beside it), and with non-local means
as it is.

The high-band blend changes only the detail: the network's output with its high band (the image minus
its Gaussian blur of BAND_SIGMA px) moved towards non-local means' by the weight that minimises the risk
estimate of that band against the short frame's, the probe's high band standing for the noise's. Tone
and colour, which a fusion pair's short frame may get wrong, live in the low band; in-camera sharpening
and noise reduction do not.

The probe is EPS = 0.5 times the drawn noise, not the tiny step of Ramani et al.: non-local means
works on 8-bit values, so a smaller probe would mostly measure rounding. Each pair draws one probe,
from its own seed. Known limits of the ``measured`` model: clipped blocks count as flat, the flattest
quarter reads the level a little low, and picking the flattest blocks and removing each block's plane
leave out some of the coarsest grain (on noise blurred by 1.5 px, the probe's correlation 2 px apart
is 0.52 against the noise's 0.64: tests/test_risk_guard.py).

Per set it prints mean PSNR and the pairs worse than the best input (non-local means or the long
frame) for: the network, non-local means, the candidate the estimate picks, the estimate's blend, and
the same blend after tone matching, and the blend with the best weight in [0, 1] taken from the
truth. Findings in docs/training.md ("A risk
estimate at fuse time").

    python benchmarks/risk_guard.py data-cache/test-polyu data-cache/test-lsd2 data-cache/val-stills
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch

from deblurnet.baselines import denoise_nlm
from deblurnet.data import list_triplets, read_noise_map, read_triplet
from deblurnet.inference import fuse, load_model
from deblurnet.noise_map import LEVEL_PERCENTILE

BLOCK = 32
"""Side of the blocks the ``measured`` noise is estimated on, px."""
EPS = 0.5
"""Size of the divergence's probe, as a multiple of the drawn noise."""
BAND_SIGMA = 2.0
"""Gaussian sigma, px, below which detail is the high band of the high-band blend."""

Denoiser = Callable[[np.ndarray], np.ndarray]
ProbeKind = Literal["white", "measured", "measured-level"]
PROBES: tuple[ProbeKind, ...] = ("white", "measured", "measured-level")


def block_residuals(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An (H, W, 3) image's whole BLOCK-px blocks: their means (N,) and what is left of each after its
    best-fitting plane per channel (N, BLOCK, BLOCK, 3); ValueError when there is no whole block."""
    gy, gx = np.mgrid[0:BLOCK, 0:BLOCK].astype(np.float32)
    plane = np.stack([np.ones(BLOCK * BLOCK, np.float32), gy.ravel(), gx.ravel()], 1)
    project = plane @ np.linalg.pinv(plane)
    blocks = [y[r:r + BLOCK, c:c + BLOCK].reshape(-1, 3)
              for r in range(0, y.shape[0] - BLOCK + 1, BLOCK) for c in range(0, y.shape[1] - BLOCK + 1, BLOCK)]
    if not blocks:
        raise ValueError(f"image of {y.shape[1]}x{y.shape[0]} px is smaller than one {BLOCK} px block")
    means = np.array([b.mean() for b in blocks])
    return means, np.stack([(b - project @ b).reshape(BLOCK, BLOCK, 3) for b in blocks])


def measured_noise_model(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Noise model of an (H, W, 3) image from its flattest blocks: a colour basis (3, 3) (columns), each
    component's std (3,) and its (BLOCK, BLOCK) unit-energy correlation kernel (the square root of its
    mean power spectrum)."""
    _, residuals = block_residuals(y)
    power = (residuals ** 2).mean(axis=(1, 2, 3))
    flat = residuals[power <= np.percentile(power, LEVEL_PERCENTILE)]
    cov = np.einsum("nijc,nijd->cd", flat, flat) / (flat.shape[0] * BLOCK * BLOCK)
    variances, basis = np.linalg.eigh(cov)
    components = np.einsum("nijc,cd->nijd", flat, basis)
    kernels = []
    for d in range(3):
        spectrum = (np.abs(np.fft.fft2(components[..., d], axes=(1, 2))) ** 2).mean(0)
        kernel = np.fft.fftshift(np.real(np.fft.ifft2(np.sqrt(spectrum))))
        kernels.append((kernel / np.sqrt((kernel ** 2).sum())).astype(np.float32))
    return basis.astype(np.float32), np.sqrt(np.maximum(variances, 0)).astype(np.float32), kernels


def draw_probe(kind: ProbeKind, y: np.ndarray, noise_map: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One probe b (H, W, 3) float32 of the named noise model (module docstring) for the short frame
    ``y`` (H, W, 3) with noise map ``noise_map`` (H, W, 1), network domain."""
    h, w, _ = y.shape
    if kind == "white":
        return (noise_map * rng.standard_normal((h, w, 3))).astype(np.float32)
    if kind not in ("measured", "measured-level"):
        raise ValueError(f"unknown probe kind {kind!r}")
    basis, stds, kernels = measured_noise_model(y)
    comps = [cv2.filter2D(rng.standard_normal((h, w)).astype(np.float32), -1, k, borderType=cv2.BORDER_REFLECT_101)
             * s for k, s in zip(kernels, stds)]
    probe = (np.stack(comps, -1) @ basis.T).astype(np.float32)
    return probe * level_scale(y) if kind == "measured-level" else probe


def level_scale(y: np.ndarray, bins: int = 8) -> np.ndarray:
    """(H, W, 1) float32: the noise std at each pixel's brightness over the std the measured probe is
    drawn at (that of the flattest quarter of blocks, :func:`measured_noise_model`), for an (H, W, 3)
    image with shot noise. The blocks' plane-residual power is read per brightness bin (equal counts;
    its LEVEL_PERCENTILE-th percentile, the flat blocks of that brightness) and fitted by a line
    ``v = a m + b`` in the block mean m; where the fit does not rise with brightness, or too few blocks
    fill the bins, the level is one constant (all ones)."""
    means, residuals = block_residuals(y)
    power = (residuals ** 2).mean(axis=(1, 2, 3))
    flat = power[power <= np.percentile(power, LEVEL_PERCENTILE)].mean()
    edges = np.quantile(means, np.linspace(0.0, 1.0, bins + 1))
    xs, vs = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (means >= lo) & (means <= hi)
        if inside.sum() >= 4:
            xs.append(means[inside].mean())
            vs.append(np.percentile(power[inside], LEVEL_PERCENTILE))
    slope, offset = np.polyfit(xs, vs, 1) if len(set(xs)) >= 2 else (0.0, 0.0)
    if slope <= 0.0 or flat <= 0.0:
        return np.ones((*y.shape[:2], 1), np.float32)
    level = np.maximum(slope * y.mean(axis=2, keepdims=True) + offset, 1e-10)
    return np.sqrt(level / flat).astype(np.float32)


def high_band(img: np.ndarray) -> np.ndarray:
    """``img`` (H, W, 3) minus its Gaussian blur of BAND_SIGMA px: the detail a tone or colour change
    barely touches."""
    return img - cv2.GaussianBlur(img, (0, 0), BAND_SIGMA, borderType=cv2.BORDER_REFLECT_101)


def tone_map(src: np.ndarray, dst: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The least-squares map from (H, W, 3) ``src`` to ``dst``: each output channel a quadratic in the
    three input channels without cross terms (1, r, g, b, r^2, g^2, b^2), fitted on every third pixel."""
    def features(img: np.ndarray) -> np.ndarray:
        flat = img.reshape(-1, 3)
        return np.concatenate([np.ones((flat.shape[0], 1), np.float32), flat, flat * flat], 1)

    coef, *_ = np.linalg.lstsq(features(src)[::3], dst.reshape(-1, 3)[::3], rcond=None)
    return lambda img: (features(img) @ coef).reshape(img.shape).astype(np.float32)


def divergence(f: Denoiser, y: np.ndarray, probe: np.ndarray) -> float:
    """Monte-Carlo tr(J_f S) / N for a probe b ~ N(0, S): a central difference of size EPS x b."""
    return divergence_of(f(y + EPS * probe), f(y - EPS * probe), probe)


def divergence_of(plus: np.ndarray, minus: np.ndarray, probe: np.ndarray) -> float:
    """:func:`divergence` from the outputs at ``y + EPS probe`` and ``y - EPS probe``."""
    return float((probe * (plus - minus)).sum() / (2 * EPS) / probe.size)


@dataclass
class Pair:
    """One pair's measurements; mse_* against the truth, all per value."""

    mse_net: float
    mse_nlm: float
    mse_long: float
    pick: dict[str, float]  # noise model -> MSE of the candidate the estimate picks
    blend: dict[str, float]  # noise model -> MSE of the estimate's blend
    matched: dict[str, float]  # noise model -> MSE of the tone-matched blend, non-local means in the network's tone
    matched_plain: dict[str, float]  # noise model -> MSE with the same weight, non-local means as it is
    band: dict[str, float]  # noise model -> MSE of the high-band blend
    band_oracle: float  # MSE of the high-band blend with the weight the truth would choose
    mse_nlm_toned: float  # MSE of non-local means mapped to the network's tone alone
    oracle: float  # MSE of the blend with the weight the truth would choose


def blend_mse(mse_nlm: float, dd: float, d_truth: float, alpha: float) -> float:
    """True MSE of nlm + alpha * d, d = net - nlm, from MSE(nlm), mean(d * d) and mean(d * (nlm - truth))."""
    return mse_nlm + alpha * alpha * dd + 2 * alpha * d_truth


def measure_pair(root: Path, name: str, model: torch.nn.Module, rng: np.random.Generator) -> Pair:
    """Triplet ``name`` of ``root``: the network and non-local means on its short frame (both (H, W, 3)
    float32 network domain, in [0, 1]), their risk estimates with each probe, and the true MSEs."""
    y, long, x = read_triplet(root, name)
    noise_map = read_noise_map(root, name, y)

    def net(s: np.ndarray) -> np.ndarray:
        return np.clip(fuse(model, s, long, noise_map, progress=False), 0.0, 1.0)

    def nlm(s: np.ndarray) -> np.ndarray:
        return denoise_nlm(np.clip(s, 0.0, 1.0))

    out_net, out_nlm = net(y), nlm(y)
    d = out_net - out_nlm
    mse_net, mse_nlm = float(((out_net - x) ** 2).mean()), float(((out_nlm - x) ** 2).mean())
    dd, d_truth = float((d ** 2).mean()), float((d * (out_nlm - x)).mean())
    res_net, res_nlm = float(((out_net - y) ** 2).mean()), float(((out_nlm - y) ** 2).mean())
    d_res = float((d * (out_nlm - y)).mean())
    to_short, to_net = tone_map(out_net, y), tone_map(out_nlm, out_net)
    matched_net, nlm_in_net_tone = to_short(out_net), to_net(out_nlm)
    d_m = matched_net - out_nlm
    dd_m, d_res_m = float((d_m ** 2).mean()), float((d_m * (out_nlm - y)).mean())
    h_net = high_band(out_net)
    d_h = high_band(out_nlm) - h_net  # what the high-band blend adds at weight 1
    dd_h, d_res_h = float((d_h ** 2).mean()), float((d_h * (h_net - high_band(y))).mean())
    pick, blend, matched, matched_plain, band = {}, {}, {}, {}, {}
    for kind in PROBES:
        probe = draw_probe(kind, y, noise_map, rng)
        net_plus, net_minus = net(y + EPS * probe), net(y - EPS * probe)
        nlm_plus, nlm_minus = nlm(y + EPS * probe), nlm(y - EPS * probe)
        div_net, div_nlm = divergence_of(net_plus, net_minus, probe), divergence_of(nlm_plus, nlm_minus, probe)
        pick[kind] = mse_net if res_net + 2 * div_net < res_nlm + 2 * div_nlm else mse_nlm
        # the estimated risk of nlm + alpha * d is a convex quadratic in alpha: its minimum, kept in [0, 1]
        alpha = -(d_res + div_net - div_nlm) / max(dd, 1e-12)
        blend[kind] = blend_mse(mse_nlm, dd, d_truth, min(max(alpha, 0.0), 1.0))
        div_matched = divergence_of(to_short(net_plus), to_short(net_minus), probe)
        alpha = min(max(-(d_res_m + div_matched - div_nlm) / max(dd_m, 1e-12), 0.0), 1.0)
        matched[kind] = float(((alpha * out_net + (1 - alpha) * nlm_in_net_tone - x) ** 2).mean())
        matched_plain[kind] = blend_mse(mse_nlm, dd, d_truth, alpha)
        # high band: the risk of H(net) + w d_h against H(x), with the probe's own high band (H b)
        h_probe = high_band(probe)
        div_net_h = divergence_of(high_band(net_plus), high_band(net_minus), h_probe)
        div_nlm_h = divergence_of(high_band(nlm_plus), high_band(nlm_minus), h_probe)
        weight = min(max(-(d_res_h + div_nlm_h - div_net_h) / max(dd_h, 1e-12), 0.0), 1.0)
        band[kind] = float(((out_net + weight * d_h - x) ** 2).mean())
    oracle = blend_mse(mse_nlm, dd, d_truth, min(max(-d_truth / max(dd, 1e-12), 0.0), 1.0))
    weight = min(max(-float((d_h * (h_net - high_band(x))).mean()) / max(dd_h, 1e-12), 0.0), 1.0)
    return Pair(mse_net=mse_net, mse_nlm=mse_nlm, mse_long=float(((long - x) ** 2).mean()), pick=pick, blend=blend,
                matched=matched, matched_plain=matched_plain, band=band,
                band_oracle=float(((out_net + weight * d_h - x) ** 2).mean()),
                mse_nlm_toned=float(((nlm_in_net_tone - x) ** 2).mean()), oracle=oracle)


def summary(label: str, mse: list[float], best_input: list[float]) -> str:
    """'label P dB (k of n worse)': mean PSNR (peak 1) and pairs whose MSE exceeds the best input's."""
    psnr = float(np.mean([-10 * np.log10(m) for m in mse]))
    worse = sum(m > b for m, b in zip(mse, best_input))
    return f"{label} {psnr:.2f} dB ({worse} of {len(mse)} worse)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="+", type=Path, help="triplet folders (deblurnet synth / make results)")
    parser.add_argument("--weights", default=None, help="DeblurRNN weights (default: the shipped ones)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = load_model("deblur-rnn", args.weights, device="cpu", threads=1)
    for root in args.sets:
        pairs = [measure_pair(root, name, model, np.random.default_rng([args.seed, i]))
                 for i, name in enumerate(list_triplets(root))]
        best = [min(p.mse_nlm, p.mse_long) for p in pairs]
        print(f"{root.name}:")
        print("  " + summary("network", [p.mse_net for p in pairs], best))
        print("  " + summary("non-local means", [p.mse_nlm for p in pairs], best)
              + "; " + summary("in the network's tone", [p.mse_nlm_toned for p in pairs], best))
        for kind in PROBES:
            print("  " + summary(f"pick ({kind})", [p.pick[kind] for p in pairs], best)
                  + "; " + summary("blend", [p.blend[kind] for p in pairs], best)
                  + "; " + summary("tone-matched blend", [p.matched[kind] for p in pairs], best)
                  + "; " + summary("its weight, non-local means as it is", [p.matched_plain[kind] for p in pairs],
                                   best)
                  + "; " + summary("high-band blend", [p.band[kind] for p in pairs], best))
        print("  " + summary("blend, weight from the truth", [p.oracle for p in pairs], best)
              + "; " + summary("high-band blend, weight from the truth", [p.band_oracle for p in pairs], best))


if __name__ == "__main__":
    main()

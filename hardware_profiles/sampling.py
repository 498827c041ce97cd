"""Draw sensor noise from a profile: ``sample_noisy`` and ``sample_random_params``.

Noise model (normalised linear raw units, see ``hardware_profiles.profile``): shot noise is
Poisson with variance ``a * x`` (x clipped at 0 for the shot part), read noise is Gaussian with
variance ``b``, optional row noise adds one Gaussian offset of sigma ``row_sigma`` per image row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hardware_profiles.errors import ProfileError
from hardware_profiles.profile import NoiseProfile, cfa_to_rgb
from hardware_profiles.registry import list_profiles, load_profile

#: Below this many photo-electrons (x / a) shot noise is drawn exactly from a Poisson law.
POISSON_BELOW = 64.0


def _per_pixel(values: float | np.ndarray, image: np.ndarray, cfa: str, what: str) -> np.ndarray:
    """Broadcast scalar / (3,) / (4,) noise parameters to ``image``'s shape."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 0:
        return np.broadcast_to(v, image.shape)
    v = v.reshape(-1)
    if image.ndim == 2:
        if v.size != 4:
            raise ProfileError(f"{what}: a mosaic needs a scalar or 4 values (one per CFA position), "
                               f"got {v.size}")
        tile = v.reshape(2, 2)
        h, w = image.shape
        return np.tile(tile, ((h + 1) // 2, (w + 1) // 2))[:h, :w]
    if image.ndim == 3 and image.shape[2] == 3:
        if v.size == 4:
            v = cfa_to_rgb(v, cfa)
        if v.size != 3:
            raise ProfileError(f"{what}: an RGB image needs a scalar, 3 or 4 values, got {v.size}")
        return np.broadcast_to(v, image.shape)
    raise ProfileError(f"expected a mosaic (H, W) or RGB image (H, W, 3), got shape {image.shape}")


def sample_noisy(image: np.ndarray, a: float | np.ndarray, b: float | np.ndarray,
                 rng: np.random.Generator, *, cfa: str = "RGGB", row_sigma: float = 0.0,
                 poisson: bool = True) -> np.ndarray:
    """Add sensor noise to a clean image.

    image: mosaic (H, W) or scene-linear RGB (H, W, 3) float, normalised raw units (0 black, 1 clip).
    a, b: scalar, (4,) per CFA position (for RGB, averaged per colour using ``cfa``) or (3,) R, G, B.
    row_sigma: sigma of a per-row offset (0 = none). poisson: exact Poisson shot noise where a pixel
    holds fewer than ``POISSON_BELOW`` photo-electrons (x / a), Gaussian of the same variance above
    (indistinguishable there, and much faster); False: Gaussian everywhere.
    Returns float32 of the same shape, not clipped (negatives kept). The input is not modified.
    """
    x = np.asarray(image, dtype=np.float32)
    a_px = _per_pixel(a, x, cfa, "a").astype(np.float32, copy=False)
    b_px = _per_pixel(b, x, cfa, "b").astype(np.float32, copy=False)
    if np.any(a_px < 0) or np.any(b_px < 0):
        raise ProfileError("noise parameters a and b must be non-negative")
    signal = np.maximum(x, 0.0)
    normal = rng.standard_normal(x.shape, dtype=np.float32)
    noisy = x + np.sqrt(a_px * signal) * normal
    if poisson:
        with np.errstate(divide="ignore", invalid="ignore"):
            electrons = signal / a_px
        low = (electrons < POISSON_BELOW) & (a_px > 0)
        if low.any():
            a_low = np.broadcast_to(a_px, x.shape)[low]
            noisy[low] = rng.poisson(electrons[low]) * a_low + np.minimum(x[low], 0.0)
    noisy += np.sqrt(b_px) * rng.standard_normal(x.shape, dtype=np.float32)
    if row_sigma > 0:
        rows = rng.standard_normal(x.shape[0]).astype(np.float32) * np.float32(row_sigma)
        noisy += rows.reshape((-1,) + (1,) * (x.ndim - 1))
    return noisy


@dataclass(frozen=True)
class NoiseDraw:
    """One random draw: the profile, the ISO, and its (a (4,), b (4,)) and row sigma."""

    profile: NoiseProfile
    iso: float
    a: np.ndarray
    b: np.ndarray
    row_sigma: float

    def __iter__(self):
        """Unpack as ``profile, iso, a, b``."""
        return iter((self.profile, self.iso, self.a, self.b))


def sample_random_params(rng: np.random.Generator,
                         profiles: Sequence[str | NoiseProfile] | None = None,
                         scatter: bool = False) -> NoiseDraw:
    """Draw a profile uniformly (all shipped/found profiles when ``profiles`` is None), then an ISO
    log-uniformly in its ``iso_range``, and return the profile's noise parameters at that ISO.

    scatter: multiply b by exp(N(0, law.b_sigma)), the body-to-body / frame-to-frame spread of read
    noise the profile's fit reports (as ELD and Brooks et al. sample it); same draw for all channels.
    Usage: ``profile, iso, a, b = sample_random_params(rng)``.
    """
    pool = list(profiles) if profiles is not None else list_profiles()
    if not pool:
        raise ProfileError("no noise profiles to draw from")
    choice = pool[int(rng.integers(len(pool)))]
    profile = choice if isinstance(choice, NoiseProfile) else load_profile(choice)
    lo, hi = profile.iso_range
    iso = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else float(lo)
    a, b = profile.params(iso)
    if scatter:
        b = b * np.exp(rng.standard_normal() * np.asarray(profile.law.b_sigma))
    return NoiseDraw(profile=profile, iso=iso, a=a, b=b, row_sigma=profile.row_sigma(iso))

"""hardware_profiles: per-camera sensor noise profiles and their calibration.

Noise model: per CFA channel, variance = a * x + b, with x the mean signal in normalised linear raw
units (0 = black, 1 = white level), ``a`` the shot-noise gain and ``b`` the read-noise variance.

Public API::

    load_profile(name_or_path) -> NoiseProfile      list_profiles() -> list[str]
    profile_for(make, model) -> NoiseProfile        profile_for_file(raw_path) -> NoiseProfile
    NoiseProfile.params(iso) -> (a (4,), b (4,))    NoiseProfile.iso_range -> (low, high)
    sample_noisy(mosaic_or_rgb, a, b, rng) -> noisy sample_random_params(rng, profiles=None)

``hardware_profiles`` knows nothing of ``burstcap`` or the networks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hardware_profiles.errors import CalibrationError, ProfileError

if TYPE_CHECKING:
    from hardware_profiles.profile import IsoMeasurement, NoiseLaw, NoiseProfile, Provenance, fit_law
    from hardware_profiles.registry import (list_profiles, load_profile, profile_for, profile_for_file,
                                            save_profile)
    from hardware_profiles.sampling import NoiseDraw, sample_noisy, sample_random_params

#: Public name -> the module defining it, loaded on first use (PEP 562): importing the package for
#: its errors (the CLIs do) does not load numpy.
_EXPORTS = {
    "IsoMeasurement": "profile", "NoiseLaw": "profile", "NoiseProfile": "profile",
    "Provenance": "profile", "fit_law": "profile",
    "list_profiles": "registry", "load_profile": "registry", "profile_for": "registry",
    "profile_for_file": "registry", "save_profile": "registry",
    "NoiseDraw": "sampling", "sample_noisy": "sampling", "sample_random_params": "sampling",
}

__all__ = sorted(["CalibrationError", "ProfileError", *_EXPORTS])


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"hardware_profiles.{_EXPORTS[name]}"), name)

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

from hardware_profiles.errors import CalibrationError, ProfileError
from hardware_profiles.profile import IsoMeasurement, NoiseLaw, NoiseProfile, Provenance, fit_law
from hardware_profiles.registry import (
    list_profiles,
    load_profile,
    profile_for,
    profile_for_file,
    save_profile,
)
from hardware_profiles.sampling import NoiseDraw, sample_noisy, sample_random_params

__all__ = [
    "CalibrationError", "IsoMeasurement", "NoiseDraw", "NoiseLaw", "NoiseProfile", "ProfileError",
    "Provenance", "fit_law", "list_profiles", "load_profile", "profile_for", "profile_for_file",
    "sample_noisy", "sample_random_params", "save_profile",
]

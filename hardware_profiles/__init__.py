"""hardware_profiles: per-camera sensor noise profiles and their calibration.

Noise model: per CFA channel, variance = a * x + b, with x the mean signal in normalised linear raw
units (0 = black, 1 = white level), ``a`` the shot-noise gain and ``b`` the read-noise variance.

``hardware_profiles`` knows nothing of ``burstcap`` or the networks.
"""

from hardware_profiles.errors import CalibrationError, ProfileError

__all__ = ["CalibrationError", "ProfileError"]

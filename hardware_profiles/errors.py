"""Errors of ``hardware_profiles``."""


class ProfileError(Exception):
    """A profile is missing, unreadable or inconsistent. The message says which and why."""


class CalibrationError(ProfileError):
    """A calibration set cannot be fitted. The message says what to reshoot."""

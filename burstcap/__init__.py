"""burstcap: tethered short/long burst capture, RAW development and deep fusion.

``burstcap`` composes ``isp`` (RAW -> linear RGB), ``hardware_profiles`` (sensor noise) and
``deblurnet`` (the fusion networks) behind a CLI, a Python API and an HTTP service.
"""

from burstcap.errors import BurstcapError, CameraError, NoCameraError

__version__ = "0.1.0"
__all__ = ["BurstcapError", "CameraError", "NoCameraError", "__version__"]

"""Errors of ``burstcap``. The CLI turns these (and the other packages' errors) into one line."""


class BurstcapError(Exception):
    """Base class of every user-facing error of burstcap."""


class CameraError(BurstcapError):
    """The camera refused, failed or disappeared. The message says what happened."""


class NoCameraError(CameraError):
    """No camera is attached (or none matches --camera/--port)."""

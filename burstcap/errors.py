"""Errors of ``burstcap``. The CLI turns these (and the other packages' errors) into one line."""

from __future__ import annotations

from deblurnet.errors import DeblurnetError
from hardware_profiles.errors import ProfileError
from isp.errors import IspError


class BurstcapError(Exception):
    """Base class of every user-facing error of burstcap."""


class CameraError(BurstcapError):
    """The camera refused, failed or disappeared. The message says what happened."""


class NoCameraError(CameraError):
    """No camera is attached (or none matches --camera/--port)."""


#: Errors that are the user's input or the world's state, not a bug: the CLI prints them as one line
#: and exits 2 (:func:`burstcap.cli.run_command`), the service records them without a traceback
#: (:mod:`burstcap.service.runner`).
USER_ERRORS: tuple[type[Exception], ...] = (BurstcapError, IspError, ProfileError, DeblurnetError)

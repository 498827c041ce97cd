"""isp: a raw image signal processor.

RAW file (anything LibRaw reads) or sRGB file -> scene-linear RGB float32 (H, W, 3).

Conventions used across the project:
- *Scene-linear RGB*: float32 (H, W, 3), sRGB/Rec.709 primaries, white-balanced, 1.0 = sensor white
  level at the frame's own exposure (values may exceed 1.0 after exposure scaling).
- *Mosaic*: float32 (H, W), black-subtracted and divided by (white - black) per CFA channel, so 0 is
  black and 1 is clipping; negative values are kept (noise work needs them).

Modules: ``color`` (sRGB transfer, matrices), ``raw`` (read_raw, read_raw_metadata, read_thumbnail:
the only rawpy user of the project), ``formats`` (file types by extension), ``demosaic``, ``develop``,
``orientation``, ``io`` (read_linear, write_image), ``dng`` (write_dng), ``unprocess``, ``exposure``
(exposure_ratio), ``metadata`` (CaptureMetadata, reading tags), ``tiffmeta`` and ``embed`` (writing
tags into TIFF / PNG and JPEG, both through write_image), ``atomic`` (atomic output),
``libraw_messages`` (LibRaw's stderr into error messages).

``isp`` knows nothing of cameras, networks or the CLI.
"""

from isp.errors import DiskFullError, IspError, RawReadError

__all__ = ["DiskFullError", "IspError", "RawReadError"]

"""deblurnet: DeblurRNN and DeblurMerger (Zhang, Zhen, Stevenson), their losses, data synthesis,
training, evaluation and inference.

Network domain: float32 tensors (B, 3, H, W) in sRGB-encoded [0, 1] values; the short (noisy) frame is
already scaled by the exposure ratio. ``deblurnet`` knows nothing of cameras.
"""

from deblurnet.errors import DeblurnetError

__all__ = ["DeblurnetError"]

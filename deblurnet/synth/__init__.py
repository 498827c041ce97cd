"""Data synthesis for deblurnet, deterministic under a seed: noisy/blurry/sharp triplets.

Protocols: `gopro2` (the paper's, on consecutive video frames), `camera` (the same frames through a
sensor noise model and a raw pipeline like `isp`'s), `stills` (camera shake and moving objects rendered
on sharp stills, then the camera pipeline). Every `Triplet` is in the network domain: (H, W, 3) float32
sRGB-encoded [0, 1], the short frame already multiplied by the exposure ratio.
"""

from deblurnet.synth.camera import CameraParams
from deblurnet.synth.common import Triplet, default_data_dir
from deblurnet.synth.config import PROTOCOLS, SynthConfig, Synthesizer, sample_rng
from deblurnet.synth.gopro2 import Gopro2Params
from deblurnet.synth.stills import StillsParams

__all__ = ["PROTOCOLS", "CameraParams", "Gopro2Params", "StillsParams", "SynthConfig", "Synthesizer",
           "Triplet", "default_data_dir", "sample_rng"]

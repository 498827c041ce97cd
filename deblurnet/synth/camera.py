"""Camera protocol: a short/long pair made the way a real camera and then burstcap would make it.

From linear-light sharp and blurred scenes (H, W, 3) float32 (values above 1 are highlights that clip):
0. with ``optics_prob`` both are softened by one Gaussian (``optics_sigma`` px), truth included: a
   camera's full-size frame has far less detail per pixel than the small training photos, and a
   network that only ever sees pixel-sharp texture learns to keep mild noise as texture (it did: on
   PolyU's real high-ISO JPEGs it removed half of what non-local means removes);
1. exposure level k ~ log-uniform[exposure]: scene = k * image; the long frame is "correctly" exposed;
2. to raw: divide by random white-balance gains (R, B >= 1, G = 1), mosaic as RGGB (identity colour
   matrix: no camera->sRGB mixing is modelled);
3. exposure-time ratio t = t_short / t_long ~ log-uniform[time_ratio]; the camera raises the short ISO by
   g in [1, 1/t] (within the camera's ISO range), so the short raw level is r = t * g times the long one;
   with ``mild_prob`` the camera raises it by the whole 1/t (r = 1 where the ISO range allows): a
   normally exposed high-ISO frame with mild noise, as in a camera's or phone's high-ISO JPEG; with
   ``long_base_iso_prob`` (otherwise) g = min(1/t, ISO_short / base ISO): the long frame at the camera's
   base ISO, or as near as the time ratio allows, as ``burstcap shoot`` takes it (otherwise g is drawn
   log-uniformly, and most long frames are at a raised ISO);
4. sensor noise through the project's one noise model, ``hardware_profiles.sample_noisy``
   (Poisson-Gaussian per CFA channel, row noise where the profile measured it), with the profile's
   ``params(iso)`` at the short and at the long ISO. The profile is the configured one, else drawn per
   sample from every profile ``hardware_profiles`` knows: the measured cameras and the generic law of
   Brooks et al. 2019;
5. clip at the white level (1.0). Then one of two renderings (``processed_prob``):

   * **raw** (what ``burstcap fuse`` makes of RAW files, via ``isp``): white balance per CFA site and
     clip at 1, bilinear demosaic, sRGB encode; the short frame scaled by 1/r times a small
     ratio-estimation error and a small per-channel colour shift; its noise map from the profile's law
     (:func:`deblurnet.noise_map.law_noise_map`), as fusion computes it for a RAW file of a profiled
     camera, or (``estimated_map_prob``) estimated from the image, as for an unknown camera;
   * **processed** (what a camera or phone writes as JPEG, then ``burstcap fuse`` reads as sRGB): each
     frame through an in-camera pipeline, :func:`render_in_camera`: demosaic (bilinear or edge-aware),
     its own white balance and tone curve (the short frame's differ from the long one's), chroma and
     luma noise reduction (the blotchy, spatially correlated colour noise of real high-ISO JPEGs),
     optionally (``fine_nr``) a wavelet-style noise reduction of the finest luma scale, sharpening,
     optionally (``grain``) coarser grain (each frame's rendered noise blurred at the same std, its
     own draw, :func:`coarsen_grain`: real camera JPEGs have most of their noise power at periods of
     4 to 16 px, this rendering alone has half of it under 4 px), 8-bit JPEG. The short frame is
     either brightened in camera (digital gain before the pipeline) or left dark; burstcap's
     estimate of the ratio from the images (mean linear brightness) then scales it. Noise map: estimated from the image, as fusion does for sRGB files;

6. the long frame is slightly misaligned (sub-pixel shift + rotation) against the short/sharp frames;
   the short frame gets the long frame's colour balance (:func:`deblurnet.colour.match_colour`), as
   fusion does before the network, so a colour cast between the frames (larger here than in most
   cameras: LSD2's phone pairs have strong ones) is removed globally and the network learns no colour
   transfer. The noise map is computed after that gain.
   Ground truth: the sharp scene at the long frame's exposure, clipped, rendered with the long frame's
   tone and colour (no noise, no JPEG).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from hardware_profiles import NoiseProfile, list_profiles, load_profile, sample_noisy
from isp.errors import IspError

from deblurnet.colour import match_colour
from deblurnet.errors import DeblurnetError
from deblurnet.noise_map import estimated_noise_map, law_noise_map, network_law
from deblurnet.synth.common import (ImageCache, Triplet, estimate_ratio, log_uniform, srgb_decode,
                                    srgb_encode, u8_to_linear)
from deblurnet.synth.gopro2 import draw_frames

_K_RB = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float32) / 4.0
_K_G = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], dtype=np.float32) / 4.0
_RGGB = "RGGB"


@dataclass
class CameraParams:
    """Parameters of the camera protocol (ranges are sampled uniformly or log-uniformly per sample)."""

    profile: str | None = None                      # one hardware_profiles profile; None: all, per sample
    time_ratio: tuple[float, float] = (1 / 32, 1 / 2)   # t_short / t_long, log-uniform
    exposure: tuple[float, float] = (0.35, 1.3)     # k, scene brightness scale, log-uniform
    wb_red: tuple[float, float] = (1.6, 2.4)        # white-balance gain of red
    wb_blue: tuple[float, float] = (1.3, 2.0)       # white-balance gain of blue
    colour_shift: float = 0.1                       # std of the per-channel log gain on the short frame
    ratio_error: float = 0.04                       # std of the log error of the ratio estimate
    max_shift_px: float = 1.5                       # long-frame misalignment, uniform in +-this
    max_rotation_deg: float = 0.3                   # long-frame rotation, uniform in +-this
    highlight_prob: float = 0.3                     # probability of boosted highlights (they clip, bloom)
    highlight_gain: tuple[float, float] = (1.5, 4.0)  # gain of the brightest parts of the scene
    estimated_map_prob: float = 0.2                 # raw rendering: noise map estimated, not from the law
    processed_prob: float = 0.4                     # probability of the in-camera (JPEG) rendering
    jpeg_quality: tuple[int, int] = (60, 95)        # in-camera JPEG quality, uniform
    tone_gamma: tuple[float, float] = (0.8, 1.2)    # tone curve: linear ** gamma before sRGB encoding
    frame_colour: float = 0.2                       # std of the short frame's own log R/B balance
    frame_gamma: float = 0.03                       # std of the short frame's own log tone gamma
    chroma_nr: tuple[float, float] = (0.0, 3.0)     # chroma noise reduction: Gaussian sigma, px
    luma_nr: tuple[float, float] = (0.0, 0.8)       # luma noise reduction: blend of a bilateral filter
    sharpen: tuple[float, float] = (0.0, 1.2)       # unsharp-mask amount on luma
    dark_jpeg_min_ratio: float = 1 / 16             # darker short JPEGs are brightened in camera instead
    mild_prob: float = 0.0                          # short frame normally exposed at a high ISO (see below)
    long_base_iso_prob: float = 0.0                 # long frame at base ISO, as `burstcap shoot` takes it
    optics_prob: float = 0.0                        # probability of a soft scene (lens, full-size sensor)
    optics_sigma: tuple[float, float] = (0.4, 1.2)  # its Gaussian blur, px, uniform
    fine_nr: tuple[float, float] = (0.0, 0.0)       # finest-scale luma noise reduction: soft threshold, in
    # units of that scale's noise std (render_in_camera); (0, 0): off, and nothing is drawn
    grain: tuple[float, float] = (0.0, 0.0)         # coarser grain: Gaussian sigma, px, of coarsen_grain on a
    # frame's rendered noise, uniform, one draw per frame's look; (0, 0): off, and nothing is drawn


# ---------------------------------------------------------------------------------- noise profiles


def load_noise_profile(name: str) -> NoiseProfile:
    """A hardware_profiles noise profile by name or path; DeblurnetError when unknown or unreadable."""
    try:
        return load_profile(name)
    except Exception as exc:  # ProfileError or anything bad in the file: one clear line
        raise DeblurnetError(f"noise profile '{name}': {exc}") from exc


def load_all_profiles() -> list[NoiseProfile]:
    """Every noise profile hardware_profiles knows: the measured cameras and the generic law."""
    return [load_noise_profile(name) for name in list_profiles()]


def _rggb_params(profile: NoiseProfile, iso: float) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of ``profile`` at ``iso``, reordered to RGGB tile order, each (4,) float32."""
    a, b = (np.asarray(v, dtype=np.float32).reshape(4) for v in profile.params(iso))
    cfa = str(profile.cfa or _RGGB).upper()
    if sorted(cfa) != sorted(_RGGB):
        return a, b
    order, used = [], set()
    for letter in _RGGB:
        k = next(i for i, c in enumerate(cfa) if c == letter and i not in used)
        used.add(k)
        order.append(k)
    return a[order], b[order]


def sample_noise_params(params: CameraParams, profile: NoiseProfile, rng: np.random.Generator
                        ) -> dict[str, Any]:
    """Exposure and noise of one pair: t, g, r, ISOs, a/b (4,) of short and long (RGGB order), row sigmas."""
    t = log_uniform(rng, *params.time_ratio)
    lo, hi = (float(v) for v in profile.iso_range)
    if params.mild_prob > 0 and rng.random() < params.mild_prob:  # no draw at 0: older sets rebuild
        # The camera raised the ISO by the whole time ratio: a normally exposed high-ISO frame, whose
        # noise is mild (real high-ISO JPEGs such as PolyU's: high-pass std about 0.013, below the
        # 10th percentile of the other draws).
        iso_s = log_uniform(rng, min(lo / t, hi), hi) if hi > lo else lo
        g = max(1.0, min(1.0 / t, iso_s / lo))
    else:
        iso_s = log_uniform(rng, lo, hi) if hi > lo else lo
        top = max(1.0, min(1.0 / t, iso_s / lo))
        if params.long_base_iso_prob > 0 and rng.random() < params.long_base_iso_prob:
            g = top  # the long frame at base ISO (or as near as the time ratio allows), as burstcap shoots
        else:
            g = log_uniform(rng, 1.0, top)
    iso_l = iso_s / g
    a_s, b_s = _rggb_params(profile, iso_s)
    a_l, b_l = _rggb_params(profile, iso_l)
    return {"a_short": a_s, "b_short": b_s, "a_long": a_l, "b_long": b_l,
            "row_short": float(profile.row_sigma(iso_s)), "row_long": float(profile.row_sigma(iso_l)),
            "time_ratio": t, "gain": g, "level_ratio": t * g, "iso_short": iso_s, "iso_long": iso_l}


def rgb_of_rggb(values: np.ndarray) -> np.ndarray:
    """(4,) RGGB tile values -> (3,) R, G (mean of both), B."""
    v = np.asarray(values, np.float32)
    return np.array([v[0], 0.5 * (v[1] + v[2]), v[3]], np.float32)


# ------------------------------------------------------------------------------------- raw pipeline


def mosaic_rggb(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> (H, W) RGGB mosaic, float32."""
    m = np.empty(rgb.shape[:2], dtype=np.float32)
    m[0::2, 0::2] = rgb[0::2, 0::2, 0]
    m[0::2, 1::2] = rgb[0::2, 1::2, 1]
    m[1::2, 0::2] = rgb[1::2, 0::2, 1]
    m[1::2, 1::2] = rgb[1::2, 1::2, 2]
    return m


def tile_map(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(4,) per-CFA-position values (raster order of the 2x2 tile) -> (H, W) float32 map."""
    h, w = shape
    tile = np.asarray(values, dtype=np.float32).reshape(2, 2)
    return np.tile(tile, ((h + 1) // 2, (w + 1) // 2))[:h, :w]


def white_balance(mosaic: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """RGGB (H, W) times the (3,) gains per site, clipped above at 1 (as isp.develop does)."""
    gains = tile_map(np.array([wb[0], wb[1], wb[1], wb[2]], dtype=np.float32), mosaic.shape)
    return np.minimum(mosaic * gains, np.float32(1.0))


def demosaic_bilinear(mosaic: np.ndarray) -> np.ndarray:
    """RGGB (H, W) float32 -> (H, W, 3) float32 by bilinear interpolation (same as cv2's Bayer bilinear)."""
    h, w = mosaic.shape
    rb = np.zeros((h, w, 2), dtype=np.float32)
    rb[0::2, 0::2, 0] = mosaic[0::2, 0::2]
    rb[1::2, 1::2, 1] = mosaic[1::2, 1::2]
    g = mosaic.copy()
    g[0::2, 0::2] = 0.0
    g[1::2, 1::2] = 0.0
    rb = cv2.filter2D(rb, -1, _K_RB, borderType=cv2.BORDER_REFLECT_101)
    g = cv2.filter2D(g, -1, _K_G, borderType=cv2.BORDER_REFLECT_101)
    return np.dstack([rb[..., 0], g, rb[..., 1]])


def demosaic_edge_aware(mosaic: np.ndarray) -> np.ndarray:
    """RGGB (H, W) float32 in [0, 1] -> (H, W, 3) float32 by OpenCV's edge-aware demosaic (16-bit)."""
    u16 = np.clip(np.rint(mosaic * 65535.0), 0, 65535).astype(np.uint16)
    rgb = cv2.cvtColor(u16, cv2.COLOR_BayerBG2RGB_EA)  # OpenCV names RGGB "BayerBG"
    return rgb.astype(np.float32) * np.float32(1.0 / 65535.0)


def boost_highlights(lin: np.ndarray, gain: float) -> np.ndarray:
    """Linear (H, W, 3): the brightest parts (max channel above 0.8, smoothly) times up to ``gain``,
    so lamps and specular light exceed the white level, clip, and bloom when blurred."""
    if gain <= 1.0:
        return lin
    w = np.clip((lin.max(axis=2, keepdims=True) - 0.8) / 0.2, 0.0, 1.0)
    w = w * w * (3.0 - 2.0 * w)
    return lin * (1.0 + np.float32(gain - 1.0) * w)


def draw_highlight_gain(params: CameraParams, rng: np.random.Generator) -> float:
    """1.0, or (with ``highlight_prob``) a gain in ``highlight_gain`` for :func:`boost_highlights`."""
    if rng.random() >= params.highlight_prob:
        return 1.0
    return float(rng.uniform(*params.highlight_gain))


# ------------------------------------------------------------------------------ in-camera rendering


@dataclass(frozen=True)
class InCameraLook:
    """One frame's in-camera pipeline: white balance (3,), tone gamma, noise reduction, sharpening, JPEG."""

    wb: np.ndarray
    gamma: float
    chroma_sigma: float
    luma_nr: float
    sharpen: float
    quality: int
    edge_aware: bool
    fine_nr: float = 0.0
    grain: float = 0.0


def draw_look(params: CameraParams, wb: np.ndarray, rng: np.random.Generator) -> InCameraLook:
    """A random in-camera look around the white balance ``wb`` (3,)."""
    return InCameraLook(wb=wb, gamma=float(rng.uniform(*params.tone_gamma)),
                        chroma_sigma=float(rng.uniform(*params.chroma_nr)),
                        luma_nr=float(rng.uniform(*params.luma_nr)),
                        sharpen=float(rng.uniform(*params.sharpen)),
                        quality=int(rng.integers(params.jpeg_quality[0], params.jpeg_quality[1] + 1)),
                        edge_aware=bool(rng.random() < 0.5),
                        # no draw when off, so sets built before fine_nr existed rebuild the same
                        fine_nr=float(rng.uniform(*params.fine_nr)) if params.fine_nr[1] > 0 else 0.0,
                        grain=float(rng.uniform(*params.grain)) if params.grain[1] > 0 else 0.0)


def tone(lin: np.ndarray, gamma: float) -> np.ndarray:
    """Linear (H, W, 3) -> sRGB-encoded [0, 1] through the tone curve ``lin ** gamma``."""
    return srgb_encode(np.power(np.clip(lin, 0.0, 1.0), np.float32(gamma)))


def shrink_finest_scale(y: np.ndarray, strength: float) -> np.ndarray:
    """Wavelet-style noise reduction of a luma plane (H, W) float32: its finest scale (``y`` minus a
    Gaussian blur of 1 px, mostly periods under about 5 px) is soft-thresholded at ``strength`` times that
    scale's noise std, estimated as its median absolute value / 0.6745 (Donoho's estimate; on a
    strongly textured frame the texture inflates it); coarser scales are kept. Edges far above the
    threshold survive, less the threshold; fine grain goes and coarser grain stays, as a camera's
    noise reduction leaves it (docs/training.md compares the grain of real camera JPEGs and of the
    synthesis)."""
    coarse = cv2.GaussianBlur(y, (0, 0), 1.0)
    fine = y - coarse
    threshold = np.float32(strength * np.median(np.abs(fine)) / 0.6745)
    return coarse + np.sign(fine) * np.maximum(np.abs(fine) - threshold, np.float32(0.0))


GRAIN_BIAS_SCALE = 8.0
"""Gaussian sigma, px, of the local mean that :func:`coarsen_grain` keeps as it is."""


def coarsen_grain(noise: np.ndarray, sigma: float) -> np.ndarray:
    """Noise (H, W, 3) float32 with its grain made coarser: each channel's grain (the noise minus its
    local mean, a Gaussian of GRAIN_BIAS_SCALE px) blurred by a Gaussian of ``sigma`` px and scaled back
    to its own std; the local mean is kept as it is. The power moves from short periods to long ones
    at the same level, as in a camera JPEG whose multi-scale noise reduction removed the finest grain
    and left blotches a few pixels across (docs/training.md, "Coarser synthetic grain").

    The local mean is set apart because the rendered noise of :func:`render_in_camera` is not zero-mean
    where the rendering is not linear (the clip at 0 in deep shadows, the tone curve): scaled with the
    grain, it shifted flat fields at linear levels 0.02 to 0.2 by under 0.003 on average, 0.03 at most
    (sigma 1, 20 draws each). The runs of configs/deblur-rnn-coarse-grain.toml and -short.toml were
    trained before this, on the synthesis of commit 138c773 (unchanged at 00e73c4)."""
    if sigma <= 0:
        return noise
    bias = cv2.GaussianBlur(noise, (0, 0), GRAIN_BIAS_SCALE, borderType=cv2.BORDER_REFLECT_101)
    grain = noise - bias
    blurred = cv2.GaussianBlur(grain, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    scale = grain.std(axis=(0, 1)) / np.maximum(blurred.std(axis=(0, 1)), np.float32(1e-12))
    return bias + blurred * scale.astype(np.float32)


def develop_in_camera(raw: np.ndarray, look: InCameraLook, digital_gain: float = 1.0) -> np.ndarray:
    """A noisy RGGB mosaic (H, W) -> the camera's rendering before JPEG, (H, W, 3) float32 sRGB.

    Steps: digital gain, white balance and clip, demosaic, tone curve, chroma noise reduction (Gaussian
    blur of Cr/Cb: leaves low-frequency colour blotches), luma noise reduction (bilateral filter blended
    in), the finest luma scale's noise reduction (``look.fine_nr`` > 0, :func:`shrink_finest_scale`),
    unsharp masking of luma.
    """
    raw = raw * np.float32(digital_gain)
    mosaic = white_balance(np.maximum(raw, 0.0), look.wb)
    lin = demosaic_edge_aware(mosaic) if look.edge_aware else demosaic_bilinear(mosaic)
    ycc = cv2.cvtColor(tone(lin, look.gamma), cv2.COLOR_RGB2YCrCb)
    if look.chroma_sigma > 0.3:
        ycc[..., 1:] = cv2.GaussianBlur(ycc[..., 1:], (0, 0), look.chroma_sigma)
    y = ycc[..., 0].copy()
    if look.luma_nr > 0:
        smooth = cv2.bilateralFilter(y, 5, 0.08, 1.5)
        y = (1 - look.luma_nr) * y + look.luma_nr * smooth
    if look.fine_nr > 0:
        y = shrink_finest_scale(y, look.fine_nr)
    if look.sharpen > 0:
        y = y + np.float32(look.sharpen) * (y - cv2.GaussianBlur(y, (0, 0), 1.0))
    ycc[..., 0] = y
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """(H, W, 3) float32 sRGB -> 8 bits -> JPEG at ``quality`` -> decoded (H, W, 3) float32 [0, 1]."""
    u8 = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(u8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV always encodes an 8-bit image
        raise DeblurnetError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def render_in_camera(raw: np.ndarray, look: InCameraLook, digital_gain: float = 1.0,
                     clean_raw: np.ndarray | None = None) -> np.ndarray:
    """A noisy RGGB mosaic (H, W) -> the camera's 8-bit JPEG, decoded: (H, W, 3) float32 sRGB [0, 1].

    :func:`develop_in_camera`, then (``look.grain`` > 0) the rendered noise, this rendering minus that
    of ``clean_raw`` (the same mosaic without sensor noise, required then), made coarser by
    :func:`coarsen_grain`, then JPEG at ``look.quality``.
    """
    rgb = develop_in_camera(raw, look, digital_gain)
    if look.grain > 0:
        if clean_raw is None:
            raise DeblurnetError("render_in_camera: a look with grain > 0 needs the noise-free mosaic")
        clean = develop_in_camera(clean_raw, look, digital_gain)
        rgb = clean + coarsen_grain(rgb - clean, look.grain)
    return jpeg_roundtrip(rgb, look.quality)


def draw_white_balance(params: CameraParams, rng: np.random.Generator) -> np.ndarray:
    """White-balance gains (3,) float32: R and B drawn from ``wb_red`` and ``wb_blue``, G = 1."""
    return np.array([rng.uniform(*params.wb_red), 1.0, rng.uniform(*params.wb_blue)], dtype=np.float32)


def in_camera_noise(scene_lin: np.ndarray, params: CameraParams, profile: NoiseProfile,
                    rng: np.random.Generator) -> np.ndarray:
    """The emulated in-camera noise alone, (H, W, 3) float32: a short frame of the linear scene
    (H, W, 3) exposed, mosaicked and made noisy as :func:`camera_triplet` does, rendered through one
    in-camera look with and without its sensor noise, brightened in camera; the difference of the two
    JPEGs. Scene exposure fixed at 0.5 (the level ratio brings it back). Used to measure the grain of
    the synthesis (benchmarks/noise_spectrum.py --rendered-noise)."""
    wb = draw_white_balance(params, rng)
    noise = sample_noise_params(params, profile, rng)
    r = noise["level_ratio"]
    clean = np.minimum(mosaic_rggb(scene_lin * np.float32(0.5 * r) / wb), 1.0)
    noisy = np.minimum(sample_noisy(clean, noise["a_short"], noise["b_short"], rng,
                                    row_sigma=noise["row_short"]), 1.0)
    look = draw_look(params, wb, rng)
    clean_jpeg = jpeg_roundtrip(develop_in_camera(clean, look, 1.0 / r), look.quality)
    return render_in_camera(noisy, look, 1.0 / r, clean_raw=clean) - clean_jpeg


# ---------------------------------------------------------------------------------------- the pair


def _misalign(img: np.ndarray, params: CameraParams, rng: np.random.Generator) -> tuple[np.ndarray, list[float]]:
    """Small random rotation + shift about the centre, reflected borders; returns (image, [dx, dy, deg])."""
    dx, dy = rng.uniform(-params.max_shift_px, params.max_shift_px, size=2)
    deg = rng.uniform(-params.max_rotation_deg, params.max_rotation_deg)
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), float(deg), 1.0)
    m[:, 2] += (dx, dy)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out, [float(dx), float(dy), float(deg)]


def camera_triplet(sharp_lin: np.ndarray, blur_lin: np.ndarray, params: CameraParams, profile: NoiseProfile,
                   rng: np.random.Generator) -> Triplet:
    """A camera-like triplet from linear (H, W, 3) float32 sharp and blurred scenes (module docstring)."""
    if params.optics_prob > 0 and rng.random() < params.optics_prob:  # no draw at 0 (as above)
        sigma = float(rng.uniform(*params.optics_sigma))
        sharp_lin = cv2.GaussianBlur(sharp_lin, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
        blur_lin = cv2.GaussianBlur(blur_lin, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    else:
        sigma = 0.0
    k = log_uniform(rng, *params.exposure)
    wb = draw_white_balance(params, rng)
    noise = sample_noise_params(params, profile, rng)
    r = noise["level_ratio"]
    blur_lin, misalign = _misalign(blur_lin, params, rng)

    clean_long = mosaic_rggb(blur_lin * (k / wb))
    clean_short = mosaic_rggb(sharp_lin * (k * r / wb))
    raw_long = np.minimum(sample_noisy(clean_long, noise["a_long"], noise["b_long"], rng,
                                       row_sigma=noise["row_long"]), 1.0)
    raw_short = np.minimum(sample_noisy(clean_short, noise["a_short"], noise["b_short"], rng,
                                        row_sigma=noise["row_short"]), 1.0)
    meta: dict[str, Any] = {
        "exposure": k, "optics_sigma": sigma, "wb": wb.tolist(), "misalign": misalign, "time_ratio": noise["time_ratio"],
        "gain": noise["gain"], "iso_short": noise["iso_short"], "iso_long": noise["iso_long"],
        "a_short": noise["a_short"].tolist(), "b_short": noise["b_short"].tolist(),
        "a_long": noise["a_long"].tolist(), "b_long": noise["b_long"].tolist(),
        "row_short": noise["row_short"]}

    if rng.random() < params.processed_prob:
        look_long = draw_look(params, wb, rng)
        colour = np.exp(rng.normal(0.0, params.frame_colour, size=3)).astype(np.float32)
        colour[1] = 1.0
        look_short = draw_look(params, wb * colour, rng)
        look_short = dataclasses.replace(look_short,
                                         gamma=look_long.gamma * float(np.exp(rng.normal(0, params.frame_gamma))))
        in_camera_gain = r < params.dark_jpeg_min_ratio or rng.random() < 0.5
        long = render_in_camera(raw_long, look_long, clean_raw=np.minimum(clean_long, 1.0))
        short_jpeg = render_in_camera(raw_short, look_short, 1.0 / r if in_camera_gain else 1.0,
                                      clean_raw=np.minimum(clean_short, 1.0))
        try:
            ratio = estimate_ratio(long, short_jpeg)[0] * float(np.exp(rng.normal(0.0, params.ratio_error)))
        except IspError:  # a black 8-bit frame: a user would give --ratio; so does this sample
            ratio = 1.0 if in_camera_gain else 1.0 / r
        short, _ = match_colour(srgb_encode(srgb_decode(short_jpeg) * np.float32(ratio)), long)
        sharp = tone(sharp_lin * np.float32(k), look_long.gamma)
        noise_map = estimated_noise_map(short)
        meta.update(rendering="processed", in_camera_gain=in_camera_gain, jpeg_quality=look_short.quality,
                    gamma_long=look_long.gamma, gamma_short=look_short.gamma, frame_colour=colour.tolist(),
                    chroma_nr=look_short.chroma_sigma, noise_map="estimated")
        if params.grain[1] > 0:  # only when on: sets built before it existed keep their meta
            meta.update(grain=look_short.grain, grain_long=look_long.grain)
        return Triplet(short=short, long=long, sharp=sharp, ratio=ratio, noise=noise_map, meta=meta)

    shift = np.exp(rng.normal(0.0, params.colour_shift, size=3)).astype(np.float32)
    err = float(np.exp(rng.normal(0.0, params.ratio_error)))
    long = srgb_encode(demosaic_bilinear(white_balance(raw_long, wb)))
    short = srgb_encode(demosaic_bilinear(white_balance(raw_short, wb)) * (shift * np.float32(err / r)))
    short, gains = match_colour(short, long)
    sharp = srgb_encode(sharp_lin * np.float32(k))
    if rng.random() < params.estimated_map_prob:
        noise_map, source = estimated_noise_map(short), "estimated"
    else:
        shot, read = network_law(rgb_of_rggb(noise["a_short"]), rgb_of_rggb(noise["b_short"]), err / r * gains)
        noise_map, source = law_noise_map(short, shot, read), "law"
    meta.update(rendering="raw", colour_shift=shift.tolist(), ratio_error=err, noise_map=source)
    return Triplet(short=short, long=long, sharp=sharp, ratio=1.0 / r, noise=noise_map, meta=meta)


def sample_camera(frames: ImageCache, blur_frames: tuple[int, int], params: CameraParams,
                  profile: NoiseProfile, size: int | None, rng: np.random.Generator) -> Triplet:
    """Camera protocol on consecutive video frames: sharp = frame s, blur = linear mean of s+2..s+1+n."""
    sharp_u8, blur_u8, meta = draw_frames(frames, blur_frames, size, rng)
    highlight = draw_highlight_gain(params, rng)
    blur_lin = boost_highlights(u8_to_linear(blur_u8[0]), highlight).copy()
    for frame in blur_u8[1:]:
        blur_lin += boost_highlights(u8_to_linear(frame), highlight)
    blur_lin *= np.float32(1.0 / len(blur_u8))
    triplet = camera_triplet(boost_highlights(u8_to_linear(sharp_u8), highlight), blur_lin, params, profile, rng)
    triplet.meta = {"protocol": "camera", **meta, "highlight_gain": highlight, **triplet.meta}
    return triplet

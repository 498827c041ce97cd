"""Camera protocol: a short/long pair made the way a real sensor and `isp` would make it.

From linear-light sharp and blurred scenes (H, W, 3) float32 [0, 1]:
1. exposure level k ~ log-uniform[exposure]: scene = k * image; the long frame is "correctly" exposed;
2. to raw: divide by random white-balance gains (R, B >= 1, G = 1), mosaic as RGGB (identity colour
   matrix: no camera->sRGB mixing is modelled);
3. exposure-time ratio t = t_short / t_long ~ log-uniform[time_ratio]; the camera raises the short ISO by
   g in [1, 1/t], so the short raw level is r = t * g times the long one (r <= 1, isp scales by 1/r);
4. sensor noise per CFA channel, variance = a * x + b (x: normalised raw level), at the short ISO and at
   the long ISO: from a `hardware_profiles` profile when `profile` is set, else the generic law of
   Brooks et al. 2019 (a log-uniform in [1e-4, 0.012] at the short ISO, a_long = a_short / g,
   ln b = 2.18 ln a + 1.20 + N(0, 0.26), the same N(0, 0.26) draw for both frames), Gaussian
   approximation of Poisson-Gaussian noise;
5. clip at the white level (1.0), negatives kept; white balance per CFA site and clip at 1, bilinear
   demosaic (both as `isp.develop` does);
6. short frame: scaled by 1/r times a small ratio-estimation error, small per-channel colour shift;
   long frame: small sub-pixel misalignment (shift + rotation) against the short/sharp frames;
7. sRGB encode and clip to [0, 1]. Ground truth: the sharp scene at the long frame's exposure, clipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from deblurnet.errors import DeblurnetError
from deblurnet.synth.common import ImageCache, Triplet, log_uniform, srgb_encode, u8_to_linear
from deblurnet.synth.gopro2 import draw_frames

_K_RB = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float32) / 4.0
_K_G = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], dtype=np.float32) / 4.0
_RGGB = "RGGB"


@dataclass
class CameraParams:
    """Parameters of the camera protocol (ranges are sampled uniformly or log-uniformly per sample)."""

    profile: str | None = None                      # hardware_profiles name; None: generic law
    random_profiles: bool = False                   # draw one of all hardware_profiles per sample
    time_ratio: tuple[float, float] = (1 / 32, 1 / 2)   # t_short / t_long, log-uniform
    exposure: tuple[float, float] = (0.35, 1.3)     # k, scene brightness scale, log-uniform
    shot_a: tuple[float, float] = (1e-4, 0.012)     # generic law: a at the short ISO, log-uniform
    wb_red: tuple[float, float] = (1.6, 2.4)        # white-balance gain of red
    wb_blue: tuple[float, float] = (1.3, 2.0)       # white-balance gain of blue
    colour_shift: float = 0.03                      # std of the per-channel log gain on the short frame
    ratio_error: float = 0.04                       # std of the log error of the ratio estimate
    max_shift_px: float = 1.5                       # long-frame misalignment, uniform in +-this
    max_rotation_deg: float = 0.3                   # long-frame rotation, uniform in +-this


def _channel_params(profile: Any, iso: float) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of a hardware_profiles profile at `iso`, reordered to RGGB tile order, each (4,)."""
    a, b = profile.params(iso)
    a = np.asarray(a, dtype=np.float32).reshape(4)
    b = np.asarray(b, dtype=np.float32).reshape(4)
    cfa = str(getattr(profile, "cfa", _RGGB) or _RGGB).upper()
    if sorted(cfa) != sorted(_RGGB):
        return a, b
    order, used = [], set()
    for letter in _RGGB:
        k = next(i for i, c in enumerate(cfa) if c == letter and i not in used)
        used.add(k)
        order.append(k)
    return a[order], b[order]


def load_noise_profile(name: str) -> Any:
    """A hardware_profiles noise profile by name; DeblurnetError when unknown or unavailable."""
    try:
        from hardware_profiles import load_profile
    except ImportError as exc:
        raise DeblurnetError(f"noise profile '{name}': hardware_profiles.load_profile is unavailable") from exc
    try:
        return load_profile(name)
    except Exception as exc:  # ProfileError or anything bad in the file: one clear line
        raise DeblurnetError(f"noise profile '{name}': {exc}") from exc


def load_all_profiles() -> list[Any]:
    """Every noise profile hardware_profiles knows (for `random_profiles`)."""
    try:
        from hardware_profiles import list_profiles
    except ImportError as exc:
        raise DeblurnetError("random_profiles: hardware_profiles is unavailable") from exc
    return [load_noise_profile(name) for name in list_profiles()]


def sample_noise_params(params: CameraParams, profile: Any | None, rng: np.random.Generator
                        ) -> dict[str, Any]:
    """Exposure and noise parameters of one pair: t, g, r, a/b (4,) of short and long (RGGB order)."""
    t = log_uniform(rng, *params.time_ratio)
    if profile is None:
        g = log_uniform(rng, 1.0, 1.0 / t)
        a_s = log_uniform(rng, *params.shot_a)
        a_l = a_s / g
        eps = float(rng.normal(0.0, 0.26))
        b_s, b_l = (float(np.exp(2.18 * np.log(a) + 1.20 + eps)) for a in (a_s, a_l))
        out = {"a_short": np.full(4, a_s, np.float32), "b_short": np.full(4, b_s, np.float32),
               "a_long": np.full(4, a_l, np.float32), "b_long": np.full(4, b_l, np.float32)}
        iso_s = iso_l = 0.0
    else:
        lo, hi = (float(v) for v in profile.iso_range)
        iso_s = log_uniform(rng, lo, hi)
        g = log_uniform(rng, 1.0, max(1.0, min(1.0 / t, iso_s / lo)))
        iso_l = iso_s / g
        a_s, b_s = _channel_params(profile, iso_s)
        a_l, b_l = _channel_params(profile, iso_l)
        out = {"a_short": a_s, "b_short": b_s, "a_long": a_l, "b_long": b_l}
    out.update(time_ratio=t, gain=g, level_ratio=t * g, iso_short=iso_s, iso_long=iso_l)
    return out


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


def add_sensor_noise(mosaic: np.ndarray, a: np.ndarray, b: np.ndarray, rng: np.random.Generator
                     ) -> np.ndarray:
    """Heteroscedastic Gaussian noise, variance a*x + b per CFA position; (H, W) float32, unclipped."""
    var = tile_map(a, mosaic.shape) * np.maximum(mosaic, 0.0) + tile_map(b, mosaic.shape)
    return mosaic + np.sqrt(var) * rng.standard_normal(mosaic.shape, dtype=np.float32)


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


def _misalign(img: np.ndarray, params: CameraParams, rng: np.random.Generator) -> tuple[np.ndarray, list[float]]:
    """Small random rotation + shift about the centre, reflected borders; returns (image, [dx, dy, deg])."""
    dx, dy = rng.uniform(-params.max_shift_px, params.max_shift_px, size=2)
    deg = rng.uniform(-params.max_rotation_deg, params.max_rotation_deg)
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), float(deg), 1.0)
    m[:, 2] += (dx, dy)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out, [float(dx), float(dy), float(deg)]


def camera_triplet(sharp_lin: np.ndarray, blur_lin: np.ndarray, params: CameraParams, profile: Any | None,
                   rng: np.random.Generator) -> Triplet:
    """A camera-like triplet from linear (H, W, 3) float32 sharp and blurred scenes (module docstring)."""
    k = log_uniform(rng, *params.exposure)
    wb = np.array([rng.uniform(*params.wb_red), 1.0, rng.uniform(*params.wb_blue)], dtype=np.float32)
    noise = sample_noise_params(params, profile, rng)
    r = noise["level_ratio"]
    blur_lin, misalign = _misalign(blur_lin, params, rng)

    raw_long = mosaic_rggb(blur_lin * (k / wb))
    raw_short = mosaic_rggb(sharp_lin * (k * r / wb))
    raw_long = np.minimum(add_sensor_noise(raw_long, noise["a_long"], noise["b_long"], rng), 1.0)
    raw_short = np.minimum(add_sensor_noise(raw_short, noise["a_short"], noise["b_short"], rng), 1.0)

    shift = np.exp(rng.normal(0.0, params.colour_shift, size=3)).astype(np.float32)
    err = float(np.exp(rng.normal(0.0, params.ratio_error)))
    long = srgb_encode(demosaic_bilinear(white_balance(raw_long, wb)))
    short = srgb_encode(demosaic_bilinear(white_balance(raw_short, wb)) * (shift * np.float32(err / r)))
    sharp = srgb_encode(sharp_lin * np.float32(k))

    meta = {"exposure": k, "wb": wb.tolist(), "colour_shift": shift.tolist(), "ratio_error": err,
            "misalign": misalign, "time_ratio": noise["time_ratio"], "gain": noise["gain"],
            "iso_short": noise["iso_short"], "iso_long": noise["iso_long"],
            "a_short": noise["a_short"].tolist(), "b_short": noise["b_short"].tolist(),
            "a_long": noise["a_long"].tolist(), "b_long": noise["b_long"].tolist()}
    return Triplet(short=short, long=long, sharp=sharp, ratio=1.0 / r, meta=meta)


def sample_camera(frames: ImageCache, blur_frames: tuple[int, int], params: CameraParams,
                  profile: Any | None, size: int | None, rng: np.random.Generator) -> Triplet:
    """Camera protocol on consecutive video frames: sharp = frame s, blur = linear mean of s+2..s+1+n."""
    sharp_u8, blur_u8, meta = draw_frames(frames, blur_frames, size, rng)
    blur_lin = u8_to_linear(blur_u8[0]).copy()
    for frame in blur_u8[1:]:
        blur_lin += u8_to_linear(frame)
    blur_lin *= np.float32(1.0 / len(blur_u8))
    triplet = camera_triplet(u8_to_linear(sharp_u8), blur_lin, params, profile, rng)
    triplet.meta = {"protocol": "camera", **meta, **triplet.meta}
    return triplet

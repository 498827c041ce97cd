"""Stills protocol: hand-held camera shake (and optionally a moving object) rendered on a sharp still.

The camera rotates along a random walk (yaw, pitch, roll with momentum), rendered as homographies
K R K^-1 about the full image centre, so the blur varies across the frame (roll, perspective).
Time 0 is the short exposure (sharp, = ground truth pose); after a time lag (the paper's dropped
frame) the long exposure integrates the path in linear light, rendered as sub-frames at most `step_px`
apart and weighted by the time spent near each. Only the crop window is rendered
(the homography is composed with the window offset), so the cost does not depend on the image size.
An optional object (an elliptical patch cut from the same image) moves in a straight line
independently of the camera. A share ``sharp_long_prob`` of the long frames is shaken by only
``sharp_long_blur_px`` (a tripod, a steady hand); that share is drawn only when it is above 0, so
configs without it draw the same triplets. Noise and colour are then added by the camera protocol
(`camera.camera_triplet`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from hardware_profiles import NoiseProfile

from deblurnet.errors import DeblurnetError
from deblurnet.synth.camera import CameraParams, boost_highlights, camera_triplet, draw_highlight_gain
from deblurnet.synth.common import ImageCache, Triplet, crop_window, u8_to_linear

MAX_REDRAWS = 20
"""How many times :func:`sample_stills` draws another image when one is smaller than the crop."""


@dataclass
class StillsParams:
    """Parameters of the stills protocol."""

    fine_steps: int = 96                         # time steps of the simulated long exposure
    max_sub_frames: int = 16                     # most sub-frames rendered (speed bound)
    step_px: float = 1.5                         # rendered sub-frames are at most this far apart
    lag: tuple[float, float] = (0.03, 0.15)      # short -> long time lag, in long-exposure lengths
    blur_px: tuple[float, float] = (2.0, 24.0)   # shake extent during the long exposure at the centre, px
    roll_share: float = 0.3                      # roll extent at the crop edge relative to blur_px
    momentum: float = 0.95                       # random walk: velocity memory per fine step
    focal: tuple[float, float] = (0.8, 1.6)      # focal length in units of the image's larger side
    object_prob: float = 0.3                     # probability of an independently moving object
    object_size: tuple[float, float] = (0.15, 0.4)   # object diameter as a fraction of the crop
    object_motion_px: tuple[float, float] = (4.0, 40.0)  # object travel during the long exposure, px
    sharp_long_prob: float = 0.0                 # share of long frames held nearly still (tripod, steady hand)
    sharp_long_blur_px: tuple[float, float] = (0.0, 2.0)  # their shake extent during the long exposure, px


def shake_trajectory(steps: int, long_from: int, blur: float, params: StillsParams, crop: int,
                     rng: np.random.Generator) -> np.ndarray:
    """(steps, 3) camera pose per time step: [dx px, dy px, roll rad], pose 0 = (0, 0, 0).

    A random walk with momentum, scaled so that the (dx, dy) extent over steps long_from.. is `blur` px
    and roll moves the crop's edge by roll_share of it.
    """
    vel = rng.standard_normal(3)
    pos = np.zeros((steps, 3))
    for i in range(1, steps):
        vel = params.momentum * vel + rng.standard_normal(3)
        pos[i] = pos[i - 1] + vel
    span = pos[long_from:]
    extent_xy = max(float(np.ptp(span[:, 0])), float(np.ptp(span[:, 1])), 1e-6)
    extent_roll = max(float(np.ptp(span[:, 2])), 1e-6)
    pos[:, :2] *= blur / extent_xy
    pos[:, 2] *= params.roll_share * blur / extent_roll / (0.5 * crop)
    return pos


def pick_sub_frames(poses: np.ndarray, crop: int, step_px: float, max_frames: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Poses to render and their time weights (sum 1), consecutive picks at most ~step_px apart.

    Each fine time step is credited to the last picked pose, so slow parts of the path weigh more.
    The step grows when more than `max_frames` would be needed.
    """
    d = np.abs(np.diff(poses, axis=0))
    moves = np.maximum(np.hypot(d[:, 0], d[:, 1]), d[:, 2] * 0.5 * crop)
    step = max(step_px, float(moves.sum()) / max_frames)
    picked, weights, travelled = [0], [1.0], 0.0
    for i, move in enumerate(moves, start=1):
        travelled += move
        if travelled >= step:
            picked.append(i)
            weights.append(1.0)
            travelled = 0.0
        else:
            weights[-1] += 1.0
    w = np.array(weights)
    return np.array(picked), w / w.sum()


def pose_homography(pose: np.ndarray, focal: float, centre: tuple[float, float]) -> np.ndarray:
    """3x3 homography K R K^-1 of a camera rotated by (dx/f yaw, dy/f pitch, roll) about `centre`."""
    yaw, pitch, roll = pose[0] / focal, pose[1] / focal, pose[2]
    rot, _ = cv2.Rodrigues(np.array([pitch, -yaw, roll], dtype=np.float64))
    k = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]], dtype=np.float64)
    return k @ rot @ np.linalg.inv(k)


def render_window(img: np.ndarray, hom: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    """Warp uint8 `img` by `hom` (output pixel -> source pixel) into the (y, x, h, w) window only."""
    y, x, h, w = window
    offset = np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], dtype=np.float64)
    return cv2.warpPerspective(img, hom @ offset, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT_101)


def _object_layer(img: np.ndarray, crop: tuple[int, int], params: StillsParams,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An elliptical patch of `img` in linear light, premultiplied: ((p, p, 4) RGBA float32, velocity)."""
    ch, cw = crop
    p = max(4, int(rng.uniform(*params.object_size) * min(ch, cw)))
    h, w = img.shape[:2]
    y, x = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
    rgb = u8_to_linear(img[y:y + p, x:x + p])  # not boosted: objects are rarely light sources
    mask = np.zeros((p, p), dtype=np.float32)
    axes = (max(1, int(p * rng.uniform(0.3, 0.5))), max(1, int(p * rng.uniform(0.3, 0.5))))
    cv2.ellipse(mask, (p // 2, p // 2), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
    layer = np.dstack([rgb * mask[..., None], mask])
    angle = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(*params.object_motion_px)
    return layer, np.array([np.cos(angle), np.sin(angle)]) * speed


def sample_stills(images: ImageCache, params: StillsParams, camera: CameraParams, profile: NoiseProfile,
                  size: int | None, rng: np.random.Generator) -> Triplet:
    """Draw one stills triplet from a random image of `images`, cropped to `size` (None: full image)."""
    index = int(rng.integers(0, len(images)))
    img = images.get(index)
    # An image smaller than the crop (one SUN scene of stills/ is 512 x 213) is drawn again, up to
    # MAX_REDRAWS times; a crop that fits every image consumes no extra draw, so such configs draw the
    # same triplets as before this rule.
    redraws = 0
    while size is not None and min(img.shape[:2]) < size:
        if redraws == MAX_REDRAWS:
            raise DeblurnetError(f"crop size {size} is larger than {MAX_REDRAWS + 1} source images drawn in a "
                                 f"row (the last {images.files[index]}, {img.shape[1]}x{img.shape[0]}); "
                                 f"use a smaller crop or larger images")
        redraws += 1
        index = int(rng.integers(0, len(images)))
        img = images.get(index)
    h, w = img.shape[:2]
    # Near-sharp long frames (``sharp_long_prob``): the network must learn to take the long frame's
    # detail when it has it (on PolyU v4 lost 3.7 dB to a long frame nearly equal to the truth);
    # the extra draw happens only when the option is on, so earlier configs draw the same triplets.
    still = params.sharp_long_prob > 0 and rng.random() < params.sharp_long_prob
    blur = float(rng.uniform(*(params.sharp_long_blur_px if still else params.blur_px)))
    n = params.fine_steps
    lag = int(round(rng.uniform(*params.lag) * n))
    window = crop_window(rng, h, w, size, margin=int(max(params.blur_px[1], params.sharp_long_blur_px[1])) + 2)
    crop = window[2], window[3]
    poses = shake_trajectory(1 + lag + n, 1 + lag, blur, params, max(crop), rng)
    focal = float(rng.uniform(*params.focal)) * max(h, w)
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)

    highlight = draw_highlight_gain(camera, rng)
    layer, velocity = None, None
    if rng.random() < params.object_prob:
        layer, velocity = _object_layer(img, crop, params, rng)
        start = np.array([rng.uniform(0, crop[1]), rng.uniform(0, crop[0])]) - layer.shape[0] / 2.0

    def frame(pose: np.ndarray, t: float) -> np.ndarray:
        """Linear (h, w, 3) view at camera `pose` and time t (in long-exposure lengths)."""
        lin = boost_highlights(u8_to_linear(render_window(img, pose_homography(pose, focal, centre), window)),
                               highlight)
        if layer is not None:
            ox, oy = start + velocity * t
            m = np.array([[1, 0, ox], [0, 1, oy]], dtype=np.float64)
            obj = cv2.warpAffine(layer, m, (crop[1], crop[0]), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            lin = lin * (1.0 - obj[..., 3:]) + obj[..., :3]
        return lin

    sharp_lin = frame(poses[0], 0.0)
    picked, weights = pick_sub_frames(poses[1 + lag:], max(crop), params.step_px, params.max_sub_frames)
    blur_lin = np.zeros_like(sharp_lin)
    for i, wgt in zip(picked, weights):
        blur_lin = cv2.scaleAdd(frame(poses[1 + lag + i], (1 + lag + i) / n), float(wgt), blur_lin)
    triplet = camera_triplet(sharp_lin, blur_lin, camera, profile, rng)
    triplet.meta = {"protocol": "stills", "source": images.files[index].name, "window": list(window),
                    "blur_px": blur, "n_sub": len(picked), "lag": lag / n, "focal": focal,
                    "moving_object": layer is not None, "highlight_gain": highlight,
                    **triplet.meta}
    return triplet

"""Stills protocol: hand-held camera shake (and optionally a moving object) rendered on a sharp still.

The camera rotates along a random walk (yaw, pitch, roll with momentum), rendered as homographies
K R K^-1 about the full image centre, so the blur varies across the frame (roll, perspective).
Sub-frame 0 is the short exposure (sharp, = ground truth pose); after `lag` sub-frames (the paper's time
lag) the long exposure integrates `n` sub-frames in linear light. Only the crop window is rendered
(the homography is composed with the window offset), so the cost does not depend on the image size.
An optional object (an elliptical patch cut from the same image) moves in a straight line
independently of the camera. Noise and colour are then added by the camera protocol
(`camera.camera_triplet`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from deblurnet.synth.camera import CameraParams, camera_triplet
from deblurnet.synth.common import ImageCache, Triplet, crop_window, u8_to_linear


@dataclass
class StillsParams:
    """Parameters of the stills protocol."""

    sub_frames: tuple[int, int] = (6, 16)        # bounds of n, the sub-frames of the long exposure
    step_px: float = 2.0                         # n = blur / step_px within sub_frames (no ghosting)
    lag_frames: tuple[int, int] = (1, 3)         # sub-frames between the short and the long exposure
    blur_px: tuple[float, float] = (2.0, 30.0)   # shake extent during the long exposure at the centre, px
    roll_share: float = 0.3                      # roll extent at the crop edge relative to blur_px
    momentum: float = 0.7                        # random walk: velocity memory per sub-frame
    focal: tuple[float, float] = (0.8, 1.6)      # focal length in units of the image's larger side
    object_prob: float = 0.3                     # probability of an independently moving object
    object_size: tuple[float, float] = (0.15, 0.4)   # object diameter as a fraction of the crop
    object_motion_px: tuple[float, float] = (4.0, 40.0)  # object travel during the long exposure, px


def shake_trajectory(steps: int, long_from: int, blur: float, params: StillsParams, crop: int,
                     rng: np.random.Generator) -> np.ndarray:
    """(steps, 3) camera pose per sub-frame: [dx px, dy px, roll rad], pose 0 = (0, 0, 0).

    Scaled so that the (dx, dy) extent over sub-frames long_from.. is `blur` px, and roll moves the
    crop's edge by roll_share of it.
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
    rgb = u8_to_linear(img[y:y + p, x:x + p])
    mask = np.zeros((p, p), dtype=np.float32)
    axes = (max(1, int(p * rng.uniform(0.3, 0.5))), max(1, int(p * rng.uniform(0.3, 0.5))))
    cv2.ellipse(mask, (p // 2, p // 2), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
    layer = np.dstack([rgb * mask[..., None], mask])
    angle = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(*params.object_motion_px)
    return layer, np.array([np.cos(angle), np.sin(angle)]) * speed


def sample_stills(images: ImageCache, params: StillsParams, camera: CameraParams, profile: Any | None,
                  size: int | None, rng: np.random.Generator) -> Triplet:
    """Draw one stills triplet from a random image of `images`, cropped to `size` (None: full image)."""
    index = int(rng.integers(0, len(images)))
    img = images.get(index)
    h, w = img.shape[:2]
    blur = float(rng.uniform(*params.blur_px))
    n = int(np.clip(np.ceil(blur / params.step_px), *params.sub_frames))
    lag = int(rng.integers(params.lag_frames[0], params.lag_frames[1] + 1))
    window = crop_window(rng, h, w, size, margin=int(params.blur_px[1]) + 2)
    crop = window[2], window[3]
    steps = 1 + lag + n
    poses = shake_trajectory(steps, 1 + lag, blur, params, max(crop), rng)
    focal = float(rng.uniform(*params.focal)) * max(h, w)
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)

    layer, velocity = None, None
    if rng.random() < params.object_prob:
        layer, velocity = _object_layer(img, crop, params, rng)
        start = np.array([rng.uniform(0, crop[1]), rng.uniform(0, crop[0])]) - layer.shape[0] / 2.0

    def frame(i: int) -> np.ndarray:
        lin = u8_to_linear(render_window(img, pose_homography(poses[i], focal, centre), window))
        if layer is not None:
            ox, oy = start + velocity * (i / max(n - 1, 1))
            m = np.array([[1, 0, ox], [0, 1, oy]], dtype=np.float64)
            obj = cv2.warpAffine(layer, m, (crop[1], crop[0]), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            lin = lin * (1.0 - obj[..., 3:]) + obj[..., :3]
        return lin

    sharp_lin = frame(0)
    blur_lin = frame(1 + lag)
    for i in range(2 + lag, steps):
        blur_lin += frame(i)
    blur_lin *= np.float32(1.0 / n)
    triplet = camera_triplet(sharp_lin, blur_lin, camera, profile, rng)
    triplet.meta = {"protocol": "stills", "source": images.files[index].name, "window": list(window),
                    "blur_px": blur, "n_sub": n, "lag": lag, "focal": focal, "moving_object": layer is not None,
                    **triplet.meta}
    return triplet

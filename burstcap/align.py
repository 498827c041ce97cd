"""Global alignment of the long frame onto the short one.

Hand-held frames never line up exactly: between the end of the short exposure and the end of the long
one the camera moves a little. We estimate one global warp (homography by default) that maps pixel
coordinates of the *reference* (short) frame to the *moving* (long) frame, on downscaled luminance:

1. ORB features + RANSAC homography give an initial estimate (skipped when there are too few matches);
2. ECC (``cv2.findTransformECC``) refines it coarse-to-fine on Gaussian-smoothed luminance, which is
   robust to the short frame's noise and the long frame's blur;
3. the warp is checked (correlation, plausible geometry). When the check fails (a very noisy short
   frame against a strongly blurred long one lowers the correlation of true pairs too), the alignment
   falls back to a translation, then to no warp, whichever still shows the same scene: the *scene
   similarity* (correlation after a strong blur, which removes most noise and motion blur) is at least
   ``min_scene_similarity``; the result carries a ``warning``. Only frames that clearly show different
   scenes are refused with :class:`AlignmentError`.

Images given to this module are float32 (H, W, 3) or (H, W), any brightness scale: they are normalised
internally, so pass the short frame already multiplied by the exposure ratio or not, as convenient.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from burstcap.errors import BurstcapError

log = logging.getLogger(__name__)

Motion = Literal["homography", "affine", "translation"]

_MOTION_FLAGS: dict[str, int] = {
    "homography": cv2.MOTION_HOMOGRAPHY,
    "affine": cv2.MOTION_AFFINE,
    "translation": cv2.MOTION_TRANSLATION,
}


#: ECC stops when the warp changes by less than this (its parameters; for the shift, px of the level)
#: or after this many iterations per level. Tighter settings gave the same warps (within 0.01 px on
#: 1280x720 pairs with a known warp) at twice the time.
ECC_EPS = 1e-3
ECC_ITERATIONS = 30


class AlignmentError(BurstcapError):
    """The two frames could not be aligned (too different, or no usable structure)."""


@dataclass(frozen=True)
class AlignOptions:
    """How to align a pair.

    ``max_side``: the longest side (px) of the finest ECC level; ``min_correlation``: correlation
    (zero-mean normalised, in [-1, 1]) below which the estimated warp is not trusted and the fallbacks
    are tried; ``min_scene_similarity``: below this the frames are taken for different scenes and
    refused; ``max_shift``: largest corner displacement accepted, as a fraction of the image diagonal.
    """

    motion: Motion = "homography"
    max_side: int = 1024
    min_correlation: float = 0.6
    min_scene_similarity: float = 0.5
    max_shift: float = 0.2
    use_features: bool = True


@dataclass(frozen=True)
class Alignment:
    """A global warp from reference (short) pixel coordinates to moving (long) pixel coordinates.

    ``warp``: (3, 3) float64 homography at full resolution, x_moving ~ warp @ (x_ref, y_ref, 1).
    ``correlation``: ECC correlation coefficient after alignment (1 = identical up to gain/offset).
    ``residual``: RMS luminance difference after alignment on the downscaled, normalised images
    (fraction of the reference's 1..99 percentile range), over pixels both frames cover.
    ``shift_px``: mean displacement of the four image corners, full-resolution pixels.
    ``method``: "orb+ecc", "ecc", "identity" (when alignment was skipped), or after an unsure estimate
    "translation (fallback)" / "identity (fallback)", with a one-line ``warning`` saying so.
    """

    warp: np.ndarray
    correlation: float
    residual: float
    shift_px: float
    method: str
    warning: str | None = None

    @staticmethod
    def identity() -> "Alignment":
        return Alignment(np.eye(3), 1.0, 0.0, 0.0, "identity")


def luminance(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 Rec.709 luminance of an (H, W, 3) image (or the image itself when (H, W))."""
    if image.ndim == 2:
        return image.astype(np.float32, copy=False)
    weights = np.array([0.2126, 0.7152, 0.0722], np.float32)
    return (image[..., :3].astype(np.float32, copy=False) @ weights).astype(np.float32)


def _normalise(lum: np.ndarray) -> np.ndarray:
    """Map the 1st..99th percentile range to 0..1 and apply a square-root (perceptual-ish) curve."""
    lo, hi = np.percentile(lum, [1.0, 99.0])
    scaled = np.clip((lum - lo) / max(float(hi - lo), 1e-8), 0.0, 1.0)
    return np.sqrt(scaled).astype(np.float32)


def _scale_matrix(scale: float) -> np.ndarray:
    """Maps full-resolution pixel coordinates to those of an image resized by ``scale`` (cv2 centres)."""
    offset = 0.5 * scale - 0.5
    return np.array([[scale, 0.0, offset], [0.0, scale, offset], [0.0, 0.0, 1.0]])


def _rescale_warp(warp: np.ndarray, from_scale: float, to_scale: float) -> np.ndarray:
    """A warp valid for images at ``from_scale`` expressed for images at ``to_scale``."""
    convert = _scale_matrix(to_scale) @ np.linalg.inv(_scale_matrix(from_scale))
    out = convert @ warp @ np.linalg.inv(convert)
    return out / out[2, 2]


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _feature_warp(ref: np.ndarray, mov: np.ndarray) -> np.ndarray | None:
    """ORB + RANSAC homography ref -> mov on (h, w) float [0, 1] images; None when unreliable."""
    orb = cv2.ORB_create(nfeatures=3000)
    ref8 = (ref * 255).astype(np.uint8)
    mov8 = (mov * 255).astype(np.uint8)
    # Smooth first: ORB on the noisy short frame would describe the noise.
    ref8 = cv2.GaussianBlur(ref8, (0, 0), 1.5)
    mov8 = cv2.GaussianBlur(mov8, (0, 0), 1.5)
    kp_ref, des_ref = orb.detectAndCompute(ref8, None)
    kp_mov, des_mov = orb.detectAndCompute(mov8, None)
    if des_ref is None or des_mov is None or len(kp_ref) < 12 or len(kp_mov) < 12:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(des_ref, des_mov)
    if len(matches) < 12:
        return None
    src = np.float32([kp_ref[m.queryIdx].pt for m in matches])
    dst = np.float32([kp_mov[m.trainIdx].pt for m in matches])
    warp, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
    if warp is None or inliers is None or int(inliers.sum()) < max(12, 0.2 * len(matches)):
        return None
    return warp / warp[2, 2]


def _to_motion(warp: np.ndarray, motion: Motion) -> np.ndarray:
    """The (2, 3) or (3, 3) float32 matrix ECC expects for ``motion``, from a full homography."""
    if motion == "homography":
        return warp.astype(np.float32)
    if motion == "affine":
        return warp[:2].astype(np.float32)
    out = np.eye(2, 3, dtype=np.float32)
    out[:, 2] = warp[:2, 2]
    return out


def _from_motion(matrix: np.ndarray) -> np.ndarray:
    warp = np.eye(3)
    warp[: matrix.shape[0]] = matrix
    return warp / warp[2, 2]


def _corners(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """(4, 3) float64: the corners of the pixel rectangle [x0, x1] x [y0, y1], homogeneous (x, y, 1)."""
    return np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], np.float64)


def corner_shift(warp: np.ndarray, shape: tuple[int, int]) -> float:
    """Mean displacement (px) of the four corners of an (H, W) image under ``warp``."""
    h, w = shape
    corners = _corners(0, 0, w - 1, h - 1)
    moved = corners @ warp.T
    moved = moved[:, :2] / moved[:, 2:3]
    return float(np.linalg.norm(moved - corners[:, :2], axis=1).mean())


def _plausible(warp: np.ndarray, shape: tuple[int, int], max_shift: float) -> bool:
    h, w = shape
    if not np.all(np.isfinite(warp)):
        return False
    linear = warp[:2, :2]
    det = float(np.linalg.det(linear))
    if not 0.5 < det < 2.0 or abs(float(warp[2, 0]) * w) > 0.3 or abs(float(warp[2, 1]) * h) > 0.3:
        return False
    return corner_shift(warp, shape) <= max_shift * float(np.hypot(h, w))


def _ecc(ref: np.ndarray, mov: np.ndarray, warp: np.ndarray, motion: Motion) -> tuple[float, np.ndarray]:
    """One ECC refinement at the images' own scale; raises cv2.error when it does not converge."""
    matrix = _to_motion(warp, motion)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_ITERATIONS, ECC_EPS)
    corr, matrix = cv2.findTransformECC(ref, mov, matrix, _MOTION_FLAGS[motion], criteria, None, 5)
    return float(corr), _from_motion(matrix)


def _masked_scores(ref: np.ndarray, mov: np.ndarray, warp: np.ndarray) -> tuple[float, float]:
    """(correlation, RMS residual) of ``ref`` against ``mov`` warped onto it, where both exist."""
    h, w = ref.shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpPerspective(mov, warp, (w, h), flags=flags)
    mask = cv2.warpPerspective(np.ones_like(mov), warp, (w, h), flags=flags) > 0.999
    if mask.sum() < 64:
        return 0.0, 1.0
    a = cv2.GaussianBlur(ref, (0, 0), 1.0)[mask].astype(np.float64)
    b = cv2.GaussianBlur(warped, (0, 0), 1.0)[mask].astype(np.float64)
    a0, b0 = a - a.mean(), b - b.mean()
    corr = float((a0 * b0).sum() / max(np.sqrt((a0**2).sum() * (b0**2).sum()), 1e-12))
    return corr, float(np.sqrt(np.mean((a - b) ** 2)))


def scene_similarity(ref: np.ndarray, mov: np.ndarray, warp: np.ndarray) -> float:
    """Correlation of two (h, w) luminance images after ``warp`` and a Gaussian blur of 1% of the
    larger side (at least 2 px): noise and motion blur mostly gone, the scene's layout left."""
    sigma = max(2.0, 0.01 * max(ref.shape))
    blur = lambda x: cv2.GaussianBlur(x, (0, 0), sigma)  # noqa: E731
    return _masked_scores(blur(ref), blur(mov), warp)[0]


def _fallback(ref: np.ndarray, mov: np.ndarray, fine: float, shape: tuple[int, int], opts: AlignOptions,
              corr: float) -> Alignment:
    """When the estimated warp is not trusted: a translation (ECC on blurred quarter-size images),
    else no warp, the first whose scene similarity reaches ``opts.min_scene_similarity``."""
    candidates: list[tuple[np.ndarray, str]] = []
    quarter = 0.25 if 0.25 * min(ref.shape) >= 32 else 1.0
    small_ref, small_mov = (cv2.GaussianBlur(_resize(x, quarter), (0, 0), 1.5) for x in (ref, mov))
    try:
        _, shift = _ecc(small_ref, small_mov, np.eye(3), "translation")
        shift = _rescale_warp(shift, quarter, 1.0)
        if _plausible(_rescale_warp(shift, fine, 1.0), shape, opts.max_shift):
            candidates.append((shift, "translation (fallback)"))
    except cv2.error:
        pass
    candidates.append((np.eye(3), "identity (fallback)"))
    best = -1.0
    for warp, method in candidates:
        similarity = scene_similarity(ref, mov, warp)
        best = max(best, similarity)
        if similarity >= opts.min_scene_similarity:
            full = _rescale_warp(warp, fine, 1.0)
            c, residual = _masked_scores(ref, mov, warp)
            kind = method.split()[0]
            return Alignment(full, c, residual, corner_shift(full, shape), method, warning=(
                f"alignment unsure (correlation {corr:.2f} < {opts.min_correlation:.2f} or implausible "
                f"motion): used {'a ' + kind if kind == 'translation' else 'no warp'} instead"))
    raise AlignmentError(
        f"the two frames show different scenes (scene similarity {best:.2f} < "
        f"{opts.min_scene_similarity:.2f} even after a strong blur): check that SHORT and LONG are a pair")


def estimate_alignment(reference: np.ndarray, moving: np.ndarray,
                       options: AlignOptions | None = None) -> Alignment:
    """The warp taking ``reference`` pixel coordinates to ``moving`` ones (see :class:`Alignment`).

    ``reference``, ``moving``: float (H, W, 3) or (H, W), same size, any linear or encoded scale.
    Raises :class:`AlignmentError` when the frames differ in size or cannot be matched.
    """
    opts = options or AlignOptions()
    if reference.shape[:2] != moving.shape[:2]:
        raise AlignmentError(f"frames differ in size: {reference.shape[1]}x{reference.shape[0]} "
                             f"against {moving.shape[1]}x{moving.shape[0]}")
    shape = reference.shape[:2]
    fine = min(1.0, opts.max_side / max(shape))
    ref_fine = _normalise(_resize(luminance(reference), fine))  # reduced first: no full-size work
    mov_fine = _normalise(_resize(luminance(moving), fine))

    warp, method = np.eye(3), "ecc"
    if opts.use_features:
        features = _feature_warp(ref_fine, mov_fine)
        if features is not None and _plausible(_rescale_warp(features, fine, 1.0), shape, opts.max_shift):
            warp, method = features, "orb+ecc"

    # Coarse-to-fine ECC: each level starts from the previous level's warp.
    scales = [fine * s for s in (0.125, 0.25, 0.5, 1.0) if fine * s * min(shape) >= 48]
    scales = scales or [fine]
    current = fine
    for scale in scales:
        warp = _rescale_warp(warp, current, scale)
        current = scale
        factor = scale / fine
        ref_s, mov_s = _resize(ref_fine, factor), _resize(mov_fine, factor)
        try:
            _, refined = _ecc(ref_s, mov_s, warp, opts.motion)
        except cv2.error:
            log.debug("ECC did not converge at scale %.3f; keeping the previous estimate", scale)
            continue
        if _plausible(_rescale_warp(refined, scale, 1.0), shape, opts.max_shift):
            warp = refined
    warp = _rescale_warp(warp, current, fine)

    corr, residual = _masked_scores(ref_fine, mov_fine, warp)
    full = _rescale_warp(warp, fine, 1.0)
    if _plausible(full, shape, opts.max_shift) and corr >= opts.min_correlation:
        result = Alignment(full, corr, residual, corner_shift(full, shape), method)
    else:
        result = _fallback(ref_fine, mov_fine, fine, shape, opts, corr)
    log.info("aligned (%s): correlation %.3f, residual %.4f, corner shift %.2f px",
             method, corr, residual, result.shift_px)
    return result


def warp_image(moving: np.ndarray, alignment: Alignment, fill: np.ndarray | None = None) -> np.ndarray:
    """``moving`` (H, W, C) or (H, W) float32 resampled onto the reference grid (bilinear).

    Pixels the moving frame does not cover take their value from ``fill`` (same shape) when given,
    else replicate the border.
    """
    if alignment.method == "identity":
        return moving
    h, w = moving.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpPerspective(moving, alignment.warp, (w, h), flags=flags,
                                 borderMode=cv2.BORDER_REPLICATE)
    if fill is not None:
        for rows, cols in _border_strips(alignment.warp, h, w):
            cover = _coverage(alignment.warp, rows, cols, h, w)
            edge = cover < 1.0  # only the border the warp uncovered
            if edge.any():
                c = cover[edge].reshape(-1, *([1] * (moving.ndim - 2)))
                out, src = warped[rows, cols], fill[rows, cols]
                out[edge] = c * out[edge] + (1.0 - c) * src[edge]
    return warped.astype(np.float32, copy=False)


def _border_strips(warp: np.ndarray, h: int, w: int) -> list[tuple[slice, slice]]:
    """(rows, cols) of the strips along the border outside of which every reference pixel's source
    (``warp`` applied to it) lies inside the moving frame: the only places the warp can uncover.

    The band is as wide as the largest corner displacement plus 2 px. That it suffices is checked, not
    assumed: where the homography keeps the whole frame in front of the camera (positive w at the
    corners), it maps the inner rectangle to a convex quadrilateral, which lies inside the frame when
    its four corners do. Otherwise the whole frame is one strip.
    """
    corners = _corners(0, 0, w - 1, h - 1)
    mapped = corners @ warp.T
    whole = [(slice(0, h), slice(0, w))]
    if np.any(mapped[:, 2] <= 0):
        return whole
    band = int(np.ceil(np.abs(mapped[:, :2] / mapped[:, 2:] - corners[:, :2]).max())) + 2
    if 2 * band >= min(h, w):
        return whole
    inner = _corners(band, band, w - 1 - band, h - 1 - band) @ warp.T
    xy = inner[:, :2] / inner[:, 2:]
    if np.any(inner[:, 2] <= 0) or xy[:, 0].min() < 1 or xy[:, 1].min() < 1 or \
            xy[:, 0].max() > w - 2 or xy[:, 1].max() > h - 2:
        return whole
    return [(slice(0, band), slice(0, w)), (slice(h - band, h), slice(0, w)),
            (slice(band, h - band), slice(0, band)), (slice(band, h - band), slice(w - band, w))]


def _coverage(warp: np.ndarray, rows: slice, cols: slice, h: int, w: int) -> np.ndarray:
    """How much of each reference pixel of the strip (rows, cols) the moving frame (h, w) covers, in
    [0, 1]: ``cv2.warpPerspective`` of an all-ones frame, computed from the part of the frame the strip
    samples (its source's bounding box plus 2 px) rather than a full-size array. (OpenCV quantises the
    full frame's values to 1/1024; the cropped ones come out nearer the exact bilinear coverage, up to
    1.2e-3 apart at 24 MP.)"""
    y0, y1, x0, x1 = rows.start, rows.stop, cols.start, cols.stop
    corners = _corners(x0, y0, x1 - 1, y1 - 1) @ warp.T
    if np.any(corners[:, 2] <= 0):  # part of the strip maps behind the camera: no bounding box, whole frame
        sx0, sy0, sx1, sy1 = 0, 0, w - 1, h - 1
    else:
        xy = corners[:, :2] / corners[:, 2:]
        sx0, sy0 = (max(0, int(np.floor(v)) - 2) for v in xy.min(axis=0))
        sx1, sy1 = min(w - 1, int(np.ceil(xy[:, 0].max())) + 2), min(h - 1, int(np.ceil(xy[:, 1].max())) + 2)
    if sx1 < sx0 or sy1 < sy0:  # the strip's source lies wholly outside the frame
        return np.zeros((y1 - y0, x1 - x0), np.float32)
    to_strip = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    from_crop = np.array([[1.0, 0.0, -sx0], [0.0, 1.0, -sy0], [0.0, 0.0, 1.0]])
    ones = np.ones((sy1 - sy0 + 1, sx1 - sx0 + 1), np.float32)
    return cv2.warpPerspective(ones, from_crop @ warp @ to_strip, (x1 - x0, y1 - y0),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def align(reference: np.ndarray, moving: np.ndarray, options: AlignOptions | None = None,
          fill: np.ndarray | None = None) -> tuple[np.ndarray, Alignment]:
    """Estimate the warp and return ``(moving warped onto reference, alignment)``."""
    alignment = estimate_alignment(reference, moving, options)
    return warp_image(moving, alignment, fill), alignment

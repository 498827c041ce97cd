"""Synthetic RAW frames with known noise, for the calibration tests (test-only: moved out of the
package, where nothing used it).

A :class:`SensorModel` holds the truth (per-CFA-position ``a``, ``b`` in normalised units, row
noise, fixed pattern, an unrecorded black-level offset); :meth:`SensorModel.frame_adu` renders a
clean normalised image into uint16 ADU as a camera would, with clipping at the white level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hardware_profiles.sampling import sample_noisy


@dataclass(frozen=True)
class SensorModel:
    """Truth of a simulated sensor at one ISO.

    a, b: (4,) shot gain and read variance per CFA position (normalised units).
    row_sigma: temporal per-row offset sigma; dsnu_sigma: fixed per-pixel offset sigma;
    prnu: fixed per-pixel gain spread (relative); black_offset_adu: black level error not recorded
    in the file (what a dark frame measures). Fixed patterns are seeded by ``pattern_seed`` so every
    frame of one sensor shares them.
    """

    a: tuple[float, float, float, float]
    b: tuple[float, float, float, float]
    black: int = 512
    white: int = 16383
    row_sigma: float = 0.0
    dsnu_sigma: float = 0.0
    prnu: float = 0.0
    black_offset_adu: float = 0.0
    pattern_seed: int = 7

    def fixed_patterns(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(offset (H, W), gain (H, W)) fixed per-pixel patterns of this sensor."""
        rng = np.random.default_rng(self.pattern_seed)
        offset = rng.standard_normal(shape) * self.dsnu_sigma
        gain = 1.0 + rng.standard_normal(shape) * self.prnu
        return offset, gain

    def frame_adu(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Clean mosaic (H, W) normalised [0, 1+] -> noisy uint16 ADU mosaic, clipped to [0, white]."""
        offset, gain = self.fixed_patterns(clean.shape)
        noisy = sample_noisy(clean * gain, np.array(self.a), np.array(self.b), rng,
                             row_sigma=self.row_sigma).astype(np.float64) + offset
        adu = noisy * (self.white - self.black) + self.black + self.black_offset_adu
        return np.clip(np.rint(adu), 0, self.white).astype(np.uint16)


def vignetted_flat(shape: tuple[int, int], level: float, falloff: float = 0.1) -> np.ndarray:
    """A flat field (H, W) of mean about ``level`` with a radial fall-off of ``falloff`` at corners."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2
    return level * (1.0 - falloff * r2 / 2.0)


def smooth_scene(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A smooth test scene (H, W) in [0.005, 0.9]: gradients and blurred blobs, plus a few edges."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w]).reshape(2, 1, 1)
    scene = 0.005 + 0.85 * xx * (0.3 + 0.7 * yy)
    for _ in range(4):
        cy, cx, s = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.08, 0.2)
        scene += rng.uniform(-0.1, 0.1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    scene[h // 3: h // 3 + 4, :] += 0.2  # a thin bright bar: edges the estimator must ignore
    return np.clip(scene, 0.005, 0.9)

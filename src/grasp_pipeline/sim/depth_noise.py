"""Depth-sensor noise for simulated RealSense frames.

Model (applied to a metric depth image in metres, NaN = no return):
1. Axial noise with sigma = ``sigma_z2 * z^2``: for stereo (D435) the RMS error is
   z^2 * subpixel / (focal_px * baseline); with 0.08 px subpixel accuracy, the 848-px-wide depth
   imager's ~425 px focal length and a 50 mm baseline this is ~3.8e-3 z^2 (1 mm at 0.5 m). The SR300
   (coded light) is quoted at ~1 mm at 0.5 m as well, we use 4e-3 for both.
2. Missing depth at depth discontinuities (stereo occlusion / mixed pixels): pixels whose
   4-neighbourhood spans more than ``edge_jump_m`` are dropped with ``edge_drop_prob``; the band is
   widened by ``edge_band_px`` pixels.
3. Missing depth on dark surfaces (little texture or IR reflectance): drop probability rises
   linearly from 0 at luminance ``dark_level`` to ``dark_drop_prob`` at black.
4. Random speckle dropouts with ``speckle_prob``; returns outside ``range_m`` are invalid.
5. Quantisation to the driver's depth unit happens when converting to uint16 (:func:`to_driver_units`).
All randomness comes from the caller's ``numpy.random.Generator`` so frames are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grasp_pipeline.geometry.camera import DEPTH_RANGE_M


@dataclass(frozen=True)
class DepthNoiseModel:
    """Parameters of the simulated depth noise (metres, probabilities in 0..1, luminance 0..255)."""

    sigma_z2: float = 4.0e-3
    edge_jump_m: float = 0.01
    edge_band_px: int = 1
    edge_drop_prob: float = 0.6
    dark_level: float = 40.0
    dark_drop_prob: float = 0.5
    speckle_prob: float = 0.002
    range_m: tuple[float, float] = (0.105, 10.0)

    def __post_init__(self) -> None:
        for name in ("edge_drop_prob", "dark_drop_prob", "speckle_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"DepthNoiseModel.{name} must be in [0, 1], got {value}")
        if self.sigma_z2 < 0 or self.edge_jump_m <= 0 or self.edge_band_px < 0:
            raise ValueError("DepthNoiseModel: sigma_z2, edge_jump_m and edge_band_px must be >= 0")

    @classmethod
    def for_camera(cls, model: str) -> DepthNoiseModel:
        """Noise of a RealSense model (``d435`` or ``sr300``); ranges from geometry.camera."""
        key = model.lower()
        if key not in DEPTH_RANGE_M:
            raise ValueError(
                f"no depth noise model for camera {model!r}; known: {sorted(DEPTH_RANGE_M)}"
            )
        return cls(range_m=DEPTH_RANGE_M[key])

    def apply(self, depth_m: np.ndarray, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy copy of ``depth_m`` (H, W) metres given the colour image (H, W, 3) uint8."""
        import cv2

        z = np.asarray(depth_m, dtype=np.float64)
        if z.ndim != 2 or rgb.shape[:2] != z.shape:
            raise ValueError(f"depth {z.shape} and rgb {rgb.shape} must be (H, W) and (H, W, 3)")
        valid = np.isfinite(z)
        out = z + rng.standard_normal(z.shape) * self.sigma_z2 * np.where(valid, z, 0.0) ** 2

        filled = np.where(valid, z, 0.0).astype(np.float32)
        kernel = np.ones((3, 3), np.uint8)
        jump = cv2.dilate(filled, kernel) - cv2.erode(filled, kernel)
        edges = (jump > self.edge_jump_m).astype(np.uint8)
        if self.edge_band_px > 0:
            edges = cv2.dilate(edges, np.ones((2 * self.edge_band_px + 1,) * 2, np.uint8))
        drop = (edges > 0) & (rng.random(z.shape) < self.edge_drop_prob)

        lum = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        p_dark = self.dark_drop_prob * np.clip(1.0 - lum / self.dark_level, 0.0, 1.0)
        drop |= rng.random(z.shape) < p_dark
        drop |= rng.random(z.shape) < self.speckle_prob
        lo, hi = self.range_m
        drop |= ~((out >= lo) & (out <= hi))
        out[drop | ~valid] = np.nan
        return out.astype(np.float32)


def to_driver_units(depth_m: np.ndarray, depth_scale: float) -> np.ndarray:
    """Metres (NaN = no return) -> uint16 in ``depth_scale`` units, 0 = no return, rounded."""
    z = np.asarray(depth_m, dtype=np.float64)
    units = np.where(np.isfinite(z), np.round(z / depth_scale), 0.0)
    if np.any(units > np.iinfo(np.uint16).max):
        units = np.where(units > np.iinfo(np.uint16).max, 0.0, units)
    return np.clip(units, 0, np.iinfo(np.uint16).max).astype(np.uint16)

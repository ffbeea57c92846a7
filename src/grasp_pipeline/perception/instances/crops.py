"""The one input transform of the crop classifier: a region of an RGB-D frame -> network input.

A crop is a square window around the region's box (``margin`` times its longer side, at least
``min_side_m`` at the region's depth), resized to ``size`` x ``size``: channels R, G, B (0..1),
height above the support plane (``/ height_scale_m``, 0 where unknown) and the region's mask.
Resizing removes the distance to the camera, so the absolute size goes in as scalar features:
the region's 3-D extent, its height above the plane, its surface area and the window's side, in
units of ``size_scale_m`` / ``height_scale_m`` / ``area_scale_m2``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.perception.instances.geometry import Region

CHANNELS = 5
FEATURES = 4
# 8-bit colour -> 0..1, as float32 (a table: the same values as dividing by 255.0)
_UNIT = (np.arange(256) / 255.0).astype(np.float32)


@dataclass(frozen=True)
class CropSpec:
    """How crops are cut (see the module docstring); stored in the classifier's checkpoint."""

    size: int = 64
    margin: float = 1.3
    min_side_m: float = 0.06
    height_scale_m: float = 0.1
    size_scale_m: float = 0.2
    area_scale_m2: float = 0.01

    def __post_init__(self) -> None:
        if self.size < 16 or self.margin < 1.0 or self.min_side_m <= 0:
            raise ValueError(f"bad crop spec {self}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CropSpec:
        return cls(**d)


def crop_window(region: Region, camera: CameraIntrinsics, spec: CropSpec) -> tuple[int, int, int]:
    """(u0, v0, side) of the square window of ``region`` in image pixels (may leave the image)."""
    u0, v0, u1, v1 = region.bbox
    z = float(region.centroid[2]) if np.isfinite(region.centroid[2]) else 0.5
    side = max(spec.margin * max(u1 - u0, v1 - v0), spec.min_side_m * camera.fx / max(z, 0.05))
    side = int(np.ceil(side))
    cu, cv_ = (u0 + u1) / 2.0, (v0 + v1) / 2.0
    return round(cu - side / 2), round(cv_ - side / 2), side


def _cut(img: np.ndarray, u0: int, v0: int, side: int) -> np.ndarray:
    """img[v0:v0+side, u0:u0+side] with zero padding where the window leaves the image."""
    H, W = img.shape[:2]
    out = np.zeros((side, side, *img.shape[2:]), img.dtype)
    su0, sv0 = max(u0, 0), max(v0, 0)
    su1, sv1 = min(u0 + side, W), min(v0 + side, H)
    if su1 > su0 and sv1 > sv0:
        out[sv0 - v0 : sv1 - v0, su0 - u0 : su1 - u0] = img[sv0:sv1, su0:su1]
    return out


def region_crop(
    rgb: np.ndarray,
    height_m: np.ndarray,
    region: Region,
    camera: CameraIntrinsics,
    spec: CropSpec,
) -> tuple[np.ndarray, np.ndarray]:
    """(CHANNELS, size, size) float32 image and (FEATURES,) float32 scalars for ``region``.

    ``rgb``: (H, W, 3) uint8; ``height_m``: (H, W) height above the support plane, metres (NaN =
    unknown), both at the camera's resolution; ``region.mask`` likewise.
    """
    import cv2

    u0, v0, side = crop_window(region, camera, spec)
    s = spec.size
    colour = cv2.resize(_cut(rgb, u0, v0, side), (s, s), interpolation=cv2.INTER_AREA)
    # nearest-neighbour resizes copy values: unknown heights become 0 after the resize, and the
    # mask is cut before it is converted (the same values as before the resize, on fewer pixels)
    height = np.nan_to_num(
        cv2.resize(
            _cut(height_m.astype(np.float32, copy=False), u0, v0, side),
            (s, s),
            interpolation=cv2.INTER_NEAREST,
        ),
        nan=0.0,
    )
    mask = cv2.resize(
        _cut(region.mask, u0, v0, side).astype(np.uint8), (s, s), interpolation=cv2.INTER_NEAREST
    )
    x = np.empty((CHANNELS, s, s), np.float32)
    x[:3] = _UNIT[colour.transpose(2, 0, 1)]
    x[3] = np.clip(height / spec.height_scale_m, -1.0, 3.0)
    x[4] = mask
    z = float(region.centroid[2]) if np.isfinite(region.centroid[2]) else 0.5
    feats = np.array(
        [
            region.extent_m / spec.size_scale_m,
            region.height_m / spec.height_scale_m,
            region.area_m2 / spec.area_scale_m2,
            side * z / camera.fx / spec.size_scale_m,
        ],
        np.float32,
    )
    return x, feats


def crop_labels(
    labels: np.ndarray, region: Region, camera: CameraIntrinsics, spec: CropSpec
) -> np.ndarray:
    """(size, size) int32 values of the integer image ``labels`` (H, W; e.g. instance ids) in
    ``region``'s crop window, resized as :func:`region_crop` resizes the mask (nearest
    neighbour; 0 where the window leaves the image)."""
    import cv2

    u0, v0, side = crop_window(region, camera, spec)
    cut = _cut(np.asarray(labels).astype(np.int32, copy=False), u0, v0, side)
    # nearest-neighbour resize of float32 copies integer values exactly below 2^24
    return cv2.resize(
        cut.astype(np.float32), (spec.size, spec.size), interpolation=cv2.INTER_NEAREST
    ).astype(np.int32)

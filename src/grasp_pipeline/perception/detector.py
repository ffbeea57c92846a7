"""The one interface both detectors implement, and the result they return.

Frames: every pose and point in a :class:`Detection` is in the camera optical frame
(x right, y down, z forward), metres. Pixels are (u, v) at the resolution of the input image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics


@dataclass
class Detection:
    """One detected object instance.

    ``pose`` is a 4x4 homogeneous transform object -> camera optical frame. For the segmentation
    detector its translation is the 3-D pickup point and its rotation is built from the grasp axis
    (x along the object's dominant axis in the image plane, z along the camera's optical axis);
    ``pose_is_full_6d`` tells consumers whether the rotation is a real object orientation.
    ``grasp_axis`` is a unit 3-vector in the camera frame along which the gripper should *close*
    (perpendicular to the object's dominant axis), or None when unknown.
    """

    label: str
    score: float
    pixel: tuple[float, float]
    point: np.ndarray  # (3,) metres, camera optical frame
    pose: np.ndarray  # (4, 4) object -> camera optical frame
    grasp_axis: np.ndarray | None = None  # (3,) unit vector, camera optical frame
    pose_is_full_6d: bool = False
    extras: dict = field(default_factory=dict)


@runtime_checkable
class Detector(Protocol):
    """``detect`` never raises on bad frames: it raises ``ValueError`` naming the problem for
    malformed input (shape, dtype, unknown label) and returns ``[]`` when nothing is found."""

    labels: Sequence[str]

    def detect(
        self,
        rgb: np.ndarray,  # (H, W, 3) uint8, RGB order
        depth: np.ndarray,  # (H, W) uint16 in camera.depth_scale units, 0 = no depth
        camera: CameraIntrinsics,
        targets: Sequence[str] | None = None,  # labels to report; None = all
    ) -> list[Detection]: ...


def check_frame(rgb: np.ndarray, depth: np.ndarray, camera: CameraIntrinsics) -> None:
    """ValueError naming the problem unless ``rgb`` is (H, W, 3) uint8, ``depth`` (H, W) and
    ``camera`` describes an image of that size (every detector's first step)."""
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be an (H, W, 3) array, got {getattr(rgb, 'shape', rgb)}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be uint8, got {rgb.dtype}")
    if not isinstance(depth, np.ndarray) or depth.shape != rgb.shape[:2]:
        raise ValueError(
            f"depth must be (H, W) = {rgb.shape[:2]} like rgb, got {getattr(depth, 'shape', depth)}"
        )
    if (camera.width, camera.height) != (rgb.shape[1], rgb.shape[0]):
        raise ValueError(
            f"camera is {camera.width}x{camera.height} but the image is "
            f"{rgb.shape[1]}x{rgb.shape[0]}"
        )


def check_targets(targets: Sequence[str] | None, labels: Sequence[str]) -> None:
    """ValueError naming the target labels a detector with ``labels`` does not know."""
    unknown = [t for t in targets or () if t not in labels]
    if unknown:
        raise ValueError(f"unknown target label(s) {unknown}; known: {list(labels)}")


def depth_in_metres(depth: np.ndarray, camera: CameraIntrinsics) -> np.ndarray:
    """(H, W) float32 metres from driver units (``camera.depth_scale``); NaN where missing (0,
    negative, NaN or inf)."""
    depth_m = depth.astype(np.float32) * np.float32(camera.depth_scale)
    depth_m[~np.isfinite(depth_m) | (depth_m <= 0)] = np.nan
    return depth_m


def planar_grasp_detection(
    label: str,
    score: float,
    pixel: tuple[float, float],
    point: np.ndarray,
    R: np.ndarray,
    extras: dict,
) -> Detection:
    """A detection with a pickup point and a grasp frame but no object orientation (the
    segmentation and parts detectors): ``R`` (3, 3) from :func:`~grasp_pipeline.perception.
    planar_axis.grasp_frame`, whose y axis is the closing direction; ``extras`` gains
    ``yaw_rad``, the closing direction's angle in the image plane."""
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = R, point
    return Detection(
        label=label,
        score=float(score),
        pixel=(float(pixel[0]), float(pixel[1])),
        point=np.asarray(point, float),
        pose=pose,
        grasp_axis=R[:, 1].copy(),
        pose_is_full_6d=False,
        extras={**extras, "yaw_rad": float(np.arctan2(R[1, 1], R[0, 1]))},
    )

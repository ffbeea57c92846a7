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

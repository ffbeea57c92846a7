"""Kinematic robot models: forward kinematics and inverse kinematics of the tool centre point.

Every model works in its own base frame (metres, radians) and returns an :class:`IKResult` that
either holds joint angles reaching the target or says why none were found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from grasp_pipeline.geometry import se3
from grasp_pipeline.grasping.gripper import GripperSpec


@dataclass
class IKResult:
    """Outcome of an IK query. ``q`` is None when ``ok`` is False; errors are TCP errors."""

    ok: bool
    q: np.ndarray | None
    reason: str
    position_error_m: float = float("nan")
    rotation_error_rad: float = float("nan")


class RobotModel(Protocol):
    """What the grasp planner and motion backends need from a robot."""

    name: str
    joint_names: list[str]
    lower: np.ndarray  # (n,) rad
    upper: np.ndarray  # (n,) rad
    home: np.ndarray  # (n,) rad, a safe observation pose
    gripper: GripperSpec
    # the base link's axis-aligned bounds (lo, hi) in the base frame (m): the robot itself
    base_box: tuple[tuple[float, float, float], tuple[float, float, float]]

    def fk(self, q: np.ndarray) -> np.ndarray:
        """(4, 4) TCP pose in the robot base frame."""
        ...

    def ik(
        self, target: np.ndarray, q_seed: np.ndarray | None = None, local: bool = False
    ) -> IKResult:
        """Joint angles putting the TCP at ``target`` (4x4, base frame) within 1 mm / ~0.5 deg.
        ``local``: only a solution reached from ``q_seed`` (the next point of a straight path)."""
        ...


def check_pose(target: np.ndarray, what: str = "target") -> np.ndarray:
    """``target`` as a float (4, 4) rigid transform; ValueError naming ``what`` otherwise."""
    return se3.check_pose(target, what, atol=1e-5)


pose_error = se3.pose_error  # (position error m, rotation error rad) between two 4x4 poses


# Points within this distance (m) of a robot's base link are the robot itself.
SELF_MARGIN_M = 0.02


def on_base(model: RobotModel, point_base: np.ndarray) -> bool:
    """Whether ``point_base`` (3,) (base frame, m) lies on ``model``'s base link: inside its
    ``base_box`` grown by SELF_MARGIN_M (the robot seen by its own camera, as robot self filters
    drop it from point clouds). False for a non-finite point."""
    p = np.asarray(point_base, dtype=float)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        return False
    lo, hi = (np.asarray(b, dtype=float) for b in model.base_box)
    return bool(np.all(p >= lo - SELF_MARGIN_M) and np.all(p <= hi + SELF_MARGIN_M))

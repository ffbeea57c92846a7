"""Kinematic robot models: forward kinematics and inverse kinematics of the tool centre point.

Every model works in its own base frame (metres, radians) and returns an :class:`IKResult` that
either holds joint angles reaching the target or says why none were found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

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

    def fk(self, q: np.ndarray) -> np.ndarray:
        """(4, 4) TCP pose in the robot base frame."""
        ...

    def ik(self, target: np.ndarray, q_seed: np.ndarray | None = None) -> IKResult:
        """Joint angles putting the TCP at ``target`` (4x4, base frame) within 1 mm / ~0.5 deg."""
        ...


def rotation_angle(R: np.ndarray) -> float:
    """Angle (rad) of a rotation matrix; robust near 0 and pi."""
    c = (np.trace(R) - 1.0) / 2.0
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


def pose_error(T_a: np.ndarray, T_b: np.ndarray) -> tuple[float, float]:
    """(position error m, rotation error rad) between two 4x4 poses."""
    dp = float(np.linalg.norm(T_a[:3, 3] - T_b[:3, 3]))
    return dp, rotation_angle(T_a[:3, :3].T @ T_b[:3, :3])


def check_pose(target: np.ndarray, what: str = "target") -> np.ndarray:
    """``target`` as a float (4, 4) rigid transform; ValueError naming the problem otherwise."""
    T = np.asarray(target, dtype=float)
    if T.shape != (4, 4):
        raise ValueError(f"{what} must be a 4x4 pose, got shape {T.shape}")
    if not np.all(np.isfinite(T)):
        raise ValueError(f"{what} contains NaN/inf")
    R = T[:3, :3]
    if np.abs(R.T @ R - np.eye(3)).max() > 1e-4 or np.linalg.det(R) < 0.0:
        raise ValueError(f"{what} rotation is not orthonormal with det +1")
    return T

"""The interface every motion backend implements, and what it returns.

A backend plans a whole pick (all waypoints) before anything moves, so that a grasp whose IK fails
or that collides is refused with its reason and the robot stays where it is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from grasp_pipeline.grasping.robots import RobotModel
from grasp_pipeline.grasping.waypoints import Waypoint


@dataclass
class Segment:
    """A piece of trajectory: joint path (N, n) rad, then the gripper opening (m) to command at
    its end (0 = close with force, None = keep)."""

    name: str
    q_path: np.ndarray
    gripper: float | None = None
    native: object = None  # the backend's own trajectory object (e.g. a MoveIt RobotTrajectory)


@dataclass
class Trajectory:
    ok: bool
    reason: str
    segments: list[Segment] = field(default_factory=list)
    start_q: np.ndarray | None = None


@dataclass
class ExecResult:
    """``backed_off``: the motion failed before the fingers closed and the arm went back along
    the path it had driven to where that segment began (a known collision-free pose), so another
    grasp may be planned from there."""

    ok: bool
    reason: str
    backed_off: bool = False


class MotionBackend(ABC):
    """Plans and executes picks for one robot."""

    name: str = "base"
    model: RobotModel  # kinematics of the robot this backend moves

    @abstractmethod
    def current_joints(self) -> np.ndarray:
        """Current arm joint angles (n,) rad."""

    @abstractmethod
    def plan(self, waypoints: list[Waypoint], target_point: np.ndarray | None = None) -> Trajectory:
        """A trajectory through every waypoint (TCP poses, robot base frame), or a refusal with its
        reason. ``target_point`` (base frame, m) marks the object the fingers may touch."""

    @abstractmethod
    def execute(self, trajectory: Trajectory) -> ExecResult:
        """Run a planned trajectory; refuses (nothing moves) when it is not ok or stale."""

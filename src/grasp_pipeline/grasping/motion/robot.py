"""What a motion backend needs from a robot: read its joints and fingers, drive a joint path,
command the gripper. Two implementations: the simulator's arm in this process
(:class:`grasp_pipeline.sim.robot_base.SimArm`, for the core's own pick loop) and a robot behind
ROS actions (:class:`grasp_pipeline.ros.robot_client.RobotClient`: FollowJointTrajectory +
GripperCommand + ``/joint_states``, the same for a real arm, ros2_control, Gazebo or the simulator
node).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

#: one trajectory point per this many 1/240 s physics steps of the simulated controller, i.e. the
#: time (s) between points of a path handed to :meth:`RobotDriver.follow` is steps * STEP_S
STEP_S = 1.0 / 240.0


class RobotDriver(Protocol):
    """A robot arm with a parallel gripper. Angles in rad, openings finger-to-finger in m."""

    def joints(self) -> np.ndarray:
        """Current arm joint angles (n,) rad, in the model's joint order."""
        ...

    def opening(self) -> float:
        """Current finger-to-finger opening (m)."""
        ...

    def follow(self, path: np.ndarray, steps_per_point: int = 2) -> float:
        """Drive through joint ``path`` ((N, n) rad), one point per ``steps_per_point`` *
        ``STEP_S`` seconds, let it settle; returns the final joint error (max abs, rad): large
        when the arm was stopped on its way."""
        ...

    def set_gripper(self, opening: float) -> float:
        """Open to ``opening`` (m) or, for 0, close with the grasp force; returns the measured
        opening once the fingers stopped (what a real gripper reports)."""
        ...

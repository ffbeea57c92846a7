"""The KUKA youBot arm (URDF written in grasping/robots) in a PyBullet world, stock or wide gripper."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from grasp_pipeline.grasping.robots.youbot import YouBotModel, gripper_spec, youbot_urdf_path
from grasp_pipeline.sim.robot_base import SimArm


class SimYouBot(SimArm):
    """youBot arm with its base frame ``arm_link_0`` at ``base_pose_world`` (4x4 -> world)."""

    def __init__(
        self,
        client: int,
        base_pose_world: np.ndarray,
        gripper: str = "wide",
        step: Callable[[], None] | None = None,
        dt: float = 1.0 / 240.0,
    ) -> None:
        super().__init__(
            client,
            str(youbot_urdf_path(gripper)),
            base_pose_world,
            YouBotModel(gripper_spec(gripper)),
            ("gripper_finger_joint_l", "gripper_finger_joint_r"),
            finger_force_n=25.0,
            step=step,
            dt=dt,
        )

"""The Franka Panda (pybullet_data URDF) in a PyBullet world, with the Franka Hand."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from grasp_pipeline.grasping.robots.panda import PandaModel, panda_urdf_path
from grasp_pipeline.sim.robot_base import SimArm


class SimPanda(SimArm):
    """Panda at ``base_pose_world`` (4x4, ``panda_link0`` -> world); grasp force 30 N (FACTS: 20-40 N
    holds every catalog part with the friction/gear recipe)."""

    def __init__(
        self,
        client: int,
        base_pose_world: np.ndarray,
        model: PandaModel | None = None,
        step: Callable[[], None] | None = None,
        dt: float = 1.0 / 240.0,
    ) -> None:
        super().__init__(
            client,
            str(panda_urdf_path()),
            base_pose_world,
            model or PandaModel(),
            ("panda_finger_joint1", "panda_finger_joint2"),
            finger_force_n=30.0,
            step=step,
            dt=dt,
        )

"""A robot arm with a parallel-jaw gripper inside a PyBullet client: joint control, gripper
control with the finger recipe that holds small parts (FACTS.md), and contact queries.

Frames: ``base_pose_world`` (4x4) maps the robot base frame into the world; joint angles in rad,
finger openings in metres (finger-to-finger).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from grasp_pipeline.grasping.robots import RobotModel


def _pq(T: np.ndarray) -> tuple[list[float], list[float]]:
    from scipy.spatial.transform import Rotation

    return T[:3, 3].tolist(), Rotation.from_matrix(T[:3, :3]).as_quat().tolist()


class SimArm:
    """One arm loaded from ``urdf`` at ``base_pose_world`` in PyBullet ``client``.

    ``step`` advances the whole world by one physics step (default ``p.stepSimulation``);
    ``dt`` is that step's duration (s).
    """

    def __init__(
        self,
        client: int,
        urdf: str,
        base_pose_world: np.ndarray,
        model: RobotModel,
        finger_joints: tuple[str, str],
        finger_force_n: float = 30.0,
        step: Callable[[], None] | None = None,
        dt: float = 1.0 / 240.0,
    ) -> None:
        import pybullet as p

        self.p = p
        self.client = client
        self.model = model
        self.base_pose_world = np.asarray(base_pose_world, dtype=float).copy()
        pos, quat = _pq(self.base_pose_world)
        self.body = p.loadURDF(
            urdf,
            pos,
            quat,
            useFixedBase=True,
            flags=p.URDF_USE_SELF_COLLISION_EXCLUDE_ALL_PARENTS,
            physicsClientId=client,
        )
        names = {
            p.getJointInfo(self.body, j, physicsClientId=client)[1].decode(): j
            for j in range(p.getNumJoints(self.body, physicsClientId=client))
        }
        missing = [n for n in (*model.joint_names, *finger_joints) if n not in names]
        if missing:
            raise ValueError(f"{urdf}: joints {missing} not found")
        self.arm_idx = [names[n] for n in model.joint_names]
        self.finger_idx = [names[n] for n in finger_joints]
        self.finger_max = float(
            p.getJointInfo(self.body, self.finger_idx[0], physicsClientId=client)[9]
        )
        self.finger_force_n = finger_force_n
        self.efforts = [
            float(p.getJointInfo(self.body, j, physicsClientId=client)[10]) for j in self.arm_idx
        ]
        self.dt = dt
        self._step = step or (lambda: p.stepSimulation(physicsClientId=client))
        for f in self.finger_idx:
            p.changeDynamics(
                self.body,
                f,
                lateralFriction=1.0,
                spinningFriction=0.1,
                frictionAnchor=True,
                physicsClientId=client,
            )
        # Both fingers move together, as the real hands' mechanics make them.
        gear = p.createConstraint(
            self.body,
            self.finger_idx[0],
            self.body,
            self.finger_idx[1],
            p.JOINT_GEAR,
            [1, 0, 0],
            [0, 0, 0],
            [0, 0, 0],
            physicsClientId=client,
        )
        p.changeConstraint(gear, gearRatio=-1, erp=0.1, maxForce=50, physicsClientId=client)
        p.setPhysicsEngineParameter(numSolverIterations=150, physicsClientId=client)
        self._finger_target = self.finger_max
        self.reset(model.home, opening=2 * self.finger_max)

    # ------------------------------------------------------------------ state
    def joints(self) -> np.ndarray:
        """Arm joint angles (n,) rad."""
        states = self.p.getJointStates(self.body, self.arm_idx, physicsClientId=self.client)
        return np.array([s[0] for s in states])

    def opening(self) -> float:
        """Finger-to-finger opening (m)."""
        states = self.p.getJointStates(self.body, self.finger_idx, physicsClientId=self.client)
        return float(states[0][0] + states[1][0])

    def reset(self, q: np.ndarray, opening: float | None = None) -> None:
        """Teleport the arm (and fingers) to ``q`` and hold it there."""
        p = self.p
        for j, v in zip(self.arm_idx, q, strict=True):
            p.resetJointState(self.body, j, float(v), 0.0, physicsClientId=self.client)
        if opening is not None:
            half = float(np.clip(opening / 2, 0.0, self.finger_max))
            for f in self.finger_idx:
                p.resetJointState(self.body, f, half, 0.0, physicsClientId=self.client)
            self._finger_target = half
        self._command(np.asarray(q, dtype=float))
        self._command_fingers(self._finger_target, self.finger_force_n)

    def tcp_world(self, q: np.ndarray | None = None) -> np.ndarray:
        """TCP pose (4x4) in the world frame, from the kinematic model."""
        return self.base_pose_world @ self.model.fk(self.joints() if q is None else q)

    # ------------------------------------------------------------------ control
    def _command(self, q: np.ndarray) -> None:
        self.p.setJointMotorControlArray(
            self.body,
            self.arm_idx,
            self.p.POSITION_CONTROL,
            targetPositions=q.tolist(),
            forces=[max(e, 1.0) * 4.0 for e in self.efforts],
            positionGains=[0.3] * len(q),
            physicsClientId=self.client,
        )

    def _command_fingers(self, half: float, force: float) -> None:
        self.p.setJointMotorControlArray(
            self.body,
            self.finger_idx,
            self.p.POSITION_CONTROL,
            targetPositions=[half, half],
            forces=[force, force],
            physicsClientId=self.client,
        )

    def follow(self, path: np.ndarray, steps_per_point: int = 2, settle_s: float = 0.5) -> float:
        """Drive through joint ``path`` (N, n) under position control; returns the final joint
        error (max abs, rad) after settling up to ``settle_s``."""
        path = np.asarray(path, dtype=float)
        for q in path:
            self._command(q)
            for _ in range(steps_per_point):
                self._step()
        goal = path[-1]
        for _ in range(int(settle_s / self.dt)):
            if np.abs(self.joints() - goal).max() < 2e-3:
                break
            self._step()
        return float(np.abs(self.joints() - goal).max())

    def set_gripper(self, opening: float, seconds: float = 0.6) -> float:
        """Open to ``opening`` (m) or, for 0, close with ``finger_force_n``; returns the opening."""
        half = float(np.clip(opening / 2, 0.0, self.finger_max))
        self._finger_target = half
        self._command_fingers(
            half, self.finger_force_n if opening <= 0 else 4 * self.finger_force_n
        )
        for _ in range(int(seconds / self.dt)):
            self._step()
        return self.opening()

    def hold(self, seconds: float) -> None:
        for _ in range(int(seconds / self.dt)):
            self._step()

    def finger_contacts(self, body: int) -> tuple[bool, bool]:
        """Whether each finger touches ``body``."""
        return tuple(
            len(self.p.getContactPoints(self.body, body, f, -1, physicsClientId=self.client)) > 0
            for f in self.finger_idx
        )

"""Franka Emika Panda kinematics from pybullet_data's ``franka_panda/panda.urdf`` (pinocchio; a copy
ships in ``urdf/``).

Base frame: ``panda_link0``. TCP: 0.1034 m along the hand's z axis from the flange (``panda_link8``
/ ``panda_hand``, same origin), y along the finger motion. IK is damped least squares on the 7 arm
joints with the fingers locked (pinocchio measured < 0.001 mm residual, ~1 ms per solve here), with
a few random restarts inside the joint limits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grasp_pipeline.grasping.gripper import PANDA_HAND, GripperSpec
from grasp_pipeline.grasping.robots import IKResult, check_pose, pose_error

TCP_OFFSET_M = 0.1034
# A descent whose best error fell by less than STALL_FRACTION of itself over the last STALL_ITERS
# iterations has stalled (2 of 2,135 converging descents on clutter plans would have been cut).
STALL_ITERS = 20
STALL_FRACTION = 0.01
ARM_JOINTS = [f"panda_joint{i}" for i in range(1, 8)]
FINGER_JOINTS = ["panda_finger_joint1", "panda_finger_joint2"]
# Observation / ready pose: elbow up, hand pointing down, fingers along the base y axis.
HOME = np.array([0.0, -0.35, 0.0, -2.2, 0.0, 1.85, np.pi / 4])


# The kinematic model reads this copy of pybullet_data's franka_panda/panda.urdf (byte-identical,
# Apache-2.0, panda.LICENSE.txt beside it; tests/test_real_robot_deps.py compares them), so the
# real-robot path (planner with MoveIt or the embedded planner) needs no PyBullet: PyBullet has no
# wheel for Python 3.12 (ROS 2 Jazzy). The simulator loads pybullet_data's file, meshes and all.
KINEMATICS_URDF = Path(__file__).resolve().parent / "urdf" / "panda.urdf"


def panda_urdf_path() -> Path:
    """Path of pybullet_data's Panda URDF (FileNotFoundError if pybullet_data is missing it)."""
    import pybullet_data

    path = Path(pybullet_data.getDataPath()) / "franka_panda" / "panda.urdf"
    if not path.exists():
        raise FileNotFoundError(f"Panda URDF not found: {path} (pip install pybullet)")
    return path


# panda_link0 (the base): axis-aligned bounds (m) in the base frame of its collision mesh
# (pybullet_data franka_panda/meshes/collision/link0.obj), for the planner's self filter
BASE_BOX = ((-0.155, -0.095, 0.0), (0.072, 0.095, 0.140))


class PandaModel:
    """Forward / inverse kinematics of the Panda's TCP in ``panda_link0``."""

    name = "franka"

    def __init__(self, gripper: GripperSpec = PANDA_HAND, seed: int = 0) -> None:
        import pinocchio as pin

        self._pin = pin
        full = pin.buildModelFromUrdf(str(KINEMATICS_URDF))
        lock = [full.getJointId(j) for j in FINGER_JOINTS]
        self.model = pin.buildReducedModel(full, lock, pin.neutral(full))
        self.data = self.model.createData()
        hand = self.model.getFrameId("panda_hand")
        tcp = pin.Frame(
            "tcp",
            self.model.frames[hand].parentJoint,
            hand,
            self.model.frames[hand].placement * pin.SE3(np.eye(3), np.array([0, 0, TCP_OFFSET_M])),
            pin.FrameType.OP_FRAME,
        )
        self.tcp_frame = self.model.addFrame(tcp)
        self.data = self.model.createData()
        self.joint_names = list(ARM_JOINTS)
        self.lower = np.array(self.model.lowerPositionLimit, dtype=float)
        self.upper = np.array(self.model.upperPositionLimit, dtype=float)
        self.home = HOME.copy()
        self.gripper = gripper
        self.base_box = BASE_BOX
        self._rng = np.random.default_rng(seed)

    def fk(self, q: np.ndarray) -> np.ndarray:
        """(4, 4) TCP pose in ``panda_link0`` for arm joints ``q`` (7,) rad."""
        q = self._check_q(q)
        self._pin.framesForwardKinematics(self.model, self.data, q)
        return np.array(self.data.oMf[self.tcp_frame].homogeneous)

    def ik(
        self,
        target: np.ndarray,
        q_seed: np.ndarray | None = None,
        pos_tol_m: float = 2e-4,
        rot_tol_rad: float = 2e-3,
        restarts: int = 12,
        local: bool = False,
    ) -> IKResult:
        """Joint angles (7,) putting the TCP at ``target`` (4x4 in ``panda_link0``).

        Tries the seed (default: home), then (unless ``local``) ``restarts`` random
        configurations inside the limits; returns the first solution, or ``ok=False`` with the
        best residual in the reason. ``local``: only the descent from the seed (the next point of
        a path, where a solution found from elsewhere would be a joint jump anyway).
        """
        T = check_pose(target)
        pin = self._pin
        goal = pin.SE3(T[:3, :3].copy(), T[:3, 3].copy())
        seed = self.home if q_seed is None else self._check_q(q_seed)
        reach = float(np.linalg.norm(T[:3, 3] - np.array([0.0, 0.0, 0.333])))
        if reach > 0.855 + TCP_OFFSET_M:
            return IKResult(False, None, f"target {reach:.3f} m from the shoulder is beyond reach")
        best: tuple[float, np.ndarray] | None = None
        n_random = 0 if local else restarts
        starts = [seed] + [self._rng.uniform(self.lower, self.upper) for _ in range(n_random)]
        for q0 in starts:
            q, ok, _ = self._dls(q0, goal, pos_tol_m, rot_tol_rad)
            dp, dr = pose_error(self.fk(q), T)
            if ok:
                return IKResult(True, q, "ok", dp, dr)
            score = dp + 0.1 * dr
            if best is None or score < best[0]:
                best = (score, q)
        assert best is not None
        dp, dr = pose_error(self.fk(best[1]), T)
        return IKResult(
            False,
            None,
            f"no IK solution within joint limits (best residual {dp * 1e3:.1f} mm, "
            f"{np.degrees(dr):.1f} deg)",
            dp,
            dr,
        )

    def _dls(
        self, q0, goal, pos_tol, rot_tol, iters: int = 300, damp: float = 1e-6
    ) -> tuple[np.ndarray, bool, int]:
        """One damped least-squares descent from ``q0``: (q, converged, iterations used)."""
        pin = self._pin
        q = np.clip(np.array(q0, dtype=float), self.lower, self.upper)
        best: list[float] = []  # best error so far, per iteration
        for i in range(iters):
            pin.framesForwardKinematics(self.model, self.data, q)
            cur = self.data.oMf[self.tcp_frame]
            err_se3 = cur.actInv(goal)
            err = pin.log(err_se3).vector  # (6,) local frame, [v, w]
            dp, dr = float(np.linalg.norm(err[:3])), float(np.linalg.norm(err[3:]))
            if dp < pos_tol and dr < rot_tol:
                return q, True, i
            best.append(min(dp + 0.1 * dr, best[-1]) if best else dp + 0.1 * dr)
            if i >= STALL_ITERS and best[i - STALL_ITERS] - best[i] < (
                STALL_FRACTION * best[i - STALL_ITERS]
            ):
                return q, False, i
            J = pin.computeFrameJacobian(self.model, self.data, q, self.tcp_frame, pin.LOCAL)
            J = pin.Jlog6(err_se3.inverse()) @ J
            dq = J.T @ np.linalg.solve(J @ J.T + damp * np.eye(6), err)
            step = min(1.0, 0.5 / max(1e-9, float(np.abs(dq).max())))  # at most 0.5 rad a step
            q = np.clip(q + step * dq, self.lower, self.upper)
        return q, False, iters

    def _check_q(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        if q.shape != (7,):
            raise ValueError(f"Panda joint vector must have shape (7,), got {q.shape}")
        return q

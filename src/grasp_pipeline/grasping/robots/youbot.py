"""KUKA youBot arm (5 DOF) and gripper: URDF written from the published kinematics, analytic IK.

Kinematics (youbot_description): joint origins (0.024, 0, 0.096) [base yaw], (0.033, 0, 0.019)
[shoulder pitch], (0, 0, 0.155) [elbow pitch], (0, 0, 0.135) [wrist pitch], (-0.002, 0, 0.130)
[wrist roll]; the TCP is 0.0875 m beyond the wrist-roll joint (the usual d5 = 0.2175 m from the
wrist-pitch axis). Joint angles use the "candle" convention: q = 0 is the arm pointing straight up,
facing the base's +x; the mechanical zero offsets of youbot_description (170, -65, 146, -102.5,
167.5 deg) are folded into the limits, which become about +-169, -65/+90, -151/+146, +-102.5,
+-167.5 deg. Pitch joints turn about the link's +y axis (positive leans forward).

Because the three pitch axes are parallel, the TCP approach direction must lie in the vertical
plane through the base-yaw axis and the target ("arm plane"); IK refuses anything else and the grasp
synthesis projects approaches into that plane first.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from grasp_pipeline.geometry.se3 import cross
from grasp_pipeline.grasping.gripper import YOUBOT_STOCK, YOUBOT_WIDE, GripperSpec
from grasp_pipeline.grasping.robots import IKResult, check_pose, pose_error

J1_XYZ = np.array([0.024, 0.0, 0.096])
J2_XYZ = np.array([0.033, 0.0, 0.019])
A2, A3 = 0.155, 0.135  # shoulder->elbow, elbow->wrist pitch (m)
J5_XYZ = np.array([-0.002, 0.0, 0.130])
TCP_D = 0.0875
# arm_link_0 (the base link, a 16 x 12 x 8 cm box on the platform): axis-aligned bounds (m) in
# the base frame; the URDF's collision box and the planner's self filter both use them
BASE_BOX = ((-0.08, -0.06, 0.0), (0.08, 0.06, 0.08))
LOWER = np.radians([-169.0, -65.0, -151.0, -102.5, -167.5])
UPPER = np.radians([169.0, 90.0, 146.0, 102.5, 167.5])
EFFORT = [9.5, 9.5, 6.0, 2.0, 1.0]  # N m
LINK_MASS = [0.845, 2.412, 1.155, 0.934, 0.877, 0.251]  # arm_link_0..5, kg
JOINT_NAMES = [f"arm_joint_{i}" for i in range(1, 6)]
# Ready pose: arm bent down and turned 80 deg to the side, out of the cell camera's view of the
# work surface in front (facing forward it hangs between that camera and the objects).
HOME = np.array([1.4, 0.35, 1.2, 1.2, 0.0])
PALM_LEN = 0.0525  # link-5 origin to the finger roots (m)
FINGER_LEN = 0.040
URDF_DIR = Path(__file__).resolve().parent / "urdf"


def _rz(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _ry(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _wrap(a: float) -> float:
    return float((a + np.pi) % (2.0 * np.pi) - np.pi)


def _pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T


class YouBotModel:
    """Forward / analytic inverse kinematics of the youBot TCP in ``arm_link_0`` (metres, rad)."""

    name = "youbot"

    def __init__(self, gripper: GripperSpec = YOUBOT_WIDE) -> None:
        self.gripper = gripper
        self.base_box = BASE_BOX
        self.joint_names = list(JOINT_NAMES)
        self.lower = LOWER.copy()
        self.upper = UPPER.copy()
        self.home = HOME.copy()

    def fk(self, q: np.ndarray) -> np.ndarray:
        """(4, 4) TCP pose in ``arm_link_0`` for joints ``q`` (5,) rad."""
        q = self._check_q(q)
        T = _pose(_rz(q[0]), J1_XYZ)
        T = T @ _pose(_ry(q[1]), J2_XYZ)
        T = T @ _pose(_ry(q[2]), np.array([0.0, 0.0, A2]))
        T = T @ _pose(_ry(q[3]), np.array([0.0, 0.0, A3]))
        T = T @ _pose(_rz(q[4]), J5_XYZ)
        return T @ _pose(np.eye(3), np.array([0.0, 0.0, TCP_D]))

    def arm_plane_normal(self, point: np.ndarray) -> np.ndarray:
        """Unit normal (base frame) of the arm plane that contains ``point`` (3,)."""
        d = np.asarray(point, dtype=float)[:2] - J1_XYZ[:2]
        yaw = np.arctan2(d[1], d[0])
        return np.array([-np.sin(yaw), np.cos(yaw), 0.0])

    def all_ik(self, target: np.ndarray, plane_tol: float = 1e-3) -> tuple[list[np.ndarray], str]:
        """Every IK solution inside the limits (up to 4: arm front/back x elbow up/down).

        Returns (solutions, reason); reason says why the list is empty.
        """
        T = check_pose(target)
        p, c, a = T[:3, 3], T[:3, 1], T[:3, 2]
        rel = p[:2] - J1_XYZ[:2]
        if np.linalg.norm(rel) < 1e-6:  # on the yaw axis: the approach picks the plane
            yaw0 = float(np.arctan2(a[1], a[0])) if np.linalg.norm(a[:2]) > 1e-6 else 0.0
        else:
            yaw0 = float(np.arctan2(rel[1], rel[0]))
        sols: list[np.ndarray] = []
        reasons: list[str] = []
        for q1 in (_wrap(yaw0), _wrap(yaw0 + np.pi)):
            u = np.array([np.cos(q1), np.sin(q1), 0.0])
            n = np.array([-np.sin(q1), np.cos(q1), 0.0])
            if abs(float(a @ n)) > plane_tol:
                reasons.append(
                    f"approach direction is {np.degrees(np.arcsin(min(1.0, abs(a @ n)))):.1f} deg "
                    "out of the arm plane (5-DOF arm)"
                )
                continue
            if not LOWER[0] <= q1 <= UPPER[0]:
                reasons.append(f"base yaw {np.degrees(q1):.1f} deg outside the joint-1 limits")
                continue
            phi = float(np.arctan2(a @ u, a[2]))  # approach angle from vertical in the arm plane
            # TCP in plane coordinates (r along u from the yaw axis, z up).
            pr, pz = float((p - J1_XYZ * np.array([1, 1, 0])) @ u), float(p[2])
            lx, lz = J5_XYZ[0], J5_XYZ[2] + TCP_D
            wr = pr - (lx * np.cos(phi) + lz * np.sin(phi))
            wz = pz - (-lx * np.sin(phi) + lz * np.cos(phi))
            sr, sz = J2_XYZ[0], J1_XYZ[2] + J2_XYZ[2]
            dr, dz = wr - sr, wz - sz
            D2 = dr * dr + dz * dz
            c3 = (D2 - A2 * A2 - A3 * A3) / (2.0 * A2 * A3)
            if abs(c3) > 1.0:
                reasons.append(
                    f"wrist {np.sqrt(D2):.3f} m from the shoulder is out of reach "
                    f"({abs(A2 - A3):.3f}-{A2 + A3:.3f} m)"
                )
                continue
            for q3 in (np.arccos(c3), -np.arccos(c3)):
                q2 = np.arctan2(dr, dz) - np.arctan2(A3 * np.sin(q3), A2 + A3 * np.cos(q3))
                q2 = _wrap(q2)
                q4 = _wrap(phi - q2 - q3)
                R45 = _rz(q1) @ _ry(phi)
                yl = R45.T @ c
                q5 = float(np.arctan2(-yl[0], yl[1]))
                q = np.array([q1, q2, float(q3), q4, q5])
                bad = [
                    f"{JOINT_NAMES[i]}={np.degrees(q[i]):.1f} deg"
                    for i in range(5)
                    if not LOWER[i] - 1e-9 <= q[i] <= UPPER[i] + 1e-9
                ]
                if bad:
                    reasons.append("joint limits: " + ", ".join(bad))
                    continue
                sols.append(q)
        return sols, "ok" if sols else "; ".join(dict.fromkeys(reasons))

    def ik(
        self, target: np.ndarray, q_seed: np.ndarray | None = None, local: bool = False
    ) -> IKResult:
        """Closed-form IK; the solution nearest ``q_seed`` (default home), or the reason for none
        (``local`` changes nothing: every branch is solved at once)."""
        T = check_pose(target)
        sols, reason = self.all_ik(T)
        if not sols:
            return IKResult(False, None, f"youBot IK: {reason}")
        seed = self.home if q_seed is None else self._check_q(q_seed)
        q = min(sols, key=lambda s: float(np.sum((s - seed) ** 2)))
        dp, dr = pose_error(self.fk(q), T)
        return IKResult(True, q, "ok", dp, dr)

    def project_to_arm_plane(self, target: np.ndarray) -> np.ndarray:
        """``target`` with its approach axis rotated (minimally) into the arm plane through its
        position; the closing axis is re-orthogonalised. Raises ValueError when the approach is
        (nearly) the plane normal, where no nearby in-plane approach exists."""
        T = check_pose(target).copy()
        n = self.arm_plane_normal(T[:3, 3])
        a = T[:3, 2] - (T[:3, 2] @ n) * n
        norm = math.sqrt(float(a @ a))
        if norm < 0.2:
            raise ValueError("approach direction is almost normal to the youBot arm plane")
        a /= norm
        c = T[:3, 1] - (T[:3, 1] @ a) * a
        if c @ c < 1e-12:
            c = cross(a, n)
        c /= math.sqrt(float(c @ c))
        T[:3, 0], T[:3, 1], T[:3, 2] = cross(c, a), c, a
        return T

    def _check_q(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        if q.shape != (5,):
            raise ValueError(f"youBot joint vector must have shape (5,), got {q.shape}")
        return q


def youbot_urdf_path(gripper: str = "wide") -> Path:
    """The committed youBot URDF with the ``stock`` or ``wide`` gripper."""
    if gripper not in ("stock", "wide"):
        raise ValueError(f"youBot gripper must be 'stock' or 'wide', got {gripper!r}")
    return URDF_DIR / ("youbot.urdf" if gripper == "stock" else "youbot_wide_gripper.urdf")


def gripper_spec(gripper: str = "wide") -> GripperSpec:
    if gripper not in ("stock", "wide"):
        raise ValueError(f"youBot gripper must be 'stock' or 'wide', got {gripper!r}")
    return YOUBOT_STOCK if gripper == "stock" else YOUBOT_WIDE

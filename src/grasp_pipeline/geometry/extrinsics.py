"""Camera mounting extrinsics: poses from config dictionaries / YAML, look-at camera poses and
hand-eye calibration (AX = XB).

A pose dictionary is either
``{translation: [x, y, z], rotation_xyzw: [qx, qy, qz, qw]}`` (metres, ROS quaternion order) or
``{xyz: [x, y, z], rpy: [roll, pitch, yaw]}`` (metres, radians, URDF fixed-axis convention),
and may name its frames with ``parent`` / ``child``; the 4x4 maps child-frame points into the
parent frame (e.g. parent ``panda_hand``, child ``camera_color_optical_frame`` for eye-in-hand).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from grasp_pipeline.geometry.quaternion import matrix_from_quat, quat_from_matrix
from grasp_pipeline.geometry.se3 import check_pose, inverse, make_pose, matrix_from_rpy, so3_log

# Rotation of the optical frame (x right, y down, z forward) in the ROS camera body frame
# (x forward, y left, z up): the fixed joint realsense2_description writes as rpy (-pi/2, 0, -pi/2).
R_LINK_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _triple(d: Mapping[str, Any], key: str, n: int, where: str) -> np.ndarray:
    v = d[key]
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{where}: field {key!r} must be a list of {n} numbers, got {v!r}"
        ) from None
    if a.shape != (n,) or not np.all(np.isfinite(a)):
        raise ValueError(f"{where}: field {key!r} must be a list of {n} finite numbers, got {v!r}")
    return a


def pose_from_dict(d: Mapping[str, Any], where: str = "extrinsics") -> np.ndarray:
    """4x4 child->parent pose from a pose dictionary (see module docstring).

    ``where`` names the source in error messages (file and key). Raises ValueError for a missing
    or malformed field, both or neither of the two forms, or a zero quaternion.
    """
    if not isinstance(d, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(d).__name__}")
    quat_form = "translation" in d or "rotation_xyzw" in d
    rpy_form = "xyz" in d or "rpy" in d
    if quat_form and rpy_form:
        raise ValueError(f"{where}: give either translation/rotation_xyzw or xyz/rpy, not both")
    if quat_form:
        for key in ("translation", "rotation_xyzw"):
            if key not in d:
                raise ValueError(f"{where}: missing field {key!r}")
        t = _triple(d, "translation", 3, where)
        q = _triple(d, "rotation_xyzw", 4, where)
        if np.linalg.norm(q) < 1e-9:
            raise ValueError(f"{where}: field 'rotation_xyzw' is a zero quaternion")
        return make_pose(matrix_from_quat(q), t)
    if rpy_form:
        t = _triple(d, "xyz", 3, where) if "xyz" in d else np.zeros(3)
        rpy = _triple(d, "rpy", 3, where) if "rpy" in d else np.zeros(3)
        return make_pose(matrix_from_rpy(*rpy), t)
    raise ValueError(
        f"{where}: expected fields translation + rotation_xyzw, or xyz + rpy; got {sorted(d)}"
    )


def pose_to_dict(T: np.ndarray) -> dict[str, list[float]]:
    """Pose dictionary ``{translation, rotation_xyzw}`` of a 4x4 pose (YAML/JSON friendly)."""
    T = check_pose(T, "T")
    return {
        "translation": [float(x) for x in T[:3, 3]],
        "rotation_xyzw": [float(x) for x in quat_from_matrix(T[:3, :3])],
    }


def load_extrinsics(path: str | Path, key: str | None = None) -> np.ndarray:
    """4x4 pose stored in a YAML file, at the top level or under ``key`` (dots for nesting,
    e.g. ``"cameras.wrist"``). FileNotFoundError / ValueError name the file and key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"extrinsics file not found: {path}")
    try:
        node: Any = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    where = str(path)
    if key:
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ValueError(f"{path}: no key {key!r} (missing {part!r})")
            node = node[part]
        where = f"{path}:{key}"
    return pose_from_dict(node, where)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Optical-frame pose (optical -> world) of a camera at ``eye`` looking at ``target``.

    z (forward) points from eye to target, x (image right) = z x up, y (image down) = z x x, so
    ``up`` appears at the top of the image. World coordinates in metres. Raises ValueError if eye
    and target coincide or the view direction is parallel to ``up`` (pass another up vector,
    e.g. the world x axis for a camera looking straight down).
    """
    e = np.asarray(eye, dtype=np.float64)
    g = np.asarray(target, dtype=np.float64)
    u = np.asarray(up, dtype=np.float64)
    for name, v in (("eye", e), ("target", g), ("up", u)):
        if v.shape != (3,) or not np.all(np.isfinite(v)):
            raise ValueError(f"look_at: {name} must be a finite 3-vector, got {v.tolist()}")
    z = g - e
    if np.linalg.norm(z) < 1e-9:
        raise ValueError("look_at: eye and target coincide")
    z /= np.linalg.norm(z)
    x = np.cross(z, u)
    if np.linalg.norm(x) < 1e-6 * max(np.linalg.norm(u), 1e-12):
        raise ValueError("look_at: view direction is parallel to the up vector; choose another up")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return make_pose(np.column_stack([x, y, z]), e)


def optical_from_link(T_parent_link: np.ndarray) -> np.ndarray:
    """Pose of the optical frame given the pose of a ROS camera body frame (x forward, z up)."""
    T = check_pose(T_parent_link, "T_parent_link").copy()
    T[:3, :3] = T[:3, :3] @ R_LINK_OPTICAL
    return T


def solve_hand_eye(
    T_base_ee: list[np.ndarray] | np.ndarray,
    T_cam_target: list[np.ndarray] | np.ndarray,
    eye_in_hand: bool = True,
) -> np.ndarray:
    """Hand-eye calibration AX = XB by the Park-Martin least-squares method.

    Inputs are N >= 3 synchronised poses: the gripper in the robot base (forward kinematics)
    and a calibration target in the camera optical frame (e.g. a detected board), metres.
    Eye-in-hand returns ``T_ee_cam`` (optical frame -> gripper); eye-to-hand (camera fixed,
    target on the gripper) returns ``T_base_cam``. Every pair (i, j) gives A = E_j^-1 E_i and
    B = C_j C_i^-1 with A X = X B; the rotation solves the Wahba problem on the rotation vectors
    (log R_A = R_X log R_B), the translation the stacked (R_A - I) t_X = R_X t_B - t_A.
    Raises ValueError when the motions do not turn about at least two non-parallel axes.
    """
    E = [check_pose(T, f"T_base_ee[{i}]") for i, T in enumerate(T_base_ee)]
    C = [check_pose(T, f"T_cam_target[{i}]") for i, T in enumerate(T_cam_target)]
    if len(E) != len(C):
        raise ValueError(f"got {len(E)} gripper poses but {len(C)} target poses")
    if len(E) < 3:
        raise ValueError(f"hand-eye calibration needs at least 3 poses, got {len(E)}")
    if not eye_in_hand:
        E = [inverse(T) for T in E]
    alphas, betas, As, Bs = [], [], [], []
    for i in range(len(E)):
        for j in range(i + 1, len(E)):
            A = inverse(E[j]) @ E[i]
            B = C[j] @ inverse(C[i])
            alphas.append(so3_log(A[:3, :3]))
            betas.append(so3_log(B[:3, :3]))
            As.append(A)
            Bs.append(B)
    al, be = np.array(alphas), np.array(betas)
    sv = np.linalg.svd(al, compute_uv=False)
    if sv[1] < 1e-3 * max(sv[0], 1e-12):
        raise ValueError(
            "hand-eye motions rotate about a single axis (or not at all); "
            "the calibration is undetermined: add poses turning about other axes"
        )
    U, _, Vt = np.linalg.svd(be.T @ al)  # sum beta alpha^T
    d = 1.0 if np.linalg.det(Vt.T @ U.T) >= 0.0 else -1.0
    R = Vt.T @ np.diag([1.0, 1.0, d]) @ U.T
    lhs = np.concatenate([A[:3, :3] - np.eye(3) for A in As])
    rhs = np.concatenate([R @ B[:3, 3] - A[:3, 3] for A, B in zip(As, Bs, strict=True)])
    t, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
    return make_pose(R, t)

"""Rigid-body transforms: SO(3)/SE(3) exponential and logarithm, composition, points.

Conventions: a pose ``T`` is a 4x4 homogeneous matrix mapping points of a child frame into a
parent frame (``T_world_cam`` maps optical-frame points to world points); translations in metres.
Twists are ``xi = [rho, omega]`` (translation part first, then rotation vector in radians), so
``se3_exp(xi) = [[exp(omega^), V rho], [0, 1]]``. Angles of rotation vectors lie in [0, pi].
"""

from __future__ import annotations

import numpy as np

# Below this angle (rad) the closed forms lose precision to cancellation; use Taylor series.
_SMALL = 1e-4
# Above pi minus this margin (cos theta < -0.9, i.e. theta > ~2.69 rad) the axis is read from the
# symmetric part of R, because sin(theta) -> 0 makes the antisymmetric part useless.
_NEAR_PI_COS = -0.9


def _vec(x: np.ndarray, n: int, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _mat(x: np.ndarray, n: int, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.shape != (n, n):
        raise ValueError(f"{name} must have shape ({n}, {n}), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def hat(w: np.ndarray) -> np.ndarray:
    """3x3 skew-symmetric matrix with hat(w) @ v == cross(w, v)."""
    x, y, z = _vec(w, 3, "w")
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def vee(W: np.ndarray) -> np.ndarray:
    """Inverse of hat: the vector of a (nearly) skew-symmetric 3x3 matrix."""
    W = _mat(W, 3, "W")
    return 0.5 * np.array([W[2, 1] - W[1, 2], W[0, 2] - W[2, 0], W[1, 0] - W[0, 1]])


_EYE3 = np.eye(3)
_LAST_ROW = np.array([0.0, 0.0, 0.0, 1.0])


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The cross product of two 3-vectors (``np.cross``'s value, without its general-shape
    overhead: the grasp search calls it thousands of times a plan)."""
    a0, a1, a2 = a
    b0, b1, b2 = b
    return np.array([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dtype=np.float64)


def _det3(R: np.ndarray) -> float:
    return float(
        R[0, 0] * (R[1, 1] * R[2, 2] - R[1, 2] * R[2, 1])
        - R[0, 1] * (R[1, 0] * R[2, 2] - R[1, 2] * R[2, 0])
        + R[0, 2] * (R[1, 0] * R[2, 1] - R[1, 1] * R[2, 0])
    )


def is_rotation(R: np.ndarray, atol: float = 1e-6) -> bool:
    """True if R is a 3x3 orthonormal matrix with determinant +1 (within ``atol``; R^T R
    against the identity as ``np.allclose`` compares them)."""
    R = np.asarray(R, dtype=np.float64)
    if R.shape != (3, 3) or not np.isfinite(R).all():
        return False
    ortho = bool((np.abs(R.T @ R - _EYE3) <= atol + 1e-5 * _EYE3).all())
    return ortho and abs(_det3(R) - 1.0) <= atol


def is_pose(T: np.ndarray, atol: float = 1e-6) -> bool:
    """True if T is a 4x4 rigid transform (rotation block, bottom row [0, 0, 0, 1])."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.isfinite(T).all():
        return False
    return is_rotation(T[:3, :3], atol) and bool(
        (np.abs(T[3] - _LAST_ROW) <= atol + 1e-5 * _LAST_ROW).all()
    )


def check_pose(T: np.ndarray, name: str = "T", atol: float = 1e-6) -> np.ndarray:
    """``T`` as a float64 4x4 array; ValueError naming ``name`` if it is not a rigid transform."""
    a = np.asarray(T, dtype=np.float64)
    if a.shape != (4, 4):
        raise ValueError(f"{name} must be a 4x4 matrix, got shape {a.shape}")
    if not is_pose(a, atol):
        raise ValueError(
            f"{name} is not a rigid transform (rotation block not orthonormal, or bad last row)"
        )
    return a


def nearest_rotation(M: np.ndarray) -> np.ndarray:
    """The rotation closest to a 3x3 matrix in Frobenius norm (SVD projection onto SO(3))."""
    U, _, Vt = np.linalg.svd(_mat(M, 3, "M"))
    d = np.sign(np.linalg.det(U @ Vt)) or 1.0
    return U @ np.diag([1.0, 1.0, d]) @ Vt


def so3_exp(omega: np.ndarray) -> np.ndarray:
    """Rotation matrix of a rotation vector (axis * angle, radians), Rodrigues' formula."""
    w = _vec(omega, 3, "omega")
    theta2 = float(w @ w)
    theta = np.sqrt(theta2)
    if theta < _SMALL:
        a = 1.0 - theta2 / 6.0 + theta2**2 / 120.0  # sin(t)/t
        b = 0.5 - theta2 / 24.0 + theta2**2 / 720.0  # (1 - cos t)/t^2
    else:
        a = np.sin(theta) / theta
        b = (1.0 - np.cos(theta)) / theta2
    K = hat(w)
    return np.eye(3) + a * K + b * (K @ K)


def so3_log(R: np.ndarray) -> np.ndarray:
    """Rotation vector (radians, angle in [0, pi]) of a rotation matrix.

    Stable for all angles: the angle comes from atan2 of the antisymmetric and trace parts; near
    pi the axis is taken from the symmetric part. At exactly pi the sign of the axis is arbitrary
    (both vectors give the same rotation).
    """
    R = _mat(R, 3, "R")
    if not is_rotation(R, atol=1e-5):
        raise ValueError("R is not a rotation matrix (not orthonormal or det != +1)")
    s_vec = vee(R)  # sin(theta) * axis
    s = float(np.linalg.norm(s_vec))
    c = float(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0))
    theta = float(np.arctan2(s, c))
    if c > _NEAR_PI_COS:
        # theta / sin(theta), by its Taylor series where both vanish
        small = 1.0 + theta**2 / 6.0 + 7.0 * theta**4 / 360.0
        return (small if theta < _SMALL else theta / s) * s_vec
    # Symmetric part: (R + R^T)/2 = cos(t) I + (1 - cos t) n n^T.
    nnT = (0.5 * (R + R.T) - c * np.eye(3)) / (1.0 - c)
    k = int(np.argmax(np.diag(nnT)))
    n = nnT[k] / np.sqrt(max(nnT[k, k], 1e-300))
    n /= np.linalg.norm(n)
    if float(n @ s_vec) < 0.0:
        n = -n
    return theta * n


def _left_jacobian_coeffs(theta: float) -> tuple[float, float]:
    """(1 - cos t)/t^2 and (t - sin t)/t^3 with Taylor branches near zero."""
    if theta < _SMALL:
        t2 = theta * theta
        return 0.5 - t2 / 24.0 + t2 * t2 / 720.0, 1.0 / 6.0 - t2 / 120.0 + t2 * t2 / 5040.0
    return (1.0 - np.cos(theta)) / theta**2, (theta - np.sin(theta)) / theta**3


def se3_exp(xi: np.ndarray) -> np.ndarray:
    """4x4 pose of a twist ``xi = [rho (m), omega (rad)]``; t = V(omega) rho."""
    xi = _vec(xi, 6, "xi")
    rho, omega = xi[:3], xi[3:]
    theta = float(np.linalg.norm(omega))
    b, c = _left_jacobian_coeffs(theta)
    K = hat(omega)
    V = np.eye(3) + b * K + c * (K @ K)
    T = np.eye(4)
    T[:3, :3] = so3_exp(omega)
    T[:3, 3] = V @ rho
    return T


def se3_log(T: np.ndarray) -> np.ndarray:
    """Twist ``[rho (m), omega (rad)]`` of a 4x4 pose, the inverse of se3_exp (angle <= pi)."""
    T = check_pose(T, "T", atol=1e-5)
    omega = so3_log(T[:3, :3])
    theta = float(np.linalg.norm(omega))
    K = hat(omega)
    if theta < _SMALL:
        t2 = theta * theta
        d = 1.0 / 12.0 + t2 / 720.0 + t2 * t2 / 30240.0
    else:
        # V^-1 = I - K/2 + (1/t^2)(1 - (t sin t) / (2 (1 - cos t))) K^2
        d = (1.0 - theta * np.sin(theta) / (2.0 * (1.0 - np.cos(theta)))) / theta**2
    V_inv = np.eye(3) - 0.5 * K + d * (K @ K)
    return np.concatenate([V_inv @ T[:3, 3], omega])


def make_pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 pose from a rotation matrix and a translation (metres); ValueError if R is no rotation."""
    R = _mat(R, 3, "R")
    if not is_rotation(R):
        raise ValueError("R is not a rotation matrix (not orthonormal or det != +1)")
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = _vec(t, 3, "t")
    return T


def inverse(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform: [R^T, -R^T t]."""
    T = check_pose(T, "T")
    R, t = T[:3, :3], T[:3, 3]
    out = np.eye(4)
    out[:3, :3] = R.T
    out[:3, 3] = -R.T @ t
    return out


def compose(*Ts: np.ndarray) -> np.ndarray:
    """Product T1 @ T2 @ ... (``compose(T_a_b, T_b_c) = T_a_c``); identity for no arguments."""
    out = np.eye(4)
    for i, T in enumerate(Ts):
        out = out @ check_pose(T, f"transform #{i}")
    return out


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 pose to (..., 3) points (metres): p' = R p + t."""
    T = check_pose(T, "T")
    p = np.asarray(points, dtype=np.float64)
    if p.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., 3), got {p.shape}")
    return p @ T[:3, :3].T + T[:3, 3]


def rotation_angle(R: np.ndarray) -> float:
    """Angle (radians, 0..pi) of a rotation matrix."""
    return float(np.linalg.norm(so3_log(R)))


def pose_error(T_a: np.ndarray, T_b: np.ndarray) -> tuple[float, float]:
    """(translation distance in metres, rotation angle in radians) between two poses."""
    A, B = check_pose(T_a, "T_a"), check_pose(T_b, "T_b")
    dt = float(np.linalg.norm(A[:3, 3] - B[:3, 3]))
    return dt, rotation_angle(A[:3, :3].T @ B[:3, :3])


def matrix_from_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """URDF/ROS fixed-axis roll-pitch-yaw (radians): R = Rz(yaw) @ Ry(pitch) @ Rx(roll)."""
    cr, sr = np.cos(roll), np.sin(roll)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    Rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
    Ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    Rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    return Rz @ Ry @ Rx


def rpy_from_matrix(R: np.ndarray) -> tuple[float, float, float]:
    """Inverse of matrix_from_rpy with pitch in [-pi/2, pi/2]; at gimbal lock roll is set to 0."""
    R = _mat(R, 3, "R")
    pitch = float(np.arcsin(np.clip(-R[2, 0], -1.0, 1.0)))
    if abs(R[2, 0]) < 1.0 - 1e-9:
        roll = float(np.arctan2(R[2, 1], R[2, 2]))
        yaw = float(np.arctan2(R[1, 0], R[0, 0]))
    else:  # cos(pitch) = 0: only roll -/+ yaw is defined
        roll = 0.0
        yaw = float(np.arctan2(-R[0, 1], R[1, 1]))
    return roll, pitch, yaw

"""Unit quaternions in ROS order (x, y, z, w), Hamilton convention (as geometry_msgs and scipy).

A quaternion q and -q are the same rotation; functions returning quaternions pick w >= 0.
"""

from __future__ import annotations

import numpy as np

from grasp_pipeline.geometry.se3 import is_rotation


def _quat(q: np.ndarray, name: str = "q") -> np.ndarray:
    a = np.asarray(q, dtype=np.float64)
    if a.shape != (4,):
        raise ValueError(f"{name} must have shape (4,) in (x, y, z, w) order, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _canonical(q: np.ndarray) -> np.ndarray:
    return -q if q[3] < 0.0 else q


def quat_normalize(q: np.ndarray) -> np.ndarray:
    """q / |q|; ValueError for a (near-)zero quaternion, which is no rotation."""
    q = _quat(q)
    n = float(np.linalg.norm(q))
    if n < 1e-12:
        raise ValueError(f"cannot normalise a zero quaternion {q.tolist()}")
    return q / n


def quat_from_matrix(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w), w >= 0, of a 3x3 rotation matrix.

    Shepperd's method: divide by the largest of 4w^2, 4x^2, 4y^2, 4z^2 so no branch loses precision.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.shape != (3, 3):
        raise ValueError(f"R must have shape (3, 3), got {R.shape}")
    if not is_rotation(R, atol=1e-5):
        raise ValueError("R is not a rotation matrix (not orthonormal or det != +1)")
    tr = float(np.trace(R))
    cands = [tr, R[0, 0], R[1, 1], R[2, 2]]
    k = int(np.argmax(cands))
    if k == 0:
        s = 2.0 * np.sqrt(1.0 + tr)  # 4w
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s]
    elif k == 1:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])  # 4x
        q = [0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif k == 2:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])  # 4y
        q = [(R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])  # 4z
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s, (R[1, 0] - R[0, 1]) / s]
    return _canonical(quat_normalize(np.array(q)))


def matrix_from_quat(q: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix of a quaternion (x, y, z, w); normalised first, zero -> ValueError."""
    x, y, z, w = quat_normalize(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def quat_multiply(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Hamilton product q1 * q2 (rotate by q2 first, then q1), (x, y, z, w) order."""
    x1, y1, z1, w1 = _quat(q1, "q1")
    x2, y2, z2, w2 = _quat(q2, "q2")
    return np.array(
        [
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        ]
    )


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    """Conjugate (-x, -y, -z, w): the inverse rotation of a unit quaternion."""
    q = _quat(q)
    return np.array([-q[0], -q[1], -q[2], q[3]])


def quat_from_axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """Quaternion of a rotation by ``angle`` radians about ``axis`` (any non-zero length)."""
    a = np.asarray(axis, dtype=np.float64)
    if a.shape != (3,) or not np.all(np.isfinite(a)) or np.linalg.norm(a) < 1e-12:
        raise ValueError(f"axis must be a finite non-zero 3-vector, got {a.tolist()}")
    a = a / np.linalg.norm(a)
    h = 0.5 * float(angle)
    return _canonical(np.concatenate([np.sin(h) * a, [np.cos(h)]]))


def quat_angle(q1: np.ndarray, q2: np.ndarray) -> float:
    """Angle (radians, 0..pi) of the rotation taking q1 to q2."""
    d = abs(float(quat_normalize(q1) @ quat_normalize(q2)))
    return 2.0 * float(np.arccos(min(1.0, d)))


def quat_slerp(q0: np.ndarray, q1: np.ndarray, t: float) -> np.ndarray:
    """Spherical linear interpolation at fraction t in [0, 1] along the shorter arc."""
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"slerp fraction t must lie in [0, 1], got {t}")
    a, b = quat_normalize(q0), quat_normalize(q1)
    d = float(a @ b)
    if d < 0.0:  # the other hemisphere's copy of b is the shorter way round
        b, d = -b, -d
    if d > 1.0 - 1e-9:  # nearly equal: sin(omega) ~ 0, linear interpolation is exact enough
        return _canonical(quat_normalize((1.0 - t) * a + t * b))
    omega = np.arccos(d)
    s = np.sin(omega)
    out = (np.sin((1.0 - t) * omega) / s) * a + (np.sin(t * omega) / s) * b
    return _canonical(quat_normalize(out))

"""Quaternions (x, y, z, w) against scipy.spatial.transform.Rotation and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from grasp_pipeline.geometry.quaternion import (
    matrix_from_quat,
    quat_angle,
    quat_conjugate,
    quat_from_axis_angle,
    quat_from_matrix,
    quat_multiply,
    quat_normalize,
    quat_slerp,
)

S = np.sqrt(0.5)


def _same_quat(a: np.ndarray, b: np.ndarray, atol: float = 1e-12) -> bool:
    return np.allclose(a, b, atol=atol) or np.allclose(a, -b, atol=atol)


def test_hand_computed() -> None:
    # 90 deg about z: (0, 0, sin 45, cos 45).
    q = quat_from_axis_angle([0, 0, 2.0], np.pi / 2)
    np.testing.assert_allclose(q, [0, 0, S, S], atol=1e-15)
    np.testing.assert_allclose(matrix_from_quat(q), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-15)
    np.testing.assert_allclose(quat_from_matrix(np.eye(3)), [0, 0, 0, 1])
    # 180 deg about x hits Shepperd's x branch: (1, 0, 0, 0).
    np.testing.assert_allclose(quat_from_matrix(np.diag([1.0, -1.0, -1.0])), [1, 0, 0, 0])
    np.testing.assert_allclose(quat_from_matrix(np.diag([-1.0, 1.0, -1.0])), [0, 1, 0, 0])
    np.testing.assert_allclose(quat_from_matrix(np.diag([-1.0, -1.0, 1.0])), [0, 0, 1, 0])
    # Two 90 deg turns about z make 180 deg about z.
    np.testing.assert_allclose(quat_multiply([0, 0, S, S], [0, 0, S, S]), [0, 0, 1, 0], atol=1e-15)


def test_matrix_round_trip_against_scipy() -> None:
    rots = Rotation.random(200, random_state=3)
    for R, q_ref in zip(rots.as_matrix(), rots.as_quat(), strict=True):
        q = quat_from_matrix(R)
        assert q[3] >= 0.0
        assert _same_quat(q, q_ref, atol=1e-12)
        np.testing.assert_allclose(matrix_from_quat(q), R, atol=1e-12)
        np.testing.assert_allclose(matrix_from_quat(q_ref), R, atol=1e-12)


def test_near_pi_rotations_every_branch() -> None:
    for axis in [*np.eye(3).tolist(), [1, 1, 0], [0, 1, -1], [1, -2, 2]]:
        for angle in (np.pi, np.pi - 1e-7, np.pi - 1e-3):
            rot = Rotation.from_rotvec(np.asarray(axis, float) / np.linalg.norm(axis) * angle)
            assert _same_quat(quat_from_matrix(rot.as_matrix()), rot.as_quat(), atol=1e-9)


def test_multiply_matches_scipy_composition() -> None:
    a, b = Rotation.random(2, random_state=11)
    q = quat_multiply(a.as_quat(), b.as_quat())
    assert _same_quat(q, (a * b).as_quat())
    np.testing.assert_allclose(matrix_from_quat(q), a.as_matrix() @ b.as_matrix(), atol=1e-12)
    ident = quat_multiply(a.as_quat(), quat_conjugate(a.as_quat()))
    np.testing.assert_allclose(ident, [0, 0, 0, 1], atol=1e-12)


def test_normalise_angle_and_slerp() -> None:
    np.testing.assert_allclose(quat_normalize([0, 0, 0, 2.0]), [0, 0, 0, 1])
    # Unnormalised input to matrix_from_quat is normalised first.
    np.testing.assert_allclose(
        matrix_from_quat([0, 0, 3 * S, 3 * S]), matrix_from_quat([0, 0, S, S]), atol=1e-15
    )
    a, b = Rotation.random(2, random_state=5)
    assert quat_angle(a.as_quat(), b.as_quat()) == pytest.approx(
        (a.inv() * b).magnitude(), abs=1e-9
    )
    ref = Slerp([0.0, 1.0], Rotation.concatenate([a, b]))
    for t in (0.0, 0.25, 0.5, 0.9, 1.0):
        assert _same_quat(
            quat_slerp(a.as_quat(), b.as_quat(), t), ref([t]).as_quat()[0], atol=1e-10
        )
    # The shorter arc is taken even when the inputs are in opposite hemispheres.
    q0, q1 = np.array([0, 0, 0, 1.0]), -quat_from_axis_angle([0, 0, 1], 0.4)
    mid = quat_slerp(q0, q1, 0.5)
    np.testing.assert_allclose(mid, quat_from_axis_angle([0, 0, 1], 0.2), atol=1e-12)
    # Nearly equal inputs (sin(omega) ~ 0) must not produce NaN.
    assert np.all(np.isfinite(quat_slerp(q0, q0, 0.3)))


def test_errors() -> None:
    with pytest.raises(ValueError, match="zero quaternion"):
        matrix_from_quat([0, 0, 0, 0])
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        quat_normalize([0, 0, 1])
    with pytest.raises(ValueError, match="not a rotation"):
        quat_from_matrix(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="NaN"):
        quat_multiply([np.nan, 0, 0, 1], [0, 0, 0, 1])
    with pytest.raises(ValueError, match="non-zero"):
        quat_from_axis_angle([0, 0, 0], 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        quat_slerp([0, 0, 0, 1], [0, 0, 0, 1], 1.5)

"""SE(3)/SO(3) maps against scipy.spatial.transform.Rotation and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from grasp_pipeline.geometry.se3 import (
    check_pose,
    compose,
    hat,
    inverse,
    is_pose,
    is_rotation,
    make_pose,
    matrix_from_rpy,
    nearest_rotation,
    pose_error,
    rotation_angle,
    rpy_from_matrix,
    se3_exp,
    se3_log,
    so3_exp,
    so3_log,
    transform_points,
    vee,
)

RNG = np.random.default_rng(1234)


def _random_rotvecs(n: int, angle: float | None = None) -> np.ndarray:
    axes = RNG.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = RNG.uniform(0, np.pi, n) if angle is None else np.full(n, angle)
    return axes * angles[:, None]


def _same_rotation(a: np.ndarray, b: np.ndarray, atol: float = 1e-9) -> bool:
    return np.allclose(a, b, atol=atol)


def test_hat_vee() -> None:
    w, v = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.7, -1.1])
    np.testing.assert_allclose(hat(w) @ v, np.cross(w, v))
    np.testing.assert_allclose(vee(hat(w)), w)


@pytest.mark.parametrize(
    "angle", [None, 0.0, 1e-12, 1e-7, 9.9e-5, 1.01e-4, 1e-3, np.pi - 1e-6, np.pi]
)
def test_so3_exp_matches_scipy(angle) -> None:
    for w in _random_rotvecs(20, angle):
        np.testing.assert_allclose(so3_exp(w), Rotation.from_rotvec(w).as_matrix(), atol=1e-12)


@pytest.mark.parametrize(
    "angle", [None, 1e-10, 1e-6, 1e-3, 0.5, 2.6, 2.8, np.pi - 1e-4, np.pi - 1e-8]
)
def test_so3_log_matches_scipy(angle) -> None:
    for w in _random_rotvecs(20, angle):
        R = Rotation.from_rotvec(w).as_matrix()
        got = so3_log(R)
        ref = Rotation.from_matrix(R).as_rotvec()
        # Away from pi the rotation vector is unique; at pi - 1e-8 compare via the rotation, too.
        np.testing.assert_allclose(got, ref, atol=1e-6 if angle and angle > 3.14 else 1e-9)
        np.testing.assert_allclose(so3_exp(got), R, atol=1e-10)


def test_so3_log_at_exactly_pi() -> None:
    for axis in (np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([1.0, 2.0, -2.0]) / 3):
        R = so3_exp(np.pi * axis)
        w = so3_log(R)
        assert np.linalg.norm(w) == pytest.approx(np.pi, abs=1e-9)
        # Either sign of the axis is the same rotation.
        assert min(np.linalg.norm(w - np.pi * axis), np.linalg.norm(w + np.pi * axis)) < 1e-7
        np.testing.assert_allclose(so3_exp(w), R, atol=1e-10)


def test_taylor_branches_are_continuous() -> None:
    axis = np.array([0.2, -0.6, 0.77]) / np.linalg.norm([0.2, -0.6, 0.77])
    rho = np.array([0.3, -0.1, 0.2])
    lo = se3_exp(np.concatenate([rho, axis * (1e-4 - 1e-12)]))
    hi = se3_exp(np.concatenate([rho, axis * (1e-4 + 1e-12)]))
    np.testing.assert_allclose(lo, hi, atol=1e-12)
    # First order: exp(xi) ~ I + xi^ for tiny xi.
    xi = np.array([1e-6, -2e-6, 3e-6, 4e-7, -5e-7, 6e-7])
    T = se3_exp(xi)
    np.testing.assert_allclose(T[:3, :3], np.eye(3) + hat(xi[3:]), atol=1e-12)
    np.testing.assert_allclose(T[:3, 3], xi[:3], atol=1e-12)


def test_se3_exp_hand_computed() -> None:
    # Pure translation.
    np.testing.assert_allclose(se3_exp([1.0, 2.0, 3.0, 0, 0, 0])[:3, 3], [1.0, 2.0, 3.0])
    # Unit velocity along x while turning pi/2 about z traces a quarter circle of radius 2/pi:
    # t = V rho = (2/pi, 2/pi, 0).
    T = se3_exp([1.0, 0.0, 0.0, 0.0, 0.0, np.pi / 2])
    np.testing.assert_allclose(T[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-15)
    np.testing.assert_allclose(T[:3, 3], [2 / np.pi, 2 / np.pi, 0.0], atol=1e-15)
    np.testing.assert_allclose(se3_log(T), [1.0, 0.0, 0.0, 0.0, 0.0, np.pi / 2], atol=1e-14)


@pytest.mark.parametrize(
    "angle", [None, 0.0, 1e-9, 1e-5, 1e-3, 1.0, 3.0, np.pi - 1e-5, np.pi - 1e-9]
)
def test_se3_round_trips(angle) -> None:
    omegas = _random_rotvecs(25, angle)
    for omega in omegas:
        xi = np.concatenate([RNG.normal(scale=0.5, size=3), omega])
        T = se3_exp(xi)
        assert is_pose(T)
        np.testing.assert_allclose(se3_exp(se3_log(T)), T, atol=1e-9)
        if angle is None or angle < np.pi - 1e-6:
            np.testing.assert_allclose(se3_log(T), xi, atol=1e-8)


def test_se3_log_of_random_poses_against_scipy_rotation() -> None:
    for R in Rotation.random(30, random_state=7).as_matrix():
        T = make_pose(R, RNG.normal(size=3))
        xi = se3_log(T)
        np.testing.assert_allclose(xi[3:], Rotation.from_matrix(R).as_rotvec(), atol=1e-9)
        np.testing.assert_allclose(se3_exp(xi), T, atol=1e-10)


def test_inverse_compose_transform_points() -> None:
    A = make_pose(Rotation.from_rotvec([0.1, 0.2, 0.3]).as_matrix(), [1.0, 2.0, 3.0])
    B = make_pose(Rotation.from_rotvec([-0.4, 0.0, 1.0]).as_matrix(), [0.0, -1.0, 0.5])
    C = se3_exp([0.1, 0.1, 0.1, 0.5, -0.5, 0.2])
    np.testing.assert_allclose(compose(A, inverse(A)), np.eye(4), atol=1e-12)
    np.testing.assert_allclose(compose(A, B, C), A @ B @ C, atol=1e-12)
    np.testing.assert_allclose(compose(), np.eye(4))
    np.testing.assert_allclose(inverse(A), np.linalg.inv(A), atol=1e-12)
    pts = RNG.normal(size=(10, 3))
    homo = np.c_[pts, np.ones(10)] @ A.T
    np.testing.assert_allclose(transform_points(A, pts), homo[:, :3], atol=1e-12)
    # (..., 3) batches keep their shape.
    assert transform_points(A, pts.reshape(2, 5, 3)).shape == (2, 5, 3)
    # Hand case: 90 deg about z then shift x by 1: (1, 0, 0) -> (1, 1, 0).
    T = make_pose([[0, -1, 0], [1, 0, 0], [0, 0, 1]], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(transform_points(T, [[1.0, 0.0, 0.0]]), [[1.0, 1.0, 0.0]])


def test_rotation_checks_and_errors() -> None:
    assert is_rotation(np.eye(3))
    assert not is_rotation(np.diag([1.0, 1.0, -1.0]))  # reflection
    assert not is_rotation(2 * np.eye(3))
    assert not is_rotation(np.eye(4))
    with pytest.raises(ValueError, match="not a rotation"):
        make_pose(np.diag([1.0, 1.0, -1.0]), [0, 0, 0])
    with pytest.raises(ValueError, match=r"t must have shape \(3,\)"):
        make_pose(np.eye(3), [0, 0])
    with pytest.raises(ValueError, match=r"xi must have shape \(6,\)"):
        se3_exp(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        so3_exp([np.nan, 0, 0])
    bad = np.eye(4)
    bad[3, 0] = 1.0
    with pytest.raises(ValueError, match="pose_in is not a rigid transform"):
        check_pose(bad, "pose_in")
    with pytest.raises(ValueError, match="4x4"):
        inverse(np.eye(3))
    with pytest.raises(ValueError, match=r"points must have shape \(\.\.\., 3\)"):
        transform_points(np.eye(4), np.zeros((4, 2)))


def test_nearest_rotation_and_errors() -> None:
    R = Rotation.from_rotvec([0.3, -0.2, 0.9]).as_matrix()
    noisy = R + 1e-3 * RNG.normal(size=(3, 3))
    P = nearest_rotation(noisy)
    assert is_rotation(P, atol=1e-12)
    assert rotation_angle(P.T @ R) < 3e-3
    dt, ang = pose_error(
        make_pose(R, [0, 0, 0]), make_pose(R @ so3_exp([0, 0, 0.25]), [0.3, 0.4, 0])
    )
    assert dt == pytest.approx(0.5)
    assert ang == pytest.approx(0.25)


def test_rpy_matches_scipy_extrinsic_xyz() -> None:
    for rpy in RNG.uniform(
        [-np.pi, -np.pi / 2 + 0.01, -np.pi], [np.pi, np.pi / 2 - 0.01, np.pi], (30, 3)
    ):
        R = matrix_from_rpy(*rpy)
        np.testing.assert_allclose(R, Rotation.from_euler("xyz", rpy).as_matrix(), atol=1e-12)
        np.testing.assert_allclose(rpy_from_matrix(R), rpy, atol=1e-9)
    # Gimbal lock: only the rotation must survive the round trip.
    R = matrix_from_rpy(0.3, np.pi / 2, -0.4)
    np.testing.assert_allclose(matrix_from_rpy(*rpy_from_matrix(R)), R, atol=1e-9)
    R = matrix_from_rpy(0.3, -np.pi / 2, -0.4)
    np.testing.assert_allclose(matrix_from_rpy(*rpy_from_matrix(R)), R, atol=1e-9)


def test_fast_cross_and_rotation_checks_agree_with_numpy() -> None:
    """The grasp search's 3-vector cross product and pose checks (written out for speed) give
    numpy's values: ``np.cross``, and ``np.allclose`` of R^T R with the identity within atol."""
    from grasp_pipeline.geometry.se3 import cross, is_pose, is_rotation, so3_exp

    rng = np.random.default_rng(3)
    for _ in range(200):
        a, b = rng.normal(size=3), rng.normal(size=3)
        np.testing.assert_allclose(cross(a, b), np.cross(a, b), rtol=1e-12, atol=1e-15)
        R = so3_exp(rng.normal(size=3))
        for noise in (0.0, 3e-7, 3e-6):
            Rn = R + noise * rng.normal(size=(3, 3))
            want = (
                np.allclose(Rn.T @ Rn, np.eye(3), atol=1e-6) and abs(np.linalg.det(Rn) - 1) <= 1e-6
            )
            assert is_rotation(Rn) == want
            T = np.eye(4)
            T[:3, :3] = Rn
            assert is_pose(T) == want
    assert not is_rotation(-np.eye(3)) and not is_rotation(np.full((3, 3), np.nan))
    T = np.eye(4)
    T[3, 0] = 1e-3
    assert not is_pose(T)

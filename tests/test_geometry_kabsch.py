"""Weighted Kabsch: recovers known transforms, never returns a reflection, refuses degenerate sets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from grasp_pipeline.geometry.kabsch import alignment_rmse, kabsch
from grasp_pipeline.geometry.se3 import is_pose, make_pose, pose_error, se3_exp, transform_points


def _known_pose() -> np.ndarray:
    return se3_exp([0.12, -0.05, 0.6, 0.4, -1.1, 2.3])


def test_exact_recovery() -> None:
    rng = np.random.default_rng(0)
    T = _known_pose()
    src = rng.uniform(-0.05, 0.05, (40, 3))
    T_est = kabsch(src, transform_points(T, src))
    np.testing.assert_allclose(T_est, T, atol=1e-12)
    assert is_pose(T_est)


def test_three_points_hand_case() -> None:
    # Right triangle turned 90 deg about z and shifted by (1, 2, 3).
    src = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    dst = np.array([[1.0, 2.0, 3.0], [1.0, 3.0, 3.0], [-1.0, 2.0, 3.0]])
    T = kabsch(src, dst)
    np.testing.assert_allclose(T[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(T[:3, 3], [1.0, 2.0, 3.0], atol=1e-12)


def test_noisy_points() -> None:
    rng = np.random.default_rng(1)
    T = _known_pose()
    src = rng.uniform(-0.05, 0.05, (300, 3))  # an object-sized cloud, 10 cm across
    dst = transform_points(T, src) + rng.normal(scale=0.001, size=src.shape)  # 1 mm noise
    T_est = kabsch(src, dst)
    dt, dang = pose_error(T_est, T)
    assert dt < 1e-3
    assert np.degrees(dang) < 1.0
    # The residual is the noise level: sqrt(3) * 1 mm within sampling error.
    assert alignment_rmse(T_est, src, dst) == pytest.approx(np.sqrt(3) * 1e-3, rel=0.15)


def test_weights_match_scipy_and_ignore_outliers() -> None:
    rng = np.random.default_rng(2)
    T = _known_pose()
    src = rng.normal(scale=0.1, size=(50, 3))
    dst = transform_points(T, src) + rng.normal(scale=0.002, size=src.shape)
    w = rng.uniform(0.1, 2.0, 50)
    T_est = kabsch(src, dst, w)
    # Independent reference: scipy's weighted Wahba solution on the weighted-centred sets.
    c_s = np.average(src, axis=0, weights=w)
    c_d = np.average(dst, axis=0, weights=w)
    R_ref, _ = Rotation.align_vectors(dst - c_d, src - c_s, weights=w)
    np.testing.assert_allclose(T_est[:3, :3], R_ref.as_matrix(), atol=1e-9)
    np.testing.assert_allclose(T_est[:3, 3], c_d - R_ref.as_matrix() @ c_s, atol=1e-9)
    # Gross outliers with weight zero leave the estimate exact.
    dst_clean = transform_points(T, src)
    dst_bad = dst_clean.copy()
    dst_bad[:10] += 5.0
    w01 = np.ones(50)
    w01[:10] = 0.0
    np.testing.assert_allclose(kabsch(src, dst_bad, w01), T, atol=1e-12)
    assert pose_error(kabsch(src, dst_bad), T)[0] > 0.1  # and they do matter unweighted


def test_reflection_gives_best_proper_rotation() -> None:
    rng = np.random.default_rng(3)
    src = rng.normal(size=(30, 3)) * [0.1, 0.05, 0.02]
    mirror = np.diag([1.0, 1.0, -1.0])
    dst = src @ mirror.T  # a mirror image: no rotation maps src onto it exactly
    T = kabsch(src, dst)
    R = T[:3, :3]
    assert np.linalg.det(R) == pytest.approx(1.0)
    # Without the det correction the SVD solution would be the mirror itself.
    H = (src - src.mean(0)).T @ (dst - dst.mean(0))
    U, _, Vt = np.linalg.svd(H)
    assert np.linalg.det(Vt.T @ U.T) < 0
    R_ref, _ = Rotation.align_vectors(dst - dst.mean(0), src - src.mean(0))
    np.testing.assert_allclose(R, R_ref.as_matrix(), atol=1e-9)
    # Hand case: for +-a x, +-b y, +-c z with a > b > c mirrored in z, H = diag(2a^2, 2b^2, -2c^2);
    # the best proper rotation gives up the smallest term: identity (cost 4 * 2c^2).
    axes = np.array(
        [[0.1, 0, 0], [-0.1, 0, 0], [0, 0.05, 0], [0, -0.05, 0], [0, 0, 0.02], [0, 0, -0.02]]
    )
    T = kabsch(axes, axes @ mirror.T)
    np.testing.assert_allclose(T, np.eye(4), atol=1e-12)
    assert alignment_rmse(T, axes, axes @ mirror.T) == pytest.approx(np.sqrt(2 * 0.04**2 / 6))


def test_planar_points_are_fine() -> None:
    src = np.array([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0], [0.1, 0.1, 0]], dtype=float)
    T = make_pose(Rotation.from_rotvec([0.0, 0.7, 0.2]).as_matrix(), [0.0, 0.1, 0.5])
    np.testing.assert_allclose(kabsch(src, transform_points(T, src)), T, atol=1e-12)


@pytest.mark.parametrize(
    ("src", "pattern"),
    [
        (np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3.0]]), "collinear"),
        (np.array([[0, 0, 0], [1e-3, 0, 0], [2e-3, 1e-13, 0]]), "collinear"),
        (np.ones((5, 3)), "coincide"),
        (np.array([[0, 0, 0], [1, 0, 0.0]]), "at least 3 points"),
    ],
)
def test_degenerate_sets_raise(src: np.ndarray, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        kabsch(src, src + 1.0)


def test_bad_input_raises() -> None:
    pts = np.random.default_rng(4).normal(size=(6, 3))
    with pytest.raises(ValueError, match="NaN"):
        kabsch(np.vstack([pts, [np.nan, 0, 0]]), np.vstack([pts, [0, 0, 0]]))
    with pytest.raises(ValueError, match="same shape"):
        kabsch(pts, pts[:5])
    with pytest.raises(ValueError, match=r"src must have shape \(N, 3\)"):
        kabsch(pts[:, :2], pts[:, :2])
    with pytest.raises(ValueError, match="non-negative"):
        kabsch(pts, pts, -np.ones(6))
    with pytest.raises(ValueError, match=r"weights must have shape \(6,\)"):
        kabsch(pts, pts, np.ones(5))
    w = np.zeros(6)
    w[:2] = 1.0
    with pytest.raises(ValueError, match="at least 3 points with positive weight, got 2"):
        kabsch(pts, pts, w)

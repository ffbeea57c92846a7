"""The in-plane axis of an object seen from above and the planar grasp frame built on it; shared
by the detectors that report a pickup point and a yaw but no full 6D pose (segmentation, parts).
"""

from __future__ import annotations

import numpy as np


def weighted_pca_axis(us: np.ndarray, vs: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    """Dominant direction (unit (du, dv)) and sqrt eigenvalue ratio of weighted pixel coordinates."""
    w = w / w.sum()
    mu = np.array([np.sum(w * us), np.sum(w * vs)])
    d = np.stack([us - mu[0], vs - mu[1]])  # (2, N)
    cov = (d * w) @ d.T  # (2, 2)
    evals, evecs = np.linalg.eigh(cov)  # ascending
    axis = evecs[:, 1]
    if axis[0] < 0 or (axis[0] == 0 and axis[1] < 0):
        axis = -axis  # a fixed sign so the same blob always reports the same axis
    ratio = float(np.sqrt(evals[1] / evals[0])) if evals[0] > 1e-12 else float("inf")
    return axis, ratio


def grasp_frame(axis_uv: tuple[float, float], fx: float, fy: float) -> np.ndarray:
    """Rotation (3, 3) with x along the object's dominant axis in the image plane, z along the
    optical axis and y = z x x, the direction in which the gripper closes (camera optical frame).
    """
    d = np.array([axis_uv[0] / fx, axis_uv[1] / fy, 0.0])  # pixel direction -> metric direction
    n = np.linalg.norm(d)
    x = d / n if n > 0 else np.array([1.0, 0.0, 0.0])
    z = np.array([0.0, 0.0, 1.0])
    y = np.array([-x[1], x[0], 0.0])  # z cross x, written out (np.cross is slow for one pair)
    return np.stack([x, y, z], axis=1)
